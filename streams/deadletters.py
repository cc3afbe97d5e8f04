"""Relaying dead letters from PostgreSQL to the dead-letter topic, each exactly once.

A batch records its dead letters in ``core.dead_letters`` in the same transaction as its offsets
(an outbox). This relay sends unsent rows afterwards. Dead letters of a source partition always
use the same dead-letter partition, and one relay at a time holds that partition's advisory
lock, so anything in the partition past the last offset recorded as sent was sent by a relay
that crashed before recording it: the relay reads that tail first and records instead of
re-sending.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition

from schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC
from vanphong.kafka import standalone_consumer
from vanphong.settings import Settings

REASON = "vanphong.error.reason"
DETAIL = "vanphong.error.detail"
SOURCE_TOPIC = "vanphong.source.topic"
SOURCE_PARTITION = "vanphong.source.partition"
SOURCE_OFFSET = "vanphong.source.offset"
FAILED_AT = "vanphong.failed_at"

_LOCK_CLASS = 0x5650_444C  # "VPDL": the advisory-lock namespace of the relay

Source = tuple[str, int, int]


def dead_letter_headers(
    source: Source, reason: str, detail: str, failed_at: datetime
) -> list[tuple[str, bytes]]:
    """The headers of CONTRACT.md §6."""
    topic, partition, offset = source
    return [
        (REASON, reason.encode()),
        (DETAIL, detail.encode()),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
        (FAILED_AT, failed_at.isoformat().encode()),
    ]


def source_of(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Source | None:
    """The source coordinates a dead letter names, if it names them."""
    found = {k: v.decode() for k, v in headers}
    try:
        return (found[SOURCE_TOPIC], int(found[SOURCE_PARTITION]), int(found[SOURCE_OFFSET]))
    except (KeyError, ValueError):
        return None


class DeadLetterRelay:
    """Sends the outbox. Start it, call :meth:`relay` after batches, stop it."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.topic = settings.topic(DEAD_LETTER_TOPIC)
        self.bootstrap = settings.kafka_bootstrap
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True
        )

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def relay(self) -> int:
        """Send every unsent dead letter; return how many were sent now."""
        sent = 0
        for partition in range(DEAD_LETTER_PARTITIONS):
            sent += await self._relay_partition(partition)
        return sent

    async def _relay_partition(self, partition: int) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_CLASS, partition)
            rows = await conn.fetch(
                'SELECT topic, partition, "offset", key, value, reason, detail, failed_at'
                " FROM core.dead_letters WHERE dlq_partition = $1 AND sent_at IS NULL"
                ' ORDER BY failed_at, topic, partition, "offset"',
                partition,
            )
            if not rows:
                return 0
            last = await conn.fetchval(
                "SELECT max(dlq_offset) FROM core.dead_letters WHERE dlq_partition = $1", partition
            )
            present = await self._tail(partition, 0 if last is None else last + 1)
            sent = 0
            for row in rows:
                source: Source = (row["topic"], row["partition"], row["offset"])
                offset = present.get(source)
                if offset is None:
                    meta = await self.producer.send_and_wait(
                        self.topic,
                        row["value"],
                        key=row["key"],
                        partition=partition,
                        headers=dead_letter_headers(
                            source, row["reason"], row["detail"], row["failed_at"]
                        ),
                    )
                    offset, sent = meta.offset, sent + 1
                await conn.execute(
                    "UPDATE core.dead_letters SET sent_at = now(), dlq_offset = $4"
                    ' WHERE topic = $1 AND partition = $2 AND "offset" = $3',
                    *source,
                    offset,
                )
            return sent

    async def _tail(self, partition: int, start: int) -> dict[Source, int]:
        """Source → dead-letter offset of everything in ``partition`` from ``start`` on."""
        tp = TopicPartition(self.topic, partition)
        found: dict[Source, int] = {}
        async with standalone_consumer(self.bootstrap) as reader:
            end = (await reader.end_offsets([tp]))[tp]
            if start >= end:
                return found
            reader.assign([tp])
            reader.seek(tp, start)
            while await reader.position(tp) < end:
                batches = await reader.getmany(tp, timeout_ms=1000)
                for message in batches.get(tp, []):
                    source = source_of(message.headers)
                    if source is not None:
                        found[source] = message.offset
        return found
