"""Small Kafka helpers shared by commands, the worker and tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient


@asynccontextmanager
async def standalone_consumer(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer outside any group, for reading end offsets and topic tails.

    aiokafka 0.14.0 starts a background task in ``start()`` that, if cancelled before it ever
    ran, makes ``stop()`` raise ``CancelledError``; yielding to the loop once lets it start.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
        await asyncio.sleep(0)
        yield consumer
    finally:
        await asyncio.sleep(0)
        await consumer.stop()


@asynccontextmanager
async def admin_client(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Topic → number of partitions, for those of ``names`` that exist."""
    present = set(await admin.list_topics())
    asked = [n for n in names if n in present]
    if not asked:
        return {}
    described = await admin.describe_topics(asked)
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code")}
