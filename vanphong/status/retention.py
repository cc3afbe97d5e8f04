"""How far back in time the database may go before Kafka can no longer refill it (issue 16;
docs/operations.md, "Failover and restores").

A failover to a standby that lacked the last commits, or a restored backup, leaves PostgreSQL's
stored offsets behind the worker's; the worker reads again from the stored offsets, and Kafka
refills what the database lost, as long as Kafka still holds it. What it holds starts at each
partition's log start offset (retention deleted what lies below). So, per topic, a restore
that goes back no further than the oldest message still in the log is refilled whole, and one
that goes back further loses the messages in between (the worker counts them: an offset
anomaly ``messages_lost``).

A topic's limit is the *latest* of its partitions' oldest kept messages: the partition whose
retention deleted the most recent past is the one a restore loses from first. A topic none of
whose partitions ever lost a message to retention (every log starts at offset 0) is refilled
from any past. Pure: :func:`windows` takes what Kafka and PostgreSQL said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

Tp = tuple[str, int]


@dataclass(frozen=True)
class PartitionRetention:
    partition: int
    log_start: int  # the oldest offset Kafka still holds
    log_end: int
    oldest_kept_at: datetime | None  # the timestamp of the record at log_start; None if empty
    applied_offset: int  # PostgreSQL's next offset to apply

    @property
    def refillable(self) -> int:
        """Applied messages that Kafka could deliver again (negative: applied offsets are below
        what Kafka holds, messages never applied are gone already)."""
        return self.applied_offset - self.log_start

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "log_start": self.log_start,
            "log_end": self.log_end,
            "oldest_kept_at": _iso(self.oldest_kept_at),
            "applied_offset": self.applied_offset,
            "refillable": self.refillable,
        }


@dataclass(frozen=True)
class TopicRetention:
    topic: str
    partitions: tuple[PartitionRetention, ...]

    @property
    def holds_everything(self) -> bool:
        """No message of the topic was ever deleted by retention: any restore is refilled."""
        return all(p.log_start == 0 for p in self.partitions)

    @property
    def emptied(self) -> tuple[int, ...]:
        """Partitions retention emptied (log start = end > 0): Kafka holds none of their
        messages, so a restore that lost any of their commits loses those messages."""
        return tuple(p.partition for p in self.partitions if 0 < p.log_start == p.log_end)

    @property
    def holds_from(self) -> datetime | None:
        """The oldest time a restore may go back to without losing messages: the latest of the
        partitions' oldest kept messages (None when Kafka holds everything, or nothing)."""
        if self.holds_everything:
            return None
        kept = [p.oldest_kept_at for p in self.partitions if p.log_start > 0 and p.oldest_kept_at]
        return max(kept, default=None)

    def describe(self) -> str:
        """One line for operators."""
        if self.holds_everything:
            return (
                f"{self.topic}: Kafka holds every message since offset 0; "
                "a restore of any age is refilled"
            )
        line = f"{self.topic}: "
        when = self.holds_from
        if when is not None:
            line += (
                f"Kafka holds from {when.strftime('%Y-%m-%d %H:%M')} UTC; "
                "a restore older than that loses messages"
            )
        if self.emptied:
            line += "; " if when is not None else ""
            line += (
                f"retention emptied partition(s) {', '.join(map(str, self.emptied))}: "
                "a restore that lost any of their commits loses those messages"
            )
        return line

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "kafka_holds_from": _iso(self.holds_from),
            "holds_everything": self.holds_everything,
            "emptied_partitions": list(self.emptied),
            "partitions": [p.as_json() for p in self.partitions],
        }


def windows(
    topics: list[str],
    counts: dict[str, int],
    starts: dict[Tp, int],
    ends: dict[Tp, int],
    oldest: dict[Tp, datetime],
    applied: dict[Tp, int],
) -> list[TopicRetention]:
    """Per topic that exists, what Kafka holds against what PostgreSQL applied."""
    return [
        TopicRetention(
            topic,
            tuple(
                PartitionRetention(
                    p,
                    starts.get((topic, p), 0),
                    ends.get((topic, p), 0),
                    oldest.get((topic, p)),
                    applied.get((topic, p), 0),
                )
                for p in range(counts[topic])
            ),
        )
        for topic in topics
        if topic in counts
    ]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
