"""What the stored entities contribute under today's rules, and how that compares with what is
stored: the pure half of ``vanphong verify`` and ``vanphong rebuild`` (vanphong/rebuild).

The worker folds revisions (:class:`~vanphong.core.semantics.Fold`): a standalone entity
contributes :func:`~vanphong.core.semantics.contributions` of its record unless voided; a task's
contributions, :func:`~vanphong.core.semantics.task_contributions` of both halves, live on its
assignment row, and the completion row contributes nothing of its own. :func:`recomputed` says
the same of an entity at rest, with the same functions, so a rule changed in a release applies
to all of history by recomputing; nothing here re-states a rule.

Cells whose value is 0 are the same as absent ones: the sink never deletes a cell that a
correction brought back to 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from vanphong.core.mergers import check_merge
from vanphong.core.rejection import Reason, Rejection
from vanphong.core.rules import validate
from vanphong.core.semantics import (
    Contribution,
    EntityRef,
    contributions,
    task_contributions,
)
from vanphong.schemas.catalog import EventType
from vanphong.schemas.known import KnownSchemas

#: An aggregate cell: (unit_id, day, metric, dimension).
Cell = tuple[str, date, str, str]


@dataclass(frozen=True, slots=True)
class StoredEntity:
    """One row of ``core.entities`` as recomputing needs it: its stored contributions as JSON
    gives them back (days as text: only compared). For a task's assignment, ``completion`` is
    its completion's (voided, record) if one is stored."""

    ref: EntityRef
    voided: bool
    record: Mapping[str, Any]
    contributions: Sequence[Sequence[Any]]
    completion: tuple[bool, Mapping[str, Any]] | None = None


def recomputed(entity: StoredEntity, zone: ZoneInfo) -> tuple[Contribution, ...]:
    """What ``entity`` contributes under today's rules, exactly as the worker's fold would
    store it after applying the stored revision(s)."""
    kind = entity.ref.entity_type
    if kind is EventType.TASK_ASSIGNED:
        completed = None
        if entity.completion is not None and not entity.completion[0]:
            completed = entity.completion[1]
        assigned = None if entity.voided else entity.record
        return tuple(task_contributions(assigned, completed, zone))
    if kind is EventType.TASK_COMPLETED or entity.voided:
        return ()
    return tuple(contributions(kind, entity.record, zone))


def refusal(entity: StoredEntity, schemas: KnownSchemas) -> Rejection | None:
    """Why today's rules (vanphong/core/rules.py) would refuse the stored record, if they
    would (read with ``schemas``): a rule that got stricter since it was applied."""
    try:
        validate(entity.ref.entity_type, dict(entity.record), schemas)
    except Rejection as rejection:
        return rejection
    except (KeyError, TypeError, ValueError) as exc:  # a field today's schema requires
        return Rejection(Reason.INVALID_FIELD, f"{type(exc).__name__}: {exc}")
    return None


def merger_refusals(mergers: Mapping[str, Mapping[str, Any]]) -> dict[str, Rejection]:
    """Stored non-voided mergers (merge_id → record) that the merger rules (§5.4) would refuse
    beside the others."""
    found: dict[str, Rejection] = {}
    for merge_id, record in sorted(mergers.items()):
        try:
            check_merge(record, mergers)
        except Rejection as rejection:
            found[merge_id] = rejection
    return found


def add_to(cells: dict[Cell, int], contributed: Iterable[Contribution], sign: int = 1) -> None:
    """Add (or, with ``sign`` -1, take back) contributions into ``cells``."""
    for unit, day, metric, dimension, amount in contributed:
        key = (unit, day, metric, dimension)
        cells[key] = cells.get(key, 0) + sign * amount


@dataclass(frozen=True, slots=True)
class Difference:
    """A cell whose stored value is not what the stored entities say."""

    unit_id: str
    day: date
    metric: str
    dimension: str
    live: int
    recomputed: int

    def as_json(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "day": self.day.isoformat(),
            "metric": self.metric,
            "dimension": self.dimension,
            "live": self.live,
            "recomputed": self.recomputed,
        }


class CellComparison:
    """Live cells compared, one at a time and in any order, with the recomputed ones: how many
    differ, and the first ``keep`` of them by cell (a rule changed in a release may change
    every cell, so not all are kept).

    ``recomputed`` is consumed: what is left of it after :meth:`finish` are cells the live
    table lacks."""

    def __init__(self, recomputed: dict[Cell, int], keep: int = 50) -> None:
        self._recomputed = recomputed
        self._keep = keep
        self.compared = 0
        self.count = 0
        self._kept: list[Difference] = []

    def see(self, cell: Cell, live: int) -> None:
        self.compared += 1
        expected = self._recomputed.pop(cell, 0)
        if live != expected:
            self._differ(Difference(*cell, live, expected))

    def _differ(self, difference: Difference) -> None:
        self.count += 1
        self._kept.append(difference)
        if len(self._kept) > 2 * self._keep + 1_000:
            self._trim()

    def _trim(self) -> None:
        self._kept.sort(key=lambda d: (d.unit_id, d.day, d.metric, d.dimension))
        del self._kept[self._keep :]

    def finish(self) -> list[Difference]:
        """The first ``keep`` differences by cell (:attr:`count` says how many there are)."""
        for cell, expected in self._recomputed.items():
            if expected != 0:
                self._differ(Difference(*cell, 0, expected))
        self._recomputed.clear()
        self._trim()
        return self._kept


def same_contributions(stored: Sequence[Sequence[Any]], recomputed: Iterable[Contribution]) -> bool:
    """Whether an entity's stored contributions, as JSON gives them back (days as ISO 8601
    text), add what the recomputed ones do (their order does not matter, nor a 0)."""
    own: list[list[Any]] = [[u, d.isoformat(), m, k, n] for u, d, m, k, n in recomputed]
    if own == stored:  # nearly always: one comparison, no date parsed
        return True
    a: dict[tuple[Any, ...], int] = {}
    b: dict[tuple[Any, ...], int] = {}
    for cells, rows in ((a, stored), (b, own)):
        for u, d, m, k, n in rows:
            cells[(u, str(d), m, k)] = cells.get((u, str(d), m, k), 0) + int(n)
    return {k: v for k, v in a.items() if v} == {k: v for k, v in b.items() if v}
