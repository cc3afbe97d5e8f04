"""What the dead-letter topic holds, per partition: the relay's index (streams/deadletters.py).

:class:`DeadLetterIndex` keeps a :class:`~vanphong.core.deadletter.Landed` per dead-letter
partition, read from the topic itself and never from PostgreSQL, so it stays true when
PostgreSQL goes back in time. :meth:`DeadLetterIndex.read_on` extends a partition's index from
where the last read stopped to the partition's end now (from its start the first time: dead
letters are few). Called while the relay holds the partition's advisory lock, the index is then
exact: no other relay sends to the partition until the lock is released.

A dead-letter topic deleted and created again is not the topic the index describes: a changed
topic id (asked once per round) or a partition that now ends before where the index stopped
drops the index, which is then read again from the new topic. Every Kafka call has the relay's
deadline (``VANPHONG_RELAY_TIMEOUT_S``); a reader cut off by it is closed, not reused.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from vanphong.core.deadletter import Landed, Source, source_of, topic_id_of
from vanphong.ground.kafka_protocol import known_topic_ids
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.ground.tail import end_offsets, read_range, reader, within

log = get_logger("vanphong.relay")


class DeadLetterIndex:
    """The index of every dead-letter partition a relay has sent to. :meth:`close` at the end of
    each round (the reader is per round); :meth:`forget` drops everything."""

    def __init__(self, settings: Settings, topic: str, timeout_s: float) -> None:
        self.settings, self.topic, self.timeout_s = settings, topic, timeout_s
        self._landed: dict[int, Landed] = {}  # dead-letter partition → what it holds
        self._topic_id: str | None = None  # the dead-letter topic's id the index was read from
        self._reader: AIOKafkaConsumer | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    def forget(self) -> None:
        self._landed.clear()
        self._topic_id = None

    def known(self, partition: int) -> int:
        """How many dead letters the index knows in ``partition`` (for logs and tests)."""
        landed = self._landed.get(partition)
        return 0 if landed is None else len(landed)

    async def close(self) -> None:
        stack, self._reader, self._stack = self._stack, None, None
        if stack is not None:
            try:
                await within(self.timeout_s, stack.aclose())
            except (Exception, asyncio.CancelledError) as exc:
                log.debug("closing the relay's reader failed", error=f"{type(exc).__name__}: {exc}")

    async def _consumer(self) -> AIOKafkaConsumer:
        """The round's reader, started within the deadline; a dead-letter topic whose id is not
        the one the index was read from (deleted and created again) drops the index."""
        if self._reader is None:
            stack = contextlib.AsyncExitStack()
            try:
                consumer = await stack.enter_async_context(reader(self.settings, self.timeout_s))
                ids = await within(self.timeout_s, known_topic_ids(consumer._client, [self.topic]))
            except BaseException:
                await stack.aclose()
                raise
            self._reader, self._stack = consumer, stack
            topic_id = ids[self.topic].topic_id if self.topic in ids else None
            if topic_id is not None and topic_id != self._topic_id:
                if self._topic_id is not None:
                    log.warning(
                        "the dead-letter topic was recreated: reading it again",
                        old_id=self._topic_id,
                        new_id=topic_id,
                    )
                self._landed.clear()
                self._topic_id = topic_id
        return self._reader

    async def read_on(self, partition: int, pool: asyncpg.Pool | asyncpg.Connection) -> Landed:
        """Extend ``partition``'s index to the partition's end now and return it. Legacy dead
        letters (no topic-id header) found on the way get their life from the outbox rows renamed
        when their source topic was recreated, read through ``pool`` (a pool or the connection
        the caller holds). A failure leaves the index as it was, or further on: a record read
        twice is added once."""
        consumer = await self._consumer()
        tp = TopicPartition(self.topic, partition)
        landed = self._landed.setdefault(partition, Landed())
        end = (await end_offsets(consumer, [tp], self.timeout_s))[tp]
        if end < landed.next_offset:  # shorter than what was read: not the same topic
            log.warning(
                "the dead-letter partition ends before where it was read: reading it again",
                partition=partition,
                end=end,
                read_to=landed.next_offset,
            )
            landed = self._landed[partition] = Landed()
        legacy: list[int] = []
        async for records in read_range(
            consumer, tp, landed.next_offset, end, timeout_s=self.timeout_s
        ):
            for record in records:
                source = source_of(record.headers)
                if source is None:
                    continue
                topic_id = topic_id_of(record.headers)
                landed.add(source, topic_id, record.offset)
                if topic_id is None:
                    legacy.append(record.offset)
        if legacy:
            if isinstance(pool, asyncpg.Pool):
                async with pool.acquire() as conn:
                    landed.resolve(await _renamed(conn, partition, legacy))
            else:
                landed.resolve(await _renamed(pool, partition, legacy))
        landed.next_offset = max(landed.next_offset, end)
        return landed


async def _renamed(
    conn: asyncpg.Connection, partition: int, offsets: list[int]
) -> list[tuple[Source, int, str]]:
    """Outbox rows at these dlq offsets renamed ``<topic>@<old id>`` (sinks/postgres.py) when
    their source topic was recreated: (source under its old name, dlq offset, old id)."""
    rows = await conn.fetch(
        "SELECT split_part(topic, '@', 1) AS name, split_part(topic, '@', 2) AS old_id,"
        ' partition, "offset", dlq_offset FROM core.dead_letters'
        " WHERE dlq_partition = $1 AND dlq_offset = ANY($2::bigint[]) AND strpos(topic, '@') > 0",
        partition,
        offsets,
    )
    return [((r["name"], r["partition"], r["offset"]), r["dlq_offset"], r["old_id"]) for r in rows]
