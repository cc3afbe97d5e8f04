"""The batch planner: offsets, folding order, dead letters, counts."""

from typing import Any
from zoneinfo import ZoneInfo

from tests.events import event
from vanphong.core.batch import Accepted, Coordinates, Item, plan_batch, refs_needed
from vanphong.core.rejection import Reason, Rejection
from vanphong.core.semantics import EntityRef
from vanphong.schemas.catalog import BY_TYPE, EventType

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DOCS = "vanphong.document-issued.v1"
MERGES = "vanphong.office-merged.v1"


def item(topic: str, partition: int, offset: int, event_type: str, **fields: Any) -> Item:
    return Item(
        Coordinates(topic, partition, offset),
        None,
        b"",
        Accepted(BY_TYPE[event_type], event(event_type, **fields)),
    )


def rejected(topic: str, partition: int, offset: int) -> Item:
    return Item(
        Coordinates(topic, partition, offset),
        b"k",
        b"\x00",
        Rejection(Reason.UNDECODABLE, "garbage"),
    )


def test_offsets_below_the_stored_ones_are_skipped_and_counted_as_skipped() -> None:
    items = [item(DOCS, 0, o, "document.issued", document_id=f"d{o}") for o in range(5)]
    plan = plan_batch(items, {(DOCS, 0): 3}, {}, ZONE)
    assert plan.skipped == 3 and plan.applied[DOCS] == 2
    assert plan.next_offsets == {(DOCS, 0): 5}


def test_an_offset_delivered_twice_in_one_batch_is_applied_once() -> None:
    """After a rebalance Kafka restarts from the committed offset, which may be behind what the
    batch already holds: the repeated offsets are skipped, another partition's are not."""
    first = [item(DOCS, 0, o, "document.issued", document_id=f"d{o}") for o in range(3, 6)]
    again = [item(DOCS, 0, o, "document.issued", document_id=f"d{o}") for o in range(3, 8)]
    other = [item(MERGES, 0, 0, "office.merged")]
    plan = plan_batch(first + again + other, {(DOCS, 0): 3}, {}, ZONE)
    assert plan.applied[DOCS] == 5  # 3, 4, 5, then 6 and 7 of the second delivery
    assert plan.skipped == 3 and plan.redelivered == {DOCS: 3}
    assert plan.next_offsets == {(DOCS, 0): 8, (MERGES, 0): 1}


def test_the_same_batch_twice_is_applied_once() -> None:
    items = [item(DOCS, 1, o, "document.issued", document_id=f"d{o}") for o in range(4)]
    first = plan_batch(items, {}, {}, ZONE)
    second = plan_batch(items, first.next_offsets, first.entities, ZONE)
    assert second.skipped == 4 and not second.deltas and not second.changed


def test_counts_add_up_to_what_was_consumed() -> None:
    items = [
        item(DOCS, 0, 0, "document.issued"),
        item(DOCS, 0, 1, "document.issued"),  # duplicate
        rejected(DOCS, 0, 2),
        item(DOCS, 0, 3, "document.issued", document_id="d2"),
    ]
    plan = plan_batch(items, {}, {}, ZONE)
    assert (plan.applied[DOCS], plan.unchanged[DOCS], plan.rejected[DOCS]) == (2, 1, 1)
    assert [i.at.offset for i, _ in plan.dead_letters] == [2]


def test_mergers_are_checked_in_arrival_order_within_a_batch() -> None:
    items = [
        item(
            MERGES, 0, 0, "office.merged", merge_id="g1", absorbed_unit_ids=["a"], into_unit_id="b"
        ),
        item(
            MERGES, 0, 1, "office.merged", merge_id="g2", absorbed_unit_ids=["b"], into_unit_id="a"
        ),
        item(
            MERGES,
            0,
            2,
            "office.merged",
            merge_id="g1",
            revision=2,
            voided=True,
            absorbed_unit_ids=["a"],
            into_unit_id="b",
        ),
        item(
            MERGES, 0, 3, "office.merged", merge_id="g3", absorbed_unit_ids=["b"], into_unit_id="a"
        ),
    ]
    plan = plan_batch(items, {}, {}, ZONE)
    assert [(i.at.offset, r.reason) for i, r in plan.dead_letters] == [(1, Reason.MERGE_CYCLE)]
    assert plan.applied[MERGES] == 3


def test_a_stale_merger_revision_is_unchanged_not_rejected() -> None:
    first = item(
        MERGES,
        0,
        0,
        "office.merged",
        merge_id="g1",
        revision=2,
        absorbed_unit_ids=["a"],
        into_unit_id="b",
    )
    other = item(
        MERGES, 0, 1, "office.merged", merge_id="g2", absorbed_unit_ids=["c"], into_unit_id="a"
    )
    stale = item(
        MERGES, 0, 2, "office.merged", merge_id="g1", absorbed_unit_ids=["c"], into_unit_id="b"
    )
    plan = plan_batch([first, other, stale], {}, {}, ZONE)
    assert plan.unchanged[MERGES] == 1 and not plan.dead_letters


def test_the_lookup_asks_for_each_entity_once_and_for_both_halves_of_a_task() -> None:
    """refs_needed takes each item's ref as decoded (Accepted.ref): a document's own, and for
    either half of a task both halves, since a completion counts against its assignment."""
    items = [
        item(DOCS, 0, 0, "document.issued", document_id="d1"),
        item(DOCS, 0, 1, "document.issued", document_id="d1", revision=2),
        item("vanphong.task-completed.v1", 0, 0, "task.completed", task_id="t1"),
        rejected(DOCS, 0, 2),
    ]
    assert refs_needed(items) == {
        EntityRef(EventType.DOCUMENT_ISSUED, "d1"),
        EntityRef(EventType.TASK_ASSIGNED, "t1"),
        EntityRef(EventType.TASK_COMPLETED, "t1"),
    }
    accepted = items[0].outcome
    assert isinstance(accepted, Accepted) and accepted.key == "d1"
