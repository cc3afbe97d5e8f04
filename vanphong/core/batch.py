"""One batch, planned without I/O: which messages apply, what they change, what is rejected.

The sink loads what PostgreSQL holds for the batch (next offsets, entities), calls
:func:`plan_batch`, and writes the :class:`Plan` in one transaction. Keeping the decision pure
makes "the same batch twice is written once" and every §5 rule testable without a database.

Besides messages, a batch may hold **position marks** (:class:`Position`): items that the
transport (streams/transport.py) puts in a partition's stream, in order with its messages, to
say where the consumer stands where no message says it. Like a message's, a mark's
``at.offset + 1`` is the consumer's position at that point of the stream:

* *passed*: the consumer read past offsets that carry no record (transaction markers, aborted
  transactions), from ``since`` up to its position. The stored next offset moves there, so a
  partition whose last offsets are markers is caught up (lag 0) once the worker has read past
  them. A mark with ``since`` equal to the position (a *heartbeat*) says only where an idle
  consumer stands, so that a database that went back in time is found without new messages;
* *resumed*: the consumer (re)started reading the partition at its position (after an
  assignment, a seek or an offset reset), with what Kafka says about it then. The stored row is
  checked against it (vanphong/core/positions.py): a recreated topic, messages lost to retention, a
  partition beyond the contract, a consumer ahead of PostgreSQL.

Marks are not messages: they are never folded or counted as consumed (``Plan.marks`` counts
them, so that callers that count items can subtract them). A topic that is not transactional
and is read without interruption gets no marks but heartbeats.

**The fence.** Between marks, a partition's items are gapless: each message starts where the
previous item ended, and every gap in the offsets is a *passed* mark that says where it starts.
So an item that starts past the stored next offset, while no rewind is pending, means that
PostgreSQL no longer holds commits this worker made: it went back in time (failover, restore).
:func:`settle` checks this for every item of every batch, not only when a partition resumes,
and answers with a rewind (vanphong/core/positions.py, :func:`~vanphong.core.positions.behind`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from vanphong.core.mergers import check_merge
from vanphong.core.positions import Anomaly, Seen, Stored, behind, resume
from vanphong.core.rejection import Rejection
from vanphong.core.semantics import (
    TASK_TYPES,
    Entity,
    EntityRef,
    Fold,
    related_refs,
    supersedes,
)
from vanphong.schemas.catalog import EventType

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
    """A decoded, normalised, valid event, ready to fold. ``ref`` (type and key) is made once
    here: the planner looks every event's entity up twice (refs_needed, the fold)."""

    event_type: EventType
    record: Mapping[str, Any]
    ref: EntityRef = field(init=False)

    def __post_init__(self) -> None:
        self.ref = EntityRef(self.event_type, str(self.record[self.event_type.key_field]))

    @property
    def key(self) -> str:
        return self.ref.entity_id


@dataclass(frozen=True, slots=True)
class Position:
    """The outcome of a position mark, not of a message (module docstring). ``resumed`` is None
    for *passed*, else what Kafka said about the partition when the consumer resumed. ``since``
    is where a *passed* gap starts (None: not known, the gap is not fenced)."""

    resumed: Seen | None = None
    since: int | None = None


@dataclass(slots=True)
class Item:
    """One consumed message and what decoding and validation made of it, or a position mark
    (``outcome`` a :class:`Position`; key and value None)."""

    at: Coordinates
    key: bytes | None
    value: bytes | None
    outcome: Accepted | Rejection | Position


def passed(topic: str, partition: int, next_offset: int, since: int | None = None) -> Item:
    """A mark: the consumer read the partition from ``since`` up to ``next_offset`` without a
    record there (``since == next_offset``: a heartbeat of an idle partition)."""
    return Item(Coordinates(topic, partition, next_offset - 1), None, None, Position(since=since))


