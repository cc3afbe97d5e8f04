"""The per-batch fence (vanphong/core/batch.py, "The fence"; vanphong/core/positions.py,
``behind``): a database that went back in time is found at the next batch, or at the next
heartbeat of an idle partition, and what it lost is read again and applied once. Also the gaps
the transport marks (vanphong/core/gaps.py). Pure: no broker, no database."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_batch import DOCS, item, rejected
from vanphong.core.batch import Item, Plan, passed, plan_batch, resumed
from vanphong.core.gaps import gaps, interleave
from vanphong.core.positions import DATABASE_BEHIND, MESSAGES_LOST, Seen, Stored, resume
from vanphong.core.semantics import Entity, EntityRef

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
TP = (DOCS, 0)


def doc(offset: int) -> Item:
    return item(DOCS, 0, offset, "document.issued", document_id=f"d{offset}")


def test_a_batch_that_starts_past_the_stored_offset_rewinds_there_and_says_so() -> None:
    plan = plan_batch([doc(o) for o in range(70, 80)], {TP: Stored(40)}, {}, ZONE)
    assert plan.applied[DOCS] == 0 and plan.rewinds == {TP: 40}
    assert plan.positions == {TP: Stored(40, rewind_to=40)}
    assert plan.settled == {TP: 40}  # the Kafka commit says what PostgreSQL holds
    [a] = plan.anomalies
    assert (a.kind, a.stored_offset, a.resumed_at, a.reread) == (DATABASE_BEHIND, 40, 70, 30)
    assert "went back in time" in a.describe() and "30 message(s) read again" in a.describe()


def test_the_batch_that_finds_it_applies_what_came_before_the_gap_and_nothing_after() -> None:
    items = [doc(40), doc(41), doc(60), doc(61)]
    plan = plan_batch(items, {TP: Stored(40)}, {}, ZONE)
    assert plan.applied[DOCS] == 2 and plan.rewinds == {TP: 42}
    assert [a.reread for a in plan.anomalies] == [18]


def test_a_marked_gap_is_no_finding_and_one_that_starts_past_the_stored_offset_is() -> None:
    ok = plan_batch([doc(40), passed(DOCS, 0, 45, since=41), doc(45)], {TP: 40}, {}, ZONE)
    assert ok.applied[DOCS] == 2 and not ok.anomalies and ok.settled == {TP: 46}
    lost = plan_batch([passed(DOCS, 0, 50, since=47), doc(50)], {TP: Stored(40)}, {}, ZONE)
    assert lost.applied[DOCS] == 0 and lost.rewinds == {TP: 40}
    assert [(a.kind, a.reread) for a in lost.anomalies] == [(DATABASE_BEHIND, 7)]


def test_a_heartbeat_checks_an_idle_partition() -> None:
    fine = plan_batch([passed(DOCS, 0, 40, since=40)], {TP: Stored(40)}, {}, ZONE)
    assert not fine.anomalies and fine.positions == {} and fine.settled == {TP: 40}
    assert fine.skipped == 1 and fine.marks[DOCS] == 1
    behind = plan_batch([passed(DOCS, 0, 90, since=90)], {TP: Stored(40)}, {}, ZONE)
    assert behind.rewinds == {TP: 40} and [a.reread for a in behind.anomalies] == [50]
    # another worker took the partition further: no finding
    ahead = plan_batch([passed(DOCS, 0, 40, since=40)], {TP: Stored(90)}, {}, ZONE)
    assert not ahead.anomalies and ahead.settled == {TP: 90}


def test_items_after_the_finding_wait_for_the_rewind_then_count_once() -> None:
    first = plan_batch([doc(70), doc(71)], {TP: Stored(40)}, {}, ZONE)
    queued = plan_batch([doc(72), passed(DOCS, 0, 80, since=73)], first.positions, {}, ZONE)
    assert queued.applied[DOCS] == 0 and not queued.anomalies  # fenced, quietly
    back = [resumed(DOCS, 0, 40, Seen(0, 80)), *(doc(o) for o in range(40, 80))]
    again = plan_batch(back, queued.positions | first.positions, {}, ZONE)
    assert again.applied[DOCS] == 40 and not again.anomalies
    assert again.positions == {TP: Stored(80)}


def test_a_message_applied_before_the_database_forgot_it_changes_nothing_the_second_time() -> None:
    """The revisions the database still holds decide: an entity it kept is unchanged."""
    once = plan_batch([doc(40)], {TP: 40}, {}, ZONE)
    kept = {ref: once.entities[ref] for ref in once.changed}
    twice = plan_batch([doc(40)], {TP: 40}, kept, ZONE)
    assert twice.unchanged[DOCS] == 1 and not twice.deltas


def test_a_rejected_message_whose_dead_letter_was_lost_is_rejected_again() -> None:
    plan = plan_batch([rejected(DOCS, 0, 40)], {TP: 40}, {}, ZONE)
    assert len(plan.dead_letters) == 1


def test_a_rewind_below_the_log_start_counts_what_retention_deleted_instead_of_asking_forever() -> (
    None
):
    row = Stored(40, rewind_to=40)
    r = resume(DOCS, 0, row, 55, Seen(log_start=55, log_end=90))  # the reset landed on the start
    assert r.rewind is None and r.stored == Stored(55)
    assert [(a.kind, a.lost) for a in r.anomalies] == [(MESSAGES_LOST, 15)]
    again = resume(DOCS, 0, row, 55, Seen(log_start=30, log_end=90))  # still in the log
    assert again.rewind == 40


# --- a stream, its batches, and a database that loses its last commits ------------------------


def _stream(sizes: list[int], holes: list[int]) -> list[Item]:
    """Messages with marked gaps, as the transport delivers them."""
    items: list[Item] = []
    offset = 0
    for size, hole in zip(sizes, holes, strict=True):
        items.extend(doc(o) for o in range(offset, offset + size))
        offset += size
        if hole:
            items.append(passed(DOCS, 0, offset + hole, since=offset))
            offset += hole
    return items


def _write(
    batches: list[list[Item]], row: Stored, entities: dict[EntityRef, Entity]
) -> tuple[Stored, list[Plan]]:
    plans = []
    for batch in batches:
        plan = plan_batch(batch, {TP: row}, entities, ZONE)
        row = plan.positions.get(TP, row)
        entities.update({ref: plan.entities[ref] for ref in plan.changed})
        plans.append(plan)
    return row, plans


def _cut(items: list[Item], cuts: list[int]) -> list[list[Item]]:
    bounds = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
    return [items[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=2, max_size=12).flatmap(
        lambda sizes: st.tuples(
            st.just(sizes),
            st.lists(st.integers(0, 3), min_size=len(sizes), max_size=len(sizes)),
        )
    ),
    st.lists(st.integers(0, 80), max_size=6),
    st.integers(0, 100),
)
def test_any_stream_cut_anywhere_is_applied_once_with_or_without_a_database_that_goes_back(
    shape: tuple[list[int], list[int]], cuts: list[int], lose: int
) -> None:
    stream = _stream(*shape)
    end = stream[-1].at.offset + 1
    batches = _cut(stream, cuts)
    row, plans = _write(batches, Stored(0), {})
    assert row == Stored(end) and not any(p.anomalies for p in plans)  # never a false finding
    assert sum(p.applied[DOCS] for p in plans) == sum(shape[0])

    # The database goes back to how it was after batch k; the worker, which never stopped, sends
    # a heartbeat at its position; then reads again from where the fence sends it.
    k = lose % len(batches)
    kept_row, _ = _write(batches[:k], Stored(0), kept := {})
    found = plan_batch([passed(DOCS, 0, end, since=end)], {TP: kept_row}, kept, ZONE)
    if kept_row.next_offset == end:
        assert not found.anomalies
        return
    assert [a.kind for a in found.anomalies] == [DATABASE_BEHIND]
    rewind = found.rewinds[TP]
    again = [resumed(DOCS, 0, rewind, Seen(0, end))] + [i for i in stream if i.at.offset >= rewind]
    row, replans = _write(_cut(again, cuts), found.positions[TP], kept)
    assert row == Stored(end)
    assert len(kept) == sum(shape[0])  # every document stored, once
    assert not any(p.anomalies for p in replans)


# --- the gaps the transport marks ---------------------------------------------------------------


def _records(*offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=o) for o in offsets]


def test_gaps_before_between_and_after_the_records() -> None:
    assert gaps(0, _records(0, 1, 2), 3) == []
    assert gaps(0, _records(0, 1, 2), 5) == [(3, 5)]
    assert gaps(4, _records(5, 6, 9), 11) == [(4, 5), (7, 9), (10, 11)]
    assert gaps(7, [], 8) == [(7, 8)]


@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(0, 5))
def test_gaps_and_records_tile_the_offsets_the_consumer_read(holes: list[bool], start: int) -> None:
    offsets = [start + i for i, hole in enumerate(holes) if not hole]
    end = start + len(holes)
    found = gaps(start, _records(*offsets), end)
    covered = sorted([*offsets, *(o for a, b in found for o in range(a, b))])
    assert covered == list(range(start, end))
    items = list(
        interleave(
            _records(*offsets), lambda r: r.offset, found, lambda r: r.offset, lambda a, b: a
        )
    )
    assert items == sorted(items)  # each gap in its place in the stream
