"""vanphong/core/positions.py and the position marks of a batch (vanphong/core/batch.py): recreated
topics, messages lost to retention, added partitions, a consumer ahead of PostgreSQL, and
offsets without a record. Pure: no broker, no database."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.test_batch import DOCS, item
from vanphong.core.batch import Item, passed, plan_batch, resumed, settle
from vanphong.core.positions import (
    MESSAGES_LOST,
    PARTITIONS_ADDED,
    TOPIC_RECREATED,
    Seen,
    Stored,
    applied_offset,
    pending,
    recreated,
    resume,
)

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
OLD, NEW = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"


def seen(start: int = 0, end: int = 100, topic_id: str | None = OLD, **more: int) -> Seen:
    return Seen(log_start=start, log_end=end, topic_id=topic_id, **more)


# --- the rules ----------------------------------------------------------------------------------


def test_resuming_where_the_stored_offset_is_changes_nothing_but_learns_the_topic_id() -> None:
    r = resume(DOCS, 0, Stored(40), 40, seen())
    assert r.stored == Stored(40, OLD) and r.anomalies == () and r.rewind is None
    r = resume(DOCS, 0, Stored(40, OLD), 12, seen())  # redelivery after a rebalance
    assert r.stored == Stored(40, OLD) and r.anomalies == () and r.rewind is None


def test_a_new_topic_id_resets_the_row_and_is_reported_with_its_numbers() -> None:
    r = resume(DOCS, 3, Stored(500, OLD), 0, seen(0, 40, NEW))
    assert r.stored == Stored(0, NEW) and r.rewind is None
    [a] = r.anomalies
    assert (a.kind, a.partition, a.stored_offset, a.resumed_at) == (TOPIC_RECREATED, 3, 500, 0)
    assert (a.old_topic_id, a.new_topic_id, a.log_start, a.log_end) == (OLD, NEW, 0, 40)
    assert "deleted and created again" in a.describe()


def test_an_end_offset_below_the_stored_one_is_a_recreated_topic_without_ids() -> None:
    assert recreated(Stored(500), seen(0, 40, None))
    assert recreated(Stored(500), seen(0, 40, OLD))  # no stored id: the offsets tell
    assert not recreated(Stored(40), seen(0, 40, None))
    assert not recreated(Stored(40, OLD), seen(0, 40, OLD))


def test_a_recreated_topic_resumed_past_its_start_is_read_again_from_the_start() -> None:
    """The consumer kept an old position that is valid in the new topic: nothing below it may
    be skipped, so it goes back (a rewind), and what it read meanwhile does not count."""
    r = resume(DOCS, 0, Stored(30, OLD), 10, seen(0, 40, NEW))
    assert r.stored == Stored(0, NEW, rewind_to=0) and r.rewind == 0
    assert [a.kind for a in r.anomalies] == [TOPIC_RECREATED]


def test_messages_below_the_log_start_are_lost_and_counted_once() -> None:
    r = resume(DOCS, 0, Stored(30, OLD), 50, seen(50, 80))
    assert r.stored == Stored(50, OLD) and r.rewind is None
    [a] = r.anomalies
    assert (a.kind, a.stored_offset, a.lost, a.log_start, a.log_end) == (
        MESSAGES_LOST,
        30,
        20,
        50,
        80,
    )
    again = resume(DOCS, 0, r.stored, 50, seen(50, 80))
    assert again.anomalies == ()


def test_a_consumer_ahead_of_postgresql_goes_back_and_the_rewind_holds_until_it_has() -> None:
    r = resume(DOCS, 0, Stored(30, OLD), 45, seen(0, 80))
    assert r.stored == Stored(30, OLD, rewind_to=30) and r.rewind == 30 and r.anomalies == ()
    still = resume(DOCS, 0, r.stored, 45, seen(0, 80))  # resumed ahead again: ask again
    assert still.stored == r.stored and still.rewind == 30
    back = resume(DOCS, 0, r.stored, 30, seen(0, 80))
    assert back.stored == Stored(30, OLD) and back.rewind is None


def test_a_jump_partly_below_the_log_start_counts_the_loss_and_rewinds_for_the_rest() -> None:
    r = resume(DOCS, 0, Stored(30, OLD), 70, seen(50, 80))
    assert [(a.kind, a.lost) for a in r.anomalies] == [(MESSAGES_LOST, 20)]
    assert r.stored == Stored(50, OLD, rewind_to=50) and r.rewind == 50


def test_without_the_log_start_a_jump_counts_as_lost_rather_than_looping() -> None:
    r = resume(DOCS, 0, Stored(30, OLD), 45, Seen())
    assert [(a.kind, a.lost) for a in r.anomalies] == [(MESSAGES_LOST, 15)]
    assert r.stored == Stored(45, OLD) and r.rewind is None


def test_a_partition_beyond_the_contract_is_reported() -> None:
    r = resume(DOCS, 7, Stored(), 0, seen(0, 10, partitions=8, contract_partitions=6))
    assert [(a.kind, a.partitions, a.contract_partitions) for a in r.anomalies] == [
        (PARTITIONS_ADDED, 8, 6)
    ]
    assert resume(DOCS, 5, Stored(), 0, seen(contract_partitions=6)).anomalies == ()


def test_status_sees_what_no_worker_handled_yet_and_counts_nothing_applied_of_a_new_topic() -> None:
    assert applied_offset(Stored(500, OLD), seen(0, 40, NEW)) == 0
    assert applied_offset(Stored(30, OLD), seen(0, 40, OLD)) == 30
    assert applied_offset(None, seen()) == 0
    assert [a.kind for a in pending(DOCS, 0, Stored(500, OLD), seen(0, 40, NEW))] == [
        TOPIC_RECREATED
    ]
    assert [(a.kind, a.lost) for a in pending(DOCS, 0, Stored(30, OLD), seen(50, 80))] == [
        (MESSAGES_LOST, 20)
    ]
    assert pending(DOCS, 0, Stored(30, OLD), seen(0, 80)) == []
    assert pending(DOCS, 7, None, seen(contract_partitions=6, partitions=8)) == []


@given(
    stored=st.integers(0, 1000),
    start=st.integers(0, 1000),
    extra=st.integers(0, 1000),
    at_extra=st.integers(0, 1000),
)
def test_resuming_never_skips_a_message_still_in_the_log(
    stored: int, start: int, extra: int, at_extra: int
) -> None:
    """Whatever the jump: the row ends at or below where the consumer resumed, never below the
    stored offset unless the topic changed, and any message between the row and the resume
    point that is still in the log is read again (a rewind to the row)."""
    end = start + extra
    at = min(start + at_extra, end)
    r = resume(DOCS, 0, Stored(stored, OLD), at, seen(start, end))
    assert r.stored.next_offset >= stored or recreated(Stored(stored, OLD), seen(start, end))
    if at > r.stored.next_offset:
        assert r.rewind == r.stored.next_offset == r.stored.rewind_to
        assert r.stored.next_offset >= start
    lost = sum(a.lost for a in r.anomalies)
    assert lost == max(0, min(at, start) - stored) or recreated(
        Stored(stored, OLD), seen(start, end)
    )


# --- marks in a batch -------------------------------------------------------------------------


def doc(offset: int, partition: int = 0) -> Item:
    return item(DOCS, partition, offset, "document.issued", document_id=f"d{partition}-{offset}")


def test_a_passed_mark_moves_the_stored_offset_past_markers_and_is_not_a_message() -> None:
    """Records at 0–2, a commit marker at 3, aborted records 4–6 and their marker at 7: the
    consumer stands at 8, and so does the stored offset."""
    items = [doc(0), doc(1), doc(2), passed(DOCS, 0, 8)]
    plan = plan_batch(items, {}, {}, ZONE)
    assert plan.next_offsets == {(DOCS, 0): 8}
    assert plan.applied[DOCS] == 3 and plan.skipped == 1 and not plan.redelivered
    assert plan.marks[DOCS] == 1
    again = plan_batch([passed(DOCS, 0, 5)], {(DOCS, 0): 8}, {}, ZONE)  # behind: no move
    assert again.next_offsets == {} and again.positions == {}


def test_a_recreated_topic_is_applied_from_offset_zero_in_the_batch_that_finds_it() -> None:
    stored = {(DOCS, 0): Stored(500, OLD)}
    items = [resumed(DOCS, 0, 0, seen(0, 3, NEW)), doc(0), doc(1), doc(2)]
    plan = plan_batch(items, stored, {}, ZONE)
    assert plan.applied[DOCS] == 3
    assert plan.positions == {(DOCS, 0): Stored(3, NEW)}
    assert [a.kind for a in plan.anomalies] == [TOPIC_RECREATED]


def test_records_under_a_pending_rewind_are_ignored_until_the_consumer_has_gone_back() -> None:
    stored = {(DOCS, 0): Stored(30, OLD)}
    ahead = [resumed(DOCS, 0, 45, seen(0, 80)), doc(45), doc(46), passed(DOCS, 0, 48)]
    first = plan_batch(ahead, stored, {}, ZONE)
    assert first.applied[DOCS] == 0 and first.rewinds == {(DOCS, 0): 30}
    assert first.positions == {(DOCS, 0): Stored(30, OLD, rewind_to=30)}
    assert first.redelivered[DOCS] == 2  # read again after the rewind
    back = [doc(47), resumed(DOCS, 0, 30, seen(0, 80)), *(doc(o) for o in range(30, 48))]
    second = plan_batch(back, first.positions, {}, ZONE)
    assert second.applied[DOCS] == 18 and second.rewinds == {}
    assert second.positions == {(DOCS, 0): Stored(48, OLD)}


def test_a_batch_without_marks_settles_as_before() -> None:
    items = [doc(o) for o in range(5)] + [doc(o, partition=1) for o in range(3)]
    fresh, settled = settle(items, {(DOCS, 0): 2})
    assert [i.at.offset for i in fresh] == [2, 3, 4, 0, 1, 2]
    assert settled.changed == {(DOCS, 0): Stored(5), (DOCS, 1): Stored(3)}
    assert settled.anomalies == [] and settled.rewinds == {} and not settled.marks
