"""Finding replays on their target topic: ``dlq replay`` trusts the topic, not only the ledger.

PostgreSQL can go back in time (a failover to a standby that lacked the last commits, a restored
backup). Rows of ``core.dlq_replays`` written after that point are gone, and a replay that
trusted the ledger alone would publish those dead letters a second time. But every replayed
message carries ``vanphong.replay.of`` naming its dead letter, on a partition fixed in advance
(the source partition). So before a dead letter the ledger does not know is replayed,
:class:`ReplaySearch` looks for its marker there.

**Where to look.** A replay of a dead letter is produced after the dead letter reached the
dead-letter topic, so its timestamp is later than the dead letter's (both are Kafka timestamps:
the producers' clocks, or the brokers' with ``LogAppendTime``), less :data:`CLOCK_SKEW_S` for
clocks that disagree. Kafka's time index gives the first offset of the target partition with a
timestamp at or after that (``offsets_for_times``); every record before it is older, so the
replay is not there. Each target partition is read once per ``dlq replay``, from the earliest
such offset its dead letters need to its end; later chunks only read what is new or older.
A marker only counts for a dead letter if its timestamp is within that dead letter's own bound,
so a marker from an earlier life of the dead-letter topic (places restart when it is recreated)
is not taken for a replay of a new dead letter at the same place.

The cost is one read of each target partition from the oldest replayed dead letter's time (less
the skew) to its end, per replay: a replay of old dead letters reads that much of their topics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition

from vanphong.dlq.model import Place
from vanphong.dlq.plan import REPLAY_OF, Planned, replay_marker
from vanphong.ground.settings import Settings
from vanphong.ground.tail import end_offsets, read_range, reader

#: How far the clock of whoever produced a replay may lag the dead-letter topic's timestamps.
CLOCK_SKEW_S = 3600


class ReplaySearch:
    """The replay markers of the target partitions read so far; use as ``async with``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.read = 0  # records read, for the curious
        self._ranges: dict[TopicPartition, tuple[int, int]] = {}  # read [start, end)
        self._markers: dict[bytes, list[tuple[TopicPartition, int, int]]] = {}  # → where, ts
        self._consumer: AIOKafkaConsumer | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> ReplaySearch:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def find(self, planned: Sequence[Planned], dlq_topic: str) -> dict[Place, int]:
        """Of ``planned`` (dead letters the ledger does not know as replayed), those whose replay
        is on the target partition: dead letter → the replay's offset there."""
        if not planned:
            return {}
        if self._consumer is None:
            self._consumer = await self._stack.enter_async_context(reader(self.settings))
        consumer: AIOKafkaConsumer = self._consumer
        oldest: dict[TopicPartition, int] = {}  # per target partition, the earliest bound (ms)
        for p in planned:
            tp = TopicPartition(p.topic, p.partition)
            oldest[tp] = min(oldest.get(tp, _bound_ms(p)), _bound_ms(p))
        ends = await end_offsets(consumer, sorted(oldest))
        starts = await consumer.offsets_for_times(oldest)
        for tp in sorted(oldest):
            at = starts.get(tp)
            await self._read(consumer, tp, ends[tp] if at is None else at.offset, ends[tp])
        found: dict[Place, int] = {}
        for p in planned:
            tp = TopicPartition(p.topic, p.partition)
            for where, offset, timestamp in self._markers.get(
                replay_marker(dlq_topic, p.letter.place), []
            ):
                if where == tp and timestamp >= _bound_ms(p):
                    found[p.letter.place] = offset
                    break
        return found

    async def _read(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
    ) -> None:
        """Make [start, end) of ``tp`` read, reading only what was not. A partition that now ends
        before what was read is another topic (recreated): forgotten, read again."""
        have = self._ranges.get(tp)
        if have is not None and end < have[1]:
            have = None
            for markers in self._markers.values():
                markers[:] = [m for m in markers if m[0] != tp]
        gaps = [(start, end)] if have is None else [(start, have[0]), (have[1], end)]
        for lo, hi in gaps:
            async for records in read_range(consumer, tp, lo, hi):
                self.read += len(records)
                for record in records:
                    for key, value in record.headers:
                        if key == REPLAY_OF:
                            self._markers.setdefault(value, []).append(
                                (tp, record.offset, record.timestamp)
                            )
        self._ranges[tp] = (start, end) if have is None else (min(start, have[0]), end)


def _bound_ms(p: Planned) -> int:
    """The earliest timestamp a replay of ``p``'s dead letter can have (module docstring)."""
    return max(0, int(p.letter.timestamp.timestamp() * 1000) - CLOCK_SKEW_S * 1000)