def resumed(topic: str, partition: int, offset: int, seen: Seen) -> Item:
    """A mark: the consumer (re)started reading the partition at ``offset``."""
    return Item(Coordinates(topic, partition, offset - 1), None, None, Position(seen))


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
    skipped: int = 0  # items not applied: redelivered messages and position marks
    redelivered: Counter[str] = field(default_factory=Counter)  # messages of ``skipped``
    marks: Counter[str] = field(default_factory=Counter)  # position marks, per topic
    #: The stored offset rows that change, as they must be written (``core.sink_offsets``).
    positions: dict[tuple[str, int], Stored] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)  # detected by resumed marks
    rewinds: dict[tuple[str, int], int] = field(default_factory=dict)  # consumer must seek here
    #: The next offset PostgreSQL holds after the batch, per partition of the batch: what the
    #: Kafka commit may say (below the batch's end when a rewind is pending).
    settled: dict[tuple[str, int], int] = field(default_factory=dict)


def fresh_items(
    items: Sequence[Item], next_offsets: Mapping[tuple[str, int], int | Stored]
) -> list[Item]:
    """The messages not applied yet: offsets at or past the stored next offset of their
    partition, and past every earlier item of the batch from that partition. After a rebalance,
    Kafka delivers again from the committed offset, so one batch may hold an offset twice."""
    return settle(items, next_offsets)[0]


@dataclass
class Settled:
    """Where a batch leaves its partitions (:func:`settle`)."""

    changed: dict[tuple[str, int], Stored]  # those that differ from the stored rows
    anomalies: list[Anomaly]
    rewinds: dict[tuple[str, int], int]
    marks: Counter[str]
    expected: dict[tuple[str, int], int]  # the next offset of every partition after the batch


def _as_stored(value: int | Stored) -> Stored:
    return value if isinstance(value, Stored) else Stored(value)


def settle(
    items: Sequence[Item], stored_offsets: Mapping[tuple[str, int], int | Stored]
) -> tuple[list[Item], Settled]:
    """The fresh messages of a batch (:func:`fresh_items`), and its partitions' rows after it.

    In item order, per partition: a message at the expected offset is fresh and moves it; a
    *passed* mark moves it too; a *resumed* mark is checked against the row
    (vanphong/core/positions.py: recreated topic, lost messages, a rewind). A message or a gap
    that starts past the expected offset is the fence's find (module docstring): the database
    is behind, the partition rewinds. While a rewind is pending, the partition's messages and
    passed marks are ignored: they will be read again."""
    rows = {tp: _as_stored(v) for tp, v in stored_offsets.items()}
    expected = {tp: r.next_offset for tp, r in rows.items()}
    fenced = {tp for tp, r in rows.items() if r.rewind_to is not None}
    fresh: list[Item] = []
    marks: Counter[str] = Counter()
    anomalies: list[Anomaly] = []
    rewinds: dict[tuple[str, int], int] = {}
    get = expected.get
    for item in items:
        at = item.at
        key = (at.topic, at.partition)
        outcome = item.outcome
        if type(outcome) is Position:  # rare: a mark (module docstring)
            marks[at.topic] += 1
            seen = outcome.resumed
            row = replace(rows.get(key, Stored()), next_offset=expected.get(key, 0))
            if seen is not None:
                after = resume(at.topic, at.partition, row, at.offset + 1, seen)
            elif key in fenced:
                continue
            elif outcome.since is not None and outcome.since > row.next_offset and key in rows:
                after = behind(at.topic, at.partition, row, outcome.since)
            else:
                expected[key] = max(row.next_offset, at.offset + 1)
                continue
        else:
            offset = at.offset
            if offset == get(key, 0) or (
                offset > get(key, 0) and key not in rows  # a partition the sink did not load
            ):
                if not (fenced and key in fenced):
                    fresh.append(item)
                    expected[key] = offset + 1
                continue
            if offset < get(key, 0) or key in fenced:
                continue  # read before (a redelivery), or to be read again after the rewind
            row = replace(rows[key], next_offset=expected[key])
            after = behind(at.topic, at.partition, row, offset)
        rows[key] = after.stored
        expected[key] = after.stored.next_offset
        if after.stored.rewind_to is None:
            fenced.discard(key)
        else:
            fenced.add(key)
        anomalies.extend(after.anomalies)
        if after.rewind is not None:
            rewinds[key] = after.rewind
    changed: dict[tuple[str, int], Stored] = {}
    for key, offset in expected.items():
        before = rows.get(key, Stored())
        row = before if before.next_offset == offset else replace(before, next_offset=offset)
        if row != _as_stored(stored_offsets.get(key, 0)):
            changed[key] = row
    return fresh, Settled(changed, anomalies, rewinds, marks, expected)


