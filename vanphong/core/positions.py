"""Where a partition's stored offset stands against the log Kafka has now: offsets that go
backwards or jump (docs/operations.md, "Offsets that go backwards or jump"). Pure.

PostgreSQL stores, per input partition, the next offset to apply, the id of the topic those
offsets belong to, and a pending rewind (``core.sink_offsets``). Kafka can move under it in
three ways, each detected here by comparing the stored row with what the broker says (topic id,
log start and end offsets, partition count):

* **the topic was deleted and created again** (:data:`TOPIC_RECREATED`): a new topic id, or an
  end offset below the stored offset (a row stored before topic ids were kept). Its offsets
  restart at 0, so the stored offset means nothing any more: it is reset, and the partition is
  read from its beginning (re-reading is harmless to the views: a message applied twice
  changes nothing the second time, CONTRACT.md §5.1);
* **retention deleted messages that were never applied** (:data:`MESSAGES_LOST`): the log start
  offset is above the stored offset. What lies between can no longer be read: it is counted,
  reported, and the stored offset moves past it;
* **an operator added partitions** (:data:`PARTITIONS_ADDED`): a partition beyond the contract's
  count. The worker consumes it from its start like the others (a partition without a stored
  offset starts at 0); it is reported, because producers and the contract now disagree.

One more jump is repaired rather than reported: a consumer that resumed *ahead* of the stored
offset while the messages in between are still in the log (a Kafka commit ahead of PostgreSQL,
an offset reset by hand). Nothing is skipped: the stored row gets a rewind, records of the
partition are ignored until the consumer has gone back to the stored offset, and the worker
seeks there (:func:`resume`). PostgreSQL, not Kafka, decides what was applied.

And one jump is both repaired and reported: **the database went back in time**
(:data:`DATABASE_BEHIND`, :func:`behind`). An asynchronous standby promoted after the primary
died, a restored backup or a point-in-time restore lacks the last commits, so the stored offset
is *behind* a consumer that never stopped reading. Every batch is fenced against the stored
row (vanphong/core/batch.py): a message, or a gap the consumer passed, that starts past the
stored next offset means PostgreSQL lost what lies between. The row gets a rewind to the stored
offset (the worker reads the lost messages again, without a restart; applying a message a
second time changes nothing, CONTRACT.md §5.1), and the anomaly counts the messages re-read.
If retention has since deleted some of them, the consumer lands on the log start and
:func:`resume` counts them as lost, as for any other jump.

The worker applies :func:`resume` when its consumer (re)starts reading a partition, in the
same transaction as the batch (vanphong/core/batch.py); ``vanphong status`` and ``vanphong wait``
use :func:`applied_offset` and :func:`pending` to show what no worker has handled yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

TOPIC_RECREATED = "topic_recreated"
MESSAGES_LOST = "messages_lost"
PARTITIONS_ADDED = "partitions_added"
DATABASE_BEHIND = "database_behind"
KINDS = (TOPIC_RECREATED, MESSAGES_LOST, PARTITIONS_ADDED, DATABASE_BEHIND)
#: How many recent anomalies an operator is shown: by `vanphong status`, /healthz and the page.
ANOMALIES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Stored:
    """A row of ``core.sink_offsets``: the next offset to apply, the id of the topic it belongs
    to (None: not known yet), and the offset the consumer must go back to before records of the
    partition count again (None: no rewind pending)."""

    next_offset: int = 0
    topic_id: str | None = None
    rewind_to: int | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    """What Kafka says about a partition (each None when it could not be read): its log start
    and end (the last stable offset), its topic's id and partition count, and the contract's
    partition count for the topic."""

    log_start: int | None = None
    log_end: int | None = None
    topic_id: str | None = None
    partitions: int | None = None
    contract_partitions: int | None = None


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One detection, with its numbers (persisted in ``core.offset_anomalies``)."""

    kind: str
    topic: str
    partition: int
    stored_offset: int | None  # the stored next offset when it was detected
    resumed_at: int | None  # where the consumer (re)started reading
    log_start: int | None
    log_end: int | None
    lost: int = 0  # messages that can no longer be applied
    old_topic_id: str | None = None
    new_topic_id: str | None = None
    partitions: int | None = None  # the topic's partition count in Kafka
    contract_partitions: int | None = None
    reread: int = 0  # messages read again because the database had lost them

    def describe(self) -> str:
        """One line for logs and the status table."""
        where = f"{self.topic}[{self.partition}]"
        if self.kind == TOPIC_RECREATED:
            return (
                f"{where}: the topic was deleted and created again (id {self.old_topic_id or '?'}"
                f" → {self.new_topic_id or '?'}); stored offset {self.stored_offset} reset, read"
                f" from the beginning (log {_range(self.log_start, self.log_end)})"
            )
        if self.kind == DATABASE_BEHIND:
            return (
                f"{where}: the database is behind the worker (stored offset"
                f" {self.stored_offset}, the worker at {self.resumed_at}): it went back in time"
                f" (failover or restore); {self.reread} message(s) read again"
            )
        if self.kind == MESSAGES_LOST:
            return (
                f"{where}: {self.lost} message(s) deleted before they were applied (stored"
                f" offset {self.stored_offset}, log {_range(self.log_start, self.log_end)})"
            )
        return (
            f"{where}: the topic has {self.partitions or '?'} partitions, the contract"
            f" {self.contract_partitions}; partition {self.partition} is consumed from its start"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "topic": self.topic,
            "partition": self.partition,
            "stored_offset": self.stored_offset,
            "resumed_at": self.resumed_at,
            "log_start": self.log_start,
            "log_end": self.log_end,
            "lost": self.lost,
            "old_topic_id": self.old_topic_id,
            "new_topic_id": self.new_topic_id,
            "partitions": self.partitions,
            "contract_partitions": self.contract_partitions,
            "reread": self.reread,
            "detail": self.describe(),
        }


