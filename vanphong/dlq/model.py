"""What ``dlq list`` and ``dlq replay`` reason about: a dead letter (one message of the
dead-letter topic with its headers, CONTRACT.md §6), which of them to show, and a row of the
replay ledger. Pure: no Kafka, no PostgreSQL, so planning and rendering need neither."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vanphong.core.deadletter import DETAIL, FAILED_AT, REASON, Source, source_of

Place = tuple[int, int]  # (dead-letter partition, offset): the identity of a dead letter


@dataclass(frozen=True)
class DeadLetter:
    partition: int  # on the dead-letter topic
    offset: int
    timestamp: datetime  # when it reached the dead-letter topic
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def place(self) -> Place:
        return (self.partition, self.offset)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", errors="replace")
        return None

    @property
    def reason(self) -> str:
        return self.header(REASON) or "?"

    @property
    def detail(self) -> str:
        return self.header(DETAIL) or ""

    @property
    def source(self) -> Source | None:
        return source_of(list(self.headers))

    @property
    def failed_at(self) -> datetime:
        """The ``vanphong.failed_at`` header, or the message timestamp if it is unusable."""
        raw = self.header(FAILED_AT)
        if raw:
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                pass
            else:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return self.timestamp

    @property
    def key_text(self) -> str | None:
        return show_bytes(self.key)

    def as_json(self) -> dict[str, Any]:
        source = self.source
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "key": self.key_text,
            "reason": self.reason,
            "detail": self.detail,
            "source": None
            if source is None
            else {"topic": source[0], "partition": source[1], "offset": source[2]},
            "failed_at": self.failed_at.isoformat(),
            "value_bytes": None if self.value is None else len(self.value),
        }


def show_bytes(data: bytes | None) -> str | None:
    """A key as text: UTF-8 if it is, else ``0x`` + hex; None stays None."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()


def recency(d: DeadLetter) -> tuple[datetime, int, int]:
    """The order of "most recent": failure time, then place."""
    return (d.failed_at, d.partition, d.offset)


class MostRecent:
    """The ``limit`` most recent dead letters of a stream, holding no more than that: what
    :func:`select` with ``limit`` returns from the whole list."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._heap: list[tuple[tuple[datetime, int, int], DeadLetter]] = []  # oldest on top

    def add(self, letters: Iterable[DeadLetter]) -> None:
        for d in letters:
            entry = (recency(d), d)
            if len(self._heap) < self.limit:
                heapq.heappush(self._heap, entry)
            elif entry[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, entry)

    def oldest_first(self) -> list[DeadLetter]:
        return [d for _, d in sorted(self._heap, key=lambda e: e[0])]


def select(
    letters: Iterable[DeadLetter], reason: str | None = None, limit: int | None = None
) -> list[DeadLetter]:
    """Those with ``reason`` (all if None), oldest first; with ``limit``, the most recent N."""
    chosen = sorted((d for d in letters if reason is None or d.reason == reason), key=recency)
    if limit is not None and limit > 0:
        chosen = chosen[-limit:]
    return chosen


@dataclass(frozen=True)
class Replay:
    """A row of ``core.dlq_replays``."""

    place: Place
    reason: str
    source: Source
    target_partition: int
    scan_from: int
    replayed_at: datetime | None
    new_offset: int | None

    @property
    def in_doubt(self) -> bool:
        return self.new_offset is None

    @property
    def new_place(self) -> tuple[str, int, int] | None:
        """Where the replayed message is (a dead letter naming it there was rejected again)."""
        if self.new_offset is None:
            return None
        return (self.source[0], self.target_partition, self.new_offset)