def refs_needed(items: Sequence[Item]) -> set[EntityRef]:
    """The stored entities the fold must start from."""
    refs: set[EntityRef] = set()
    for item in items:
        outcome = item.outcome
        if type(outcome) is Accepted:
            if outcome.event_type in TASK_TYPES:
                refs.update(related_refs(outcome.event_type, outcome.ref.entity_id))
            else:
                refs.add(outcome.ref)
    return refs


def has_mergers(items: Sequence[Item]) -> bool:
    """Whether the batch holds an ``office.merged`` event: the planner then needs every stored
    merger (:func:`plan_batch`)."""
    return any(
        isinstance(i.outcome, Accepted) and i.outcome.event_type is EventType.OFFICE_MERGED
        for i in items
    )


def _current_merges(entities: Mapping[EntityRef, Entity]) -> dict[str, Mapping[str, Any]]:
    return {
        ref.entity_id: e.record
        for ref, e in entities.items()
        if ref.entity_type is EventType.OFFICE_MERGED and not e.voided
    }


def plan_batch(
    items: Sequence[Item],
    stored_offsets: Mapping[tuple[str, int], int | Stored],
    stored: Mapping[EntityRef, Entity],
    zone: ZoneInfo,
) -> Plan:
    """Fold the batch's fresh items, in order, over the stored entities.

    For ``office.merged`` items, ``stored`` must hold every stored merger: a merger is checked
    against all others (§5.4) before it is folded.
    """
    fresh, settled = settle(items, stored_offsets)
    fold = Fold(zone, dict(stored))
    plan = Plan(fold.entities, fold.changed, fold.deltas, skipped=len(items) - len(fresh))
    if plan.skipped:
        plan.redelivered = (
            Counter(i.at.topic for i in items) - settled.marks - Counter(i.at.topic for i in fresh)
        )
    plan.marks = settled.marks
    plan.positions = settled.changed
    plan.anomalies = settled.anomalies
    plan.rewinds = settled.rewinds
    for item in fresh:
        topic, outcome = item.at.topic, item.outcome
        if isinstance(outcome, Accepted) and outcome.event_type is EventType.OFFICE_MERGED:
            outcome = _checked_merger(outcome, fold.entities)
        if isinstance(outcome, Rejection):
            plan.dead_letters.append((item, outcome))
            plan.rejected[topic] += 1
            continue
        accepted: Accepted = outcome  # type: ignore[assignment]  # fresh: messages, no marks
        if fold.apply_revision(accepted.ref, accepted.record):
            plan.applied[topic] += 1
        else:
            plan.unchanged[topic] += 1
    plan.next_offsets = {tp: row.next_offset for tp, row in settled.changed.items()}
    plan.settled = settled.expected
    return plan


def _checked_merger(
    outcome: Accepted, entities: Mapping[EntityRef, Entity]
) -> Accepted | Rejection:
    """A merger revision that would take effect is checked against the other mergers (§5.4);
    a stale one changes nothing, so it is not checked."""
    if not supersedes(
        outcome.record["revision"], entities.get(EntityRef(EventType.OFFICE_MERGED, outcome.key))
    ):
        return outcome
    try:
        check_merge(outcome.record, _current_merges(entities))
    except Rejection as rejection:
        return rejection
    return outcome
