"""bench/steps.py times the planner on batches it must apply whole, as the worker would."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.steps import ZONE, batches, best
from vanphong.core.batch import Accepted, Coordinates, Item, plan_batch
from vanphong.schemas.catalog import EventType


def document(partition: int, offset: int) -> Item:
    record = {
        "event_id": f"e{partition}-{offset}",
        "occurred_at": datetime(2024, 5, 1, 3, tzinfo=UTC),
        "revision": 1,
        "voided": False,
        "document_id": f"d{partition}-{offset}",
        "unit_id": "vptu",
        "doc_type": "cong-van",
        "appraised": offset % 2 == 0,
    }
    return Item(
        Coordinates("t", partition, offset), None, b"", Accepted(EventType.DOCUMENT_ISSUED, record)
    )


def test_each_batch_is_fresh_from_its_first_offset_per_partition() -> None:
    prepared = [document(p, o) for o in range(10, 4010) for p in (0, 1)]  # 8,000: two batches
    todo = batches(prepared)
    assert [len(b) for b, _ in todo] == [4000, 4000]
    assert todo[1][1] == {("t", 0): 2010, ("t", 1): 2010}
    for batch, offsets in todo:
        plan = plan_batch(batch, offsets, {}, ZONE)
        assert plan.skipped == 0 and plan.applied["t"] == len(batch)


def test_best_is_the_fastest_round_per_event() -> None:
    calls: list[int] = []
    assert best(lambda: calls.append(1), 3, 1000) >= 0 and len(calls) == 3
