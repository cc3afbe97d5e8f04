"""What each system must end up with, computed before anything is timed.

The truth comes from ``testkit/model.py``, the project's reference model of CONTRACT.md §5, which
shares no code with the product: if vanphong and the model agree, it is not because they share
a bug. Two views of it are used:

* ``attributed``: per unit and day after mergers, i.e. ``reporting.unit_activity_daily``, the
  view vanphong is checked against;
* ``recorded``: per *recorded* unit and day (no merger attribution), what the peer's table holds,
  since attribution through mergers is vanphong's feature, not the peer's.

The naive service is checked against what it is designed to compute (:func:`naive_spec`): every
distinct ``event_id`` counted on its own, so retries are absorbed (it dedups by ``event_id`` in
SQL) but a correction counts as one more document or meeting, and task completions are not
counted (telling on-time from late needs the assignment: that is state, which it has none of).
How far that is from the truth is reported, not failed: it is the naive service's story.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from testkit.model import METRICS as _METRICS
from testkit.model import Model

# Per unit and day, the 12 metrics in CONTRACT.md order; cells where all are zero are absent.
Daily = dict[tuple[str, date], tuple[int, ...]]

METRICS: tuple[str, ...] = tuple(_METRICS)
NAIVE_METRICS = METRICS[:10]  # all but tasks_completed_on_time / tasks_completed_late


class _FastModel(Model):
    """The reference model with its merger edges computed once instead of per contribution
    (the model rebuilds them on every look-up, which is fine for tests and slow for 500,000
    events). Only valid once every event has been consumed."""

    _edges: dict[str, tuple[str, date]] | None = None

    def _edge(self, unit: str) -> tuple[str, date] | None:
        if self._edges is None:
            self._edges = {
                u: (m["into_unit_id"], date.fromisoformat(m["effective_date"]))
                for m in self._live("office.merged")
                for u in m["absorbed_unit_ids"]
            }
        return self._edges.get(unit)


def _pack(cells: dict[tuple[str, date], dict[str, int]], metrics: tuple[str, ...]) -> Daily:
    packed = {key: tuple(values.get(m, 0) for m in metrics) for key, values in cells.items()}
    return {key: values for key, values in packed.items() if any(values)}


@dataclass(frozen=True)
class Expected:
    attributed: Daily
    recorded: Daily
    naive: Daily  # NAIVE_METRICS only

    @property
    def totals(self) -> dict[str, int]:
        return {m: sum(v[i] for v in self.attributed.values()) for i, m in enumerate(METRICS)}


def expected(events: list[dict[str, Any]], timezone: str) -> Expected:
    model = _FastModel(timezone)
    for event in events:
        model.consume(event)
    recorded: dict[tuple[str, date], dict[str, int]] = defaultdict(dict)
    for unit, day, metric, _dimension, amount in model.contributions():
        cell = recorded[(unit, day)]
        cell[metric] = cell.get(metric, 0) + amount
    return Expected(
        attributed=_pack(model.daily(), METRICS),
        recorded=_pack(recorded, METRICS),
        naive=naive_spec(events, timezone),
    )


def naive_spec(events: list[dict[str, Any]], timezone: str) -> Daily:
    """Every distinct event_id counted once, each on its own (see the module docstring)."""
    zone = ZoneInfo(timezone)
    seen: set[str] = set()
    cells: dict[tuple[str, date], dict[str, int]] = defaultdict(dict)

    def add(unit: str, day: date, metric: str, amount: int) -> None:
        cell = cells[(unit, day)]
        cell[metric] = cell.get(metric, 0) + amount

    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        at = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
        day = at.astimezone(zone).date()
        kind = e["type"]
        if kind == "document.issued":
            add(e["unit_id"], day, "documents_issued", 1)
            add(e["unit_id"], day, "documents_appraised", int(e["appraised"]))
        elif kind == "meeting.held":
            add(e["unit_id"], day, "meetings_held", 1)
            add(e["unit_id"], day, "meeting_attendees", e["attendees"])
        elif kind == "citizens.received":
            add(e["unit_id"], day, "receptions_held", 1)
            add(e["unit_id"], day, "citizens_received", e["citizens"])
            add(e["unit_id"], day, "petitions_received", e["petitions"])
        elif kind == "award.granted":
            add(e["recipient_unit_id"], day, "awards_received", 1)
            if e.get("granted_by_unit_id"):
                add(e["granted_by_unit_id"], day, "awards_granted", 1)
        elif kind == "task.assigned":
            add(e["unit_id"], day, "tasks_assigned", 1)
    return _pack(cells, NAIVE_METRICS)
