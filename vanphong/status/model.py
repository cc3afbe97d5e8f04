"""The status of the sink as data (CONTRACT.md §8): partitions, counters, dead letters, offset
anomalies and the sink's commits, and the JSON of ``vanphong status --json``. Pure: collecting
(vanphong/status/collecting.py) fills it in, rendering (vanphong/status/rendering.py) draws
it.

Lag and the stall rule are vanphong/core/lag.py's; :func:`is_stalled` only feeds that rule the
timestamps PostgreSQL and Kafka record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vanphong.core import lag as lag_rule
from vanphong.core.positions import Anomaly
from vanphong.status.retention import TopicRetention


@dataclass(frozen=True)
class PartitionStatus:
    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None  # the consumer group's Kafka commit; None if never committed
    applied_offset: int  # PostgreSQL's next offset to apply (0 if none applied yet)
    applied_at: datetime | None  # when applied_offset last moved (core.sink_offsets.updated_at)
    pending_since: datetime | None  # Kafka timestamp of the first unapplied message, if lagging
    stalled: bool
    start_offset: int = 0  # the log start offset (retention deleted what lies below)
    recreated: bool = False  # applied_offset belongs to a topic deleted since (now: 0 applied)

    @property
    def lag(self) -> int:
        applied = 0 if self.recreated else self.applied_offset
        return lag_rule.lag(self.end_offset, applied, self.start_offset)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "committed_offset": self.committed_offset,
            "applied_offset": self.applied_offset,
            "lag": self.lag,
            "applied_at": iso(self.applied_at),
            "pending_since": iso(self.pending_since),
            "stalled": self.stalled,
            "recreated": self.recreated,
        }


@dataclass(frozen=True)
class RecordedAnomaly:
    """A row of ``core.offset_anomalies``: what a worker detected, when."""

    anomaly: Anomaly
    detected_at: datetime
    worker_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "detected_at": iso(self.detected_at),
            "worker_id": self.worker_id,
            **self.anomaly.as_json(),
        }


@dataclass(frozen=True)
class TopicCounters:
    topic: str
    applied: int
    unchanged: int
    dead_lettered: int

    @property
    def consumed(self) -> int:
        return self.applied + self.unchanged + self.dead_lettered

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "consumed": self.consumed,
            "applied": self.applied,
            "unchanged": self.unchanged,
            "dead_lettered": self.dead_lettered,
        }


@dataclass(frozen=True)
class SinkStatus:
    last_commit_at: datetime | None
    workers_seen: int  # worker processes that ever committed (host-pid)
    workers_recent: int  # of those, committed within the last stall_seconds
    batches: int
    events: int

    def as_json(self) -> dict[str, Any]:
        return {
            "last_commit_at": iso(self.last_commit_at),
            "workers_seen": self.workers_seen,
            "workers_recent": self.workers_recent,
            "batches": self.batches,
            "events": self.events,
        }


@dataclass(frozen=True)
class Status:
    generated_at: datetime
    consumer_group: str
    stall_seconds: float
    partitions: list[PartitionStatus]
    dead_letters: dict[str, int]  # reason → rows in core.dead_letters
    dead_letters_unrelayed: int  # of those, not yet on the dead-letter topic
    dead_letter_topic: str
    dead_letter_messages: int  # messages on the dead-letter topic (end − start offsets)
    counters: list[TopicCounters]
    sink: SinkStatus
    missing_topics: list[str] = field(default_factory=list)
    topic_prefix: str = ""
    #: Recorded by workers, most recent first (at most :data:`ANOMALIES_SHOWN`).
    offset_anomalies: list[RecordedAnomaly] = field(default_factory=list)
    offset_anomalies_total: int = 0
    #: What Kafka and PostgreSQL disagree on now, not handled by a worker yet.
    pending_anomalies: list[Anomaly] = field(default_factory=list)
    #: Topic → (partitions in Kafka, the contract's), where they differ.
    partitions_differ: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Per input topic, how far back in time the database may go before Kafka can no longer
    #: refill it (vanphong/status/retention.py).
    retention: list[TopicRetention] = field(default_factory=list)

    @property
    def stalled(self) -> list[PartitionStatus]:
        return [p for p in self.partitions if p.stalled]

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": iso(self.generated_at),
            "consumer_group": self.consumer_group,
            "stall_seconds": self.stall_seconds,
            "topics": [p.as_json() for p in self.partitions],
            "dead_letters": dict(sorted(self.dead_letters.items())),
            "dead_letters_unrelayed": self.dead_letters_unrelayed,
            "dead_letter_topic": {
                "topic": self.dead_letter_topic,
                "messages": self.dead_letter_messages,
            },
            "counters": [c.as_json() for c in self.counters],
            "sink": self.sink.as_json(),
            "stalled": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "lag": p.lag,
                    "applied_at": iso(p.applied_at),
                    "pending_since": iso(p.pending_since),
                }
                for p in self.stalled
            ],
            "missing_topics": self.missing_topics,
            "offset_anomalies": [a.as_json() for a in self.offset_anomalies],
            "offset_anomalies_total": self.offset_anomalies_total,
            "offset_anomalies_pending": [a.as_json() for a in self.pending_anomalies],
            "partitions_differ": {
                t: {"partitions": n, "contract_partitions": c}
                for t, (n, c) in sorted(self.partitions_differ.items())
            },
            "retention": [r.as_json() for r in self.retention],
        }


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def is_stalled(
    lag: int,
    applied_at: datetime | None,
    pending_since: datetime | None,
    now: datetime,
    stall_seconds: float,
) -> bool:
    """The stall rule of vanphong/core/lag.py, from what PostgreSQL and Kafka record.

    The clock starts at the later of the last time the partition's applied offset moved
    (``applied_at``) and the time the oldest unapplied message was published
    (``pending_since``), so neither a partition that had no row yet nor one that was idle for a
    day and just received a message is called stalled too early. When neither is known, a
    partition with lag is stalled (nothing shows it ever moved, and its pending message cannot
    be read).
    """
    since = lag_rule.waiting_since(
        *(None if t is None else t.timestamp() for t in (applied_at, pending_since))
    )
    return lag_rule.is_stalled(lag, since, now.timestamp(), stall_seconds)
