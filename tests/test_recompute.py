"""The pure half of verify and rebuild (vanphong/core/recompute.py): recomputing a stored entity
gives exactly what the worker's fold stored for it, over random histories of every event type
with corrections, voids, duplicates and tasks in either order; and the cell comparison finds
exactly the cells that differ."""

from __future__ import annotations

from collections import Counter
from datetime import date
from zoneinfo import ZoneInfo

import orjson
import pytest

from testkit.history import all_event_types
from vanphong.core.recompute import (
    CellComparison,
    Difference,
    StoredEntity,
    add_to,
    recomputed,
    refusal,
    same_contributions,
)
from vanphong.core.rules import accept
from vanphong.core.semantics import Entity, EntityRef, Fold
from vanphong.schemas.catalog import EventType
from vanphong.schemas.codec import shipped_schemas
from vanphong.schemas.json_input import parse_line

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def folded(seed: int) -> Fold:
    """A history folded as the worker folds it, one accepted event at a time."""
    fold = Fold(ZONE, {})
    for message in all_event_types(seed, 150):
        if message.event is None:
            continue
        event_type, datum = parse_line(message.event, shipped_schemas())
        record = accept(event_type, datum, shipped_schemas())
        fold.apply(event_type, record, str(record[event_type.key_field]))
    return fold


def at_rest(entity: Entity, fold: Fold) -> StoredEntity:
    """The entity as ``core.entities`` holds it (contributions through JSON)."""
    completion = None
    if entity.ref.entity_type == "task.assigned":
        done = fold.entities.get(EntityRef(EventType.TASK_COMPLETED, entity.ref.entity_id))
        completion = None if done is None else (done.voided, done.record)
    stored = orjson.loads(orjson.dumps(entity.contributions))
    return StoredEntity(entity.ref, entity.voided, entity.record, stored, completion)


@pytest.mark.parametrize("seed", [1, 2, 3, 18])
def test_recomputing_a_stored_entity_gives_what_the_worker_stored(seed: int) -> None:
    fold = folded(seed)
    cells: dict[tuple[str, date, str, str], int] = {}
    kinds: Counter[str] = Counter()
    for entity in fold.entities.values():
        stored = at_rest(entity, fold)
        own = recomputed(stored, ZONE)
        assert same_contributions(stored.contributions, own), entity.ref
        assert refusal(stored, shipped_schemas()) is None
        add_to(cells, own)
        kinds[str(entity.ref.entity_type)] += 1
    assert {k: v for k, v in cells.items() if v} == {k: v for k, v in fold.deltas.items() if v}
    assert {"task.assigned", "task.completed", "document.issued", "meeting.held"} <= set(kinds)


def test_same_contributions_ignores_order_and_zero_but_not_a_changed_amount() -> None:
    day = date(2024, 3, 1)
    own = [
        ("u", day, "documents_issued", "CONG_VAN", 1),
        ("u", day, "documents_appraised", "CONG_VAN", 1),
    ]
    stored = [
        ["u", "2024-03-01", "documents_appraised", "CONG_VAN", 1],
        ["u", "2024-03-01", "documents_issued", "CONG_VAN", 1],
    ]
    assert same_contributions(stored, own)
    assert same_contributions([*stored, ["v", "2024-03-02", "meetings_held", "", 0]], own)
    assert not same_contributions(stored[:1], own)
    assert not same_contributions([[*stored[0][:4], 2], stored[1]], own)
    assert same_contributions([], [])


def test_the_comparison_finds_exactly_the_cells_that_differ_and_keeps_the_first() -> None:
    day = date(2024, 1, 1)
    recomputed_cells = {("a", day, "m", ""): 3, ("b", day, "m", ""): 2, ("c", day, "m", ""): 1}
    comparison = CellComparison(dict(recomputed_cells), keep=2)
    comparison.see(("a", day, "m", ""), 3)  # equal
    comparison.see(("b", day, "m", ""), 5)  # updated
    comparison.see(("z", day, "m", ""), 0)  # a cell brought back to 0: as absent
    comparison.see(("y", day, "m", ""), 4)  # a cell no entity adds
    kept = comparison.finish()  # c: deleted from the live table
    assert comparison.count == 3 and comparison.compared == 4
    assert kept == [Difference("b", day, "m", "", 5, 2), Difference("c", day, "m", "", 0, 1)]
