"""What Kafka says for ``vanphong status``: partition counts, topic ids, log start and end
offsets, the consumer group's commits, and when the first unapplied message of a waiting
partition was published. Every question is bounded in time (:func:`ask_kafka`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import TopicPartition

from vanphong.ground.kafka import admin_client, partition_counts, standalone_consumer
from vanphong.ground.kafka_protocol import TopicInfo, known_topic_ids
from vanphong.ground.settings import Settings
from vanphong.ground.unreachable import KAFKA_ERRORS, kafka_error
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC

T = TypeVar("T")

PENDING_FETCH_TIMEOUT_S = 5.0


@dataclass
class KafkaState:
    """Partition counts, offsets and group commits of the topics asked, by (topic, partition)."""

    counts: dict[str, int]
    ends: dict[tuple[str, int], int]
    starts: dict[tuple[str, int], int]
    committed: dict[tuple[str, int], int | None]
    topics: dict[str, TopicInfo] = field(default_factory=dict)


async def read_kafka(settings: Settings, topics: Sequence[str]) -> KafkaState:
    async with admin_client(settings) as admin:
        counts = await partition_counts(admin, list(topics))
        ids = await known_topic_ids(admin._client, [t for t in topics if t in counts])
        tps = [TopicPartition(t, p) for t, n in sorted(counts.items()) for p in range(n)]
        inputs = [tp for tp in tps if tp.topic != settings.topic(DEAD_LETTER_TOPIC)]
        group = (
            await admin.list_consumer_group_offsets(settings.consumer_group, partitions=inputs)
            if inputs
            else {}
        )
    committed = {
        (tp.topic, tp.partition): (meta.offset if meta.offset >= 0 else None)
        for tp, meta in group.items()
    }
    if not tps:
        return KafkaState(counts, {}, {}, committed, ids)
    async with standalone_consumer(settings) as consumer:
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
    return KafkaState(
        counts,
        {(tp.topic, tp.partition): o for tp, o in ends.items()},
        {(tp.topic, tp.partition): o for tp, o in starts.items()},
        committed,
        ids,
    )


async def pending_since(
    settings: Settings, positions: dict[tuple[str, int], int]
) -> dict[tuple[str, int], datetime]:
    """The Kafka timestamp of the message at ``positions[tp]``, per partition, when readable
    within a few seconds."""
    if not positions:
        return {}
    found: dict[tuple[str, int], datetime] = {}
    async with standalone_consumer(settings) as consumer:
        tps = {TopicPartition(t, p): o for (t, p), o in positions.items()}
        consumer.assign(list(tps))
        for tp, offset in tps.items():
            consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PENDING_FETCH_TIMEOUT_S
        while len(found) < len(tps) and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=len(tps) * 10)
            for tp, messages in batches.items():
                key = (tp.topic, tp.partition)
                if messages and key not in found:
                    found[key] = datetime.fromtimestamp(messages[0].timestamp / 1000, UTC)
                    consumer.pause(tp)
    return found


async def ask_kafka(settings: Settings, work: Awaitable[T], timeout_s: float) -> T:
    try:
        return await asyncio.wait_for(work, timeout_s)
    except KAFKA_ERRORS as exc:
        raise kafka_error(exc, settings.kafka_bootstrap) from exc
