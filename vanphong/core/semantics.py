"""The semantics of CONTRACT.md §5 as plain functions over plain data.

An entity revision yields its *contributions* (unit, day, metric, dimension, amount). Applying a
newer revision takes back what the stored one contributed and adds what the new one does, so the
aggregates only ever receive deltas. Mergers are not applied here: contributions stay on the
recorded unit and attribution happens at read time (``sinks/migrations``), so a merger that
arrives years late still re-attributes. Nothing here imports Kafka or PostgreSQL. Event types
are ``EventType`` members (a member equals its type string, so a stored string finds it too).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from vanphong.schemas.catalog import EventType

METRICS: tuple[str, ...] = (
    "documents_issued",
    "documents_appraised",
    "meetings_held",
    "meeting_attendees",
    "receptions_held",
    "citizens_received",
    "petitions_received",
    "awards_granted",
    "awards_received",
    "tasks_assigned",
    "tasks_completed_on_time",
    "tasks_completed_late",
)

#: The two halves of a task: they arrive on different topics and count together.
TASK_TYPES: tuple[EventType, EventType] = (EventType.TASK_ASSIGNED, EventType.TASK_COMPLETED)


#: What one entity adds to one aggregate cell: ``(unit_id, day, metric, dimension, amount)``.
#: ``dimension`` is the doc type or meeting kind where a report breaks the metric down, else ''.
#: A plain tuple, not a NamedTuple: every applied event makes one or two, and they are written
#: to JSON as they are (orjson takes tuples, not their subclasses).
Contribution = tuple[str, date, str, str, int]


class EntityRef(NamedTuple):
    """An entity: its event type (stored as the type string, which an ``EventType`` is) and
    its key."""

    entity_type: EventType
    entity_id: str


@dataclass(slots=True)
class Entity:
    """The stored, current revision of one entity and what it contributes now. Never mutated:
    a new revision is a new Entity (not ``frozen`` only because one is built per event, and
    frozen dataclasses are slow to build)."""

    ref: EntityRef
    revision: int
    voided: bool
    event_id: str
    record: Mapping[str, Any]
    contributions: tuple[Contribution, ...] = ()


def local_day(occurred_at: datetime, zone: ZoneInfo) -> date:
    """The day of an event: the calendar date of ``occurred_at`` in the configured zone."""
    return occurred_at.astimezone(zone).date()


def _document(record: Mapping[str, Any], day: date) -> list[Contribution]:
    unit, kind = record["unit_id"], record["doc_type"]
    out = [(unit, day, "documents_issued", kind, 1)]
    if record["appraised"]:
        out.append((unit, day, "documents_appraised", kind, 1))
    return out


def _meeting(record: Mapping[str, Any], day: date) -> list[Contribution]:
    unit, kind = record["unit_id"], record["kind"]
    return [
        (unit, day, "meetings_held", kind, 1),
        (unit, day, "meeting_attendees", kind, record["attendees"]),
    ]


def _reception(record: Mapping[str, Any], day: date) -> list[Contribution]:
    unit = record["unit_id"]
    return [
        (unit, day, "receptions_held", "", 1),
        (unit, day, "citizens_received", "", record["citizens"]),
        (unit, day, "petitions_received", "", record["petitions"]),
    ]


def _award(record: Mapping[str, Any], day: date) -> list[Contribution]:
    out = [(record["recipient_unit_id"], day, "awards_received", "", 1)]
    if record.get("granted_by_unit_id") is not None:
        out.append((record["granted_by_unit_id"], day, "awards_granted", "", 1))
    return out


# The standalone event types that count (§5.3): unit.registered and office.merged contribute no
# metric, and tasks are not standalone (task_contributions).
_CONTRIBUTORS: dict[EventType, Callable[[Mapping[str, Any], date], list[Contribution]]] = {
    EventType.DOCUMENT_ISSUED: _document,
    EventType.MEETING_HELD: _meeting,
    EventType.CITIZENS_RECEIVED: _reception,
    EventType.AWARD_GRANTED: _award,
}


def contributions(
    entity_type: EventType, record: Mapping[str, Any], zone: ZoneInfo
) -> list[Contribution]:
    """What a current, non-voided revision of a standalone entity contributes (§5.3).

    Tasks are not standalone: see :func:`task_contributions`.
    """
    contribute = _CONTRIBUTORS.get(entity_type)
    if contribute is None:
        return []
    return contribute(record, local_day(record["occurred_at"], zone))


def task_contributions(
    assigned: Mapping[str, Any] | None, completed: Mapping[str, Any] | None, zone: ZoneInfo
) -> list[Contribution]:
    """A task's contributions from its current, non-voided assignment and completion (either may
    be absent). A completion counts only once its assignment is known, on the completion day,
    for the assignee."""
    if assigned is None:
        return []
    unit = assigned["unit_id"]
    out = [(unit, local_day(assigned["occurred_at"], zone), "tasks_assigned", "", 1)]
    if completed is not None:
        done_on = local_day(completed["occurred_at"], zone)
        on_time = done_on <= assigned["due_date"]
        metric = "tasks_completed_on_time" if on_time else "tasks_completed_late"
        out.append((unit, done_on, metric, "", 1))
    return out


def supersedes(incoming_revision: int, stored: Entity | None) -> bool:
    """§5.1: only a strictly higher revision changes anything."""
    return stored is None or incoming_revision > stored.revision


@dataclass
class Fold:
    """The running state of one batch: current entities, and the aggregate deltas so far.

    ``entities`` starts as what PostgreSQL holds for the batch's keys; :meth:`apply` moves it
    forward one revision at a time, so events for the same entity within a batch are folded in
    arrival order exactly as if they had come in separate batches.
    """

    zone: ZoneInfo
    entities: dict[EntityRef, Entity]
    deltas: Counter[tuple[str, date, str, str]] = field(default_factory=Counter)
    changed: set[EntityRef] = field(default_factory=set)

    def apply(self, entity_type: EventType, record: Mapping[str, Any], key: str) -> bool:
        """Apply one accepted revision; True if it changed anything, False if it was a
        duplicate or a stale correction."""
        return self.apply_revision(EntityRef(entity_type, key), record)

    def apply_revision(self, ref: EntityRef, record: Mapping[str, Any]) -> bool:
        """:meth:`apply` with the entity's ref made already (the planner's items carry one)."""
        stored = self.entities.get(ref)
        revision = record["revision"]
        if not supersedes(revision, stored):
            return False
        voided = bool(record["voided"])
        entity_type = ref.entity_type
        if entity_type in TASK_TYPES:
            # Keep what the task contributes now; _retarget_task diffs against it.
            kept = stored.contributions if stored is not None else ()
            self._put(Entity(ref, revision, voided, record["event_id"], record, kept))
            self._retarget_task(ref.entity_id)
        else:
            own = () if voided else tuple(contributions(entity_type, record, self.zone))
            self._replace(Entity(ref, revision, voided, record["event_id"], record, own))
        return True

    def _put(self, entity: Entity) -> None:
        self.entities[entity.ref] = entity
        self.changed.add(entity.ref)

    def _replace(self, entity: Entity) -> None:
        """Store ``entity``; the aggregates lose the old contributions and gain the new."""
        deltas = self.deltas  # plain loops: this runs for every applied event
        old = self.entities.get(entity.ref)
        if old is not None:
            for c in old.contributions:
                cell = c[:4]
                deltas[cell] = deltas.get(cell, 0) - c[4]
        for c in entity.contributions:
            cell = c[:4]
            deltas[cell] = deltas.get(cell, 0) + c[4]
        self._put(entity)

    def _retarget_task(self, task_id: str) -> None:
        """Recompute a task's contributions from both halves; they live on the assignment row."""
        assigned = self.entities.get(EntityRef(EventType.TASK_ASSIGNED, task_id))
        completed = self.entities.get(EntityRef(EventType.TASK_COMPLETED, task_id))
        if assigned is None:
            return
        live_assigned = None if assigned.voided else assigned.record
        live_completed = None if completed is None or completed.voided else completed.record
        own = tuple(task_contributions(live_assigned, live_completed, self.zone))
        self._replace(
            Entity(
                assigned.ref,
                assigned.revision,
                assigned.voided,
                assigned.event_id,
                assigned.record,
                own,
            )
        )


def related_refs(entity_type: EventType, key: str) -> tuple[EntityRef, ...]:
    """The stored entities a revision of (type, key) needs to be folded."""
    if entity_type in TASK_TYPES:
        return tuple(EntityRef(t, key) for t in TASK_TYPES)
    return (EntityRef(entity_type, key),)
