"""One batch, planned without I/O: which messages apply, what they change, what is rejected.

The sink loads what PostgreSQL holds for the batch (next offsets, entities), calls
:func:`plan_batch`, and writes the :class:`Plan` in one transaction. Keeping the decision pure
makes "the same batch twice is written once" and every §5 rule testable without a database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from schemas.catalog import EventType
from vanphong.mergers import check_merge
from vanphong.rejection import Rejection
from vanphong.semantics import Entity, EntityRef, Fold, related_refs, supersedes

# Coordinates, Accepted and Item are made for every event: ``slots=True`` without ``frozen``
# builds them in 40 % of the time (frozen dataclasses assign through object.__setattr__).
# Nothing mutates them after construction.


@dataclass(slots=True)
class Coordinates:
    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class Accepted:
    """A decoded, normalised, valid event, ready to fold."""

    event_type: EventType
    record: Mapping[str, Any]

    @property
    def key(self) -> str:
        return str(self.record[self.event_type.key_field])


@dataclass(slots=True)
class Item:
    """One consumed message and what decoding and validation made of it."""

    at: Coordinates
    key: bytes | None
    value: bytes | None
    outcome: Accepted | Rejection


@dataclass
class Plan:
    """What a batch does to PostgreSQL. ``applied``/``unchanged``/``rejected`` count per topic,
    over the messages not applied before (``skipped`` counts those)."""

    entities: dict[EntityRef, Entity]
    changed: set[EntityRef]
    deltas: Counter[tuple[str, date, str, str]]
    dead_letters: list[tuple[Item, Rejection]] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    applied: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    redelivered: Counter[str] = field(default_factory=Counter)  # ``skipped``, per topic


def fresh_items(items: Sequence[Item], next_offsets: Mapping[tuple[str, int], int]) -> list[Item]:
    """The items not applied yet: offsets at or past the stored next offset of their partition,
    and past every earlier item of the batch from that partition. After a rebalance, Kafka
    delivers again from the committed offset, so one batch may hold an offset twice."""
    expected = dict(next_offsets)
    fresh: list[Item] = []
    for item in items:
        key = (item.at.topic, item.at.partition)
        if item.at.offset >= expected.get(key, 0):
            fresh.append(item)
            expected[key] = item.at.offset + 1
    return fresh


def refs_needed(items: Sequence[Item]) -> set[EntityRef]:
    """The stored entities the fold must start from."""
    refs: set[EntityRef] = set()
    for item in items:
        if isinstance(item.outcome, Accepted):
            refs.update(related_refs(item.outcome.event_type.type, item.outcome.key))
    return refs


def _current_merges(entities: Mapping[EntityRef, Entity]) -> dict[str, Mapping[str, Any]]:
    return {
        ref.entity_id: e.record
        for ref, e in entities.items()
        if ref.entity_type == "office.merged" and not e.voided
    }


def plan_batch(
    items: Sequence[Item],
    stored_offsets: Mapping[tuple[str, int], int],
    stored: Mapping[EntityRef, Entity],
    zone: ZoneInfo,
) -> Plan:
    """Fold the batch's fresh items, in order, over the stored entities.

    For ``office.merged`` items, ``stored`` must hold every stored merger: a merger is checked
    against all others (§5.4) before it is folded.
    """
    fresh = fresh_items(items, stored_offsets)
    fold = Fold(zone, dict(stored))
    plan = Plan(fold.entities, fold.changed, fold.deltas, skipped=len(items) - len(fresh))
    if plan.skipped:
        plan.redelivered = Counter(i.at.topic for i in items) - Counter(i.at.topic for i in fresh)
    for item in fresh:
        topic, outcome = item.at.topic, item.outcome
        if isinstance(outcome, Accepted) and outcome.event_type.type == "office.merged":
            outcome = _checked_merger(outcome, fold.entities)
        if isinstance(outcome, Rejection):
            plan.dead_letters.append((item, outcome))
            plan.rejected[topic] += 1
        elif fold.apply(outcome.event_type.type, outcome.record, outcome.key):
            plan.applied[topic] += 1
        else:
            plan.unchanged[topic] += 1
    for item in fresh:  # in offset order per partition: the last one wins
        plan.next_offsets[(item.at.topic, item.at.partition)] = item.at.offset + 1
    return plan


def _checked_merger(
    outcome: Accepted, entities: Mapping[EntityRef, Entity]
) -> Accepted | Rejection:
    """A merger revision that would take effect is checked against the other mergers (§5.4);
    a stale one changes nothing, so it is not checked."""
    if not supersedes(
        outcome.record["revision"], entities.get(EntityRef("office.merged", outcome.key))
    ):
        return outcome
    try:
        check_merge(outcome.record, _current_merges(entities))
    except Rejection as rejection:
        return rejection
    return outcome
