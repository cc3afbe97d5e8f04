"""Reading ranges of partitions, and the rule that recovers what an interrupted producer sent.

**The recovery rule: produce, then recover by reading the partition.** Two places produce
messages whose fate must be recorded in PostgreSQL exactly once: the dead-letter relay
(streams/deadletters.py: outbox rows to the dead-letter topic) and ``vanphong dlq replay``
(vanphong/dlq/execute.py: dead letters back to their source topic). Either may crash or time
out after Kafka has a message and before PostgreSQL has recorded where it landed; and PostgreSQL
itself may go back in time and forget what was recorded (CONTRACT.md §5.2, §6). Both follow one
rule:

1. each message goes to a partition fixed in advance and carries a *mark* (a header) that names
   what it is: the relay's, the source coordinates (and the source topic's id); a replay's, the
   dead letter it replays;
2. before producing, the producer knows an offset of that partition from which anything it
   produced must lie. The relay: the partition's start (it indexes the whole partition once and
   then reads on, streams/landed.py). A replay: the partition's end offset recorded before
   producing (``scan_from``), or, when the ledger has no row at all, the first offset younger
   than the dead letter (vanphong/dlq/search.py) — the topic, not the ledger, has the last
   word;
3. one producer at a time per partition (a PostgreSQL advisory lock), and a new attempt starts
   only once the previous attempt's sends are over (sent or failed), so nothing of it can land
   after the read;
4. the next attempt first reads the partition from that offset to its end (:func:`recover`, or
   the relay's index); whatever it finds with a mark it is looking for was produced: it is
   recorded, not produced again.

**Reading.** :func:`read_range` reads one partition between two offsets in bounded chunks, so
a reader holds at most one chunk; offsets without a record (compaction, transaction markers)
are simply not there. With ``timeout_s``, every Kafka call has that deadline (a hung broker
raises ``TimeoutError`` instead of holding the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeAlias, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from vanphong.ground.kafka import standalone_consumer
from vanphong.ground.settings import Settings

K = TypeVar("K")
R = TypeVar("R")

#: Records per chunk: what a reader holds at once.
CHUNK = 500

Record: TypeAlias = ConsumerRecord[bytes, bytes]


async def within(timeout_s: float | None, call: Awaitable[R]) -> R:
    """``await call`` with a deadline (none if ``timeout_s`` is None)."""
    async with asyncio.timeout(timeout_s):
        return await call


@contextlib.asynccontextmanager
async def reader(
    settings: Settings, timeout_s: float | None = None
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer outside any group, started within ``timeout_s``."""
    async with contextlib.AsyncExitStack() as stack:
        consumer = await within(timeout_s, stack.enter_async_context(standalone_consumer(settings)))
        yield consumer


async def read_range(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    start: int,
    end: int,
    chunk: int = CHUNK,
    timeout_s: float | None = None,
) -> AsyncIterator[list[Record]]:
    """The records of ``tp`` with offsets in [``start``, ``end``), in order, in chunks of at most
    ``chunk`` records. ``start`` below the log's beginning reads from the beginning. The consumer
    is assigned ``tp`` alone."""
    begin = (await within(timeout_s, consumer.beginning_offsets([tp])))[tp]
    start = max(start, begin)
    if start >= end:
        return
    consumer.assign([tp])
    consumer.seek(tp, start)
    while await within(timeout_s, consumer.position(tp)) < end:
        batches = await within(timeout_s, consumer.getmany(tp, timeout_ms=1000, max_records=chunk))
        records = [r for r in batches.get(tp, []) if r.offset < end]
        if records:
            yield records


async def end_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], timeout_s: float | None = None
) -> dict[TopicPartition, int]:
    if not tps:
        return {}
    ends: dict[TopicPartition, int] = await within(timeout_s, consumer.end_offsets(tps))
    return ends


async def recover(
    settings: Settings,
    starts: Mapping[TopicPartition, int],
    mark: Callable[[Record], K | None],
    timeout_s: float | None = None,
) -> dict[K, int]:
    """The recovery rule's read (module docstring): every partition of ``starts`` from its start
    offset to its end now; returns mark → offset for each record whose ``mark`` is not None."""
    found: dict[K, int] = {}
    if not starts:
        return found
    async with reader(settings, timeout_s) as consumer:
        ends = await end_offsets(consumer, sorted(starts), timeout_s)
        for tp, start in sorted(starts.items()):
            async for records in read_range(consumer, tp, start, ends[tp], timeout_s=timeout_s):
                for record in records:
                    key = mark(record)
                    if key is not None:
                        found[key] = record.offset
    return found
