"""What the ceilings share: a consumer with no group that reads every partition of the run's
topics from the start (no join, no rebalance: the least a reader of these topics can do)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from vanphong.schemas.catalog import EVENT_TYPES


async def read_everything(bootstrap: str, prefix: str) -> AIOKafkaConsumer:
    """A started consumer assigned every partition of ``prefix``'s input topics, at offset 0."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    tps = [
        TopicPartition(f"{prefix}.{e.topic}", p) for e in EVENT_TYPES for p in range(e.partitions)
    ]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer
