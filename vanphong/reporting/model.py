"""What a report holds, and the pure rules that shape it from the reporting views' rows: a
unit's history along the merger graph, which recorded units a basis gathers, how tasks split.
No I/O here: :mod:`vanphong.reporting.queries` fetches the rows, this module decides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from vanphong.core.semantics import METRICS
from vanphong.reporting.periods import Period

Basis = Literal["attributed", "consolidated"]
Relation = Literal["predecessor", "successor"]


class ReportError(ValueError):
    """A request that cannot be answered (unknown unit, reversed range): ``code`` for JSON
    answers, ``field`` the input it is about, the text for people."""

    def __init__(self, message: str, code: str = "bad_request", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str | None
    kind: str | None = None
    province: str | None = None
    status: str = "active"
    final_unit_id: str | None = None

    @property
    def title(self) -> str:
        return self.name or self.unit_id


@dataclass(frozen=True)
class Merge:
    """One edge of ``reporting.merges``: ``absorbed`` belongs to ``into`` from ``effective``."""

    merge_id: str
    into: str
    absorbed: str
    effective: date
    legal_basis: tuple[str, ...]


@dataclass(frozen=True)
class HistoryStep:
    """A predecessor absorbed (directly or through a chain) into the unit, or a successor the
    unit went (directly or through a chain) into."""

    relation: Relation
    merge: Merge
    depth: int  # 1: the unit itself is a side of this merger


def history(unit_id: str, merges: Iterable[Merge]) -> list[HistoryStep]:
    """The unit's predecessors (every chain of mergers ending in it) and its successors (the
    chain it went into), nearest first, then by date."""
    edges = list(merges)
    by_into: dict[str, list[Merge]] = {}
    by_absorbed: dict[str, Merge] = {}
    for edge in edges:
        by_into.setdefault(edge.into, []).append(edge)
        by_absorbed[edge.absorbed] = edge
    steps: list[HistoryStep] = []
    frontier, seen, depth = [unit_id], {unit_id}, 1
    while frontier:
        following: list[str] = []
        for into in frontier:
            for edge in sorted(by_into.get(into, []), key=lambda e: (e.effective, e.absorbed)):
                if edge.absorbed not in seen:
                    seen.add(edge.absorbed)
                    steps.append(HistoryStep("predecessor", edge, depth))
                    following.append(edge.absorbed)
        frontier, depth = following, depth + 1
    current, depth, visited = unit_id, 1, {unit_id}
    while (onward := by_absorbed.get(current)) is not None and onward.into not in visited:
        steps.append(HistoryStep("successor", onward, depth))
        visited.add(onward.into)
        current, depth = onward.into, depth + 1
    return steps


def consolidated_members(unit_id: str, finals: Mapping[str, str]) -> list[str]:
    """The recorded units whose activity counts for ``unit_id`` on the consolidated basis:
    those whose chain ends at it today (CONTRACT.md §5.4). A unit merged away has none: its
    activity belongs to its successor."""
    return sorted(u for u, final in finals.items() if final == unit_id)


def attributed_to(unit_id: str, day: date, merges: Iterable[Merge]) -> str:
    """The unit a contribution recorded by ``unit_id`` on ``day`` belongs to (attributed basis:
    each merger counts from its effective date, chains followed)."""
    by_absorbed = {m.absorbed: m for m in merges}
    current, seen = unit_id, {unit_id}
    while (edge := by_absorbed.get(current)) is not None and edge.effective <= day:
        if edge.into in seen:  # a cycle is refused upstream; never loop on one anyway
            break
        seen.add(edge.into)
        current = edge.into
    return current


@dataclass(frozen=True)
class MonthRow:
    month: date
    metrics: dict[str, int]


@dataclass(frozen=True)
class Breakdown:
    """Counts by a code (a document type, a meeting kind)."""

    code: str
    count: int
    attendees: int = 0


@dataclass(frozen=True)
class Tasks:
    on_time: int
    late: int
    overdue: int

    def as_dict(self) -> dict[str, int]:
        return {"on_time": self.on_time, "late": self.late, "overdue": self.overdue}


@dataclass(frozen=True)
class Report:
    """Everything the page, the exports and ``vanphong report`` show for one selection."""

    unit: Unit
    period: Period
    basis: Basis
    metrics: dict[str, int]
    previous: dict[str, int]
    monthly: list[MonthRow] = field(default_factory=list)
    by_type: list[Breakdown] = field(default_factory=list)
    by_kind: list[Breakdown] = field(default_factory=list)
    tasks: Tasks = Tasks(0, 0, 0)
    history: list[HistoryStep] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # unit_id → name, for the history

    @property
    def consolidated(self) -> bool:
        return self.basis == "consolidated"

    @property
    def previous_period(self) -> Period:
        """What the figures are compared with (periods.Period.comparison)."""
        return self.period.comparison()


#: A chart of more months than this shows the months with activity only.
MONTHS_FILLED = 1200


def months_of(period: Period, found: Iterable[date]) -> list[date]:
    """The first days of every month the period touches (activity rows may be absent where
    every metric is zero, CONTRACT.md §7), so a monthly table has no gaps; a very long period
    keeps only the months ``found``."""
    first = (period.start.year, period.start.month)
    last = (period.end.year, period.end.month)
    count = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    if count > MONTHS_FILLED:
        return sorted(found)
    return [
        date(first[0] + (first[1] - 1 + i) // 12, (first[1] - 1 + i) % 12 + 1, 1)
        for i in range(count)
    ]


def zero_metrics() -> dict[str, int]:
    return dict.fromkeys(METRICS, 0)


def add_metrics(into: dict[str, int], row: Mapping[str, object]) -> None:
    """Add one view row's 12 metric columns to ``into``."""
    for metric in METRICS:
        value = row[metric]
        into[metric] += int(value) if isinstance(value, int) else 0