def _range(start: int | None, end: int | None) -> str:
    return f"{'?' if start is None else start}–{'?' if end is None else end}"


@dataclass(frozen=True, slots=True)
class Resumption:
    """What resuming at an offset does to a stored row."""

    stored: Stored
    anomalies: tuple[Anomaly, ...] = field(default=())
    rewind: int | None = None  # the consumer must seek here (it is ahead of the stored offset)


def recreated(stored: Stored, seen: Seen) -> bool:
    """The stored offset belongs to an earlier topic of the same name: another topic id, or (a
    row without one) an end offset below it, which the same topic never has."""
    if stored.topic_id is not None and seen.topic_id is not None:
        return stored.topic_id != seen.topic_id
    return seen.log_end is not None and seen.log_end < stored.next_offset


def resume(topic: str, partition: int, stored: Stored, at: int, seen: Seen) -> Resumption:
    """The consumer (re)starts reading the partition at offset ``at``; Kafka says ``seen``.

    In order: a recreated topic resets the row (next offset 0, the new id); a pending rewind is
    done once the consumer resumed at or below its offset, or asked for again; a jump above the
    stored offset counts what lies below the log start as lost and moves past it, and a jump
    further than that (messages still in the log) sets a rewind to the stored offset. A
    partition beyond the contract's count is reported.
    """
    found: list[Anomaly] = []

    def anomaly(kind: str, **numbers: Any) -> Anomaly:
        return Anomaly(
            kind,
            topic,
            partition,
            stored_offset=stored.next_offset,
            resumed_at=at,
            log_start=seen.log_start,
            log_end=seen.log_end,
            partitions=seen.partitions,
            contract_partitions=seen.contract_partitions,
            **numbers,
        )

    row = stored
    if recreated(row, seen):
        found.append(
            anomaly(TOPIC_RECREATED, old_topic_id=row.topic_id, new_topic_id=seen.topic_id)
        )
        row = Stored(0, seen.topic_id, None)
    elif row.topic_id is None and seen.topic_id is not None:
        row = replace(row, topic_id=seen.topic_id)
    if seen.contract_partitions is not None and partition >= seen.contract_partitions:
        found.append(anomaly(PARTITIONS_ADDED))
    if row.rewind_to is not None:
        if at > row.rewind_to and not _deleted(seen, row.rewind_to):  # not back yet: ask again
            return Resumption(row, tuple(found), row.rewind_to)
        # back, or as far back as the log goes (what lies below its start is counted below)
        row = replace(row, rewind_to=None)
    if at > row.next_offset:
        gone = at if seen.log_start is None else min(at, seen.log_start)
        lost = gone - row.next_offset
        if lost > 0:
            found.append(anomaly(MESSAGES_LOST, lost=lost))
            row = replace(row, next_offset=gone)
        if at > row.next_offset:  # ahead, and what it skipped is still in the log
            row = replace(row, rewind_to=row.next_offset)
            return Resumption(row, tuple(found), row.next_offset)
    return Resumption(row, tuple(found))


def _deleted(seen: Seen, offset: int) -> bool:
    """Whether retention deleted ``offset``: a rewind there can only land on the log start."""
    return seen.log_start is not None and seen.log_start > offset


def behind(topic: str, partition: int, stored: Stored, at: int) -> Resumption:
    """The consumer stands at ``at`` in a stream it read without interruption, and PostgreSQL's
    row says the next offset to apply is ``stored.next_offset`` < ``at``: the database went back
    in time (module docstring). Go back to the stored offset and read again what it lost."""
    lost_from = stored.next_offset
    anomaly = Anomaly(
        DATABASE_BEHIND,
        topic,
        partition,
        stored_offset=lost_from,
        resumed_at=at,
        log_start=None,
        log_end=None,
        reread=at - lost_from,
    )
    return Resumption(replace(stored, rewind_to=lost_from), (anomaly,), lost_from)


def applied_offset(stored: Stored | None, seen: Seen) -> int:
    """The applied next offset as an offset of the topic Kafka has now (0 for a topic created
    again since, or never applied)."""
    if stored is None or recreated(stored, seen):
        return 0
    return stored.next_offset


def pending(topic: str, partition: int, stored: Stored | None, seen: Seen) -> list[Anomaly]:
    """What a worker would report on resuming this partition now (from its stored offset, or
    from the log start if that is above): a recreated topic, messages lost. Added partitions
    are not repeated here: compare ``seen.partitions`` with the contract for those."""
    row = stored if stored is not None else Stored()
    at = max(applied_offset(row, seen), seen.log_start or 0)
    found = resume(topic, partition, row, at, replace(seen, contract_partitions=None))
    return [a for a in found.anomalies if a.kind != PARTITIONS_ADDED]
