"""How far the sink is behind the input topics: Kafka end offsets against the offsets that
PostgreSQL has applied. This is the truth about progress (faust's committed offsets may lag
PostgreSQL), and what ``make run`` and the tests wait on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
from aiokafka import TopicPartition

from schemas.catalog import EVENT_TYPES
from vanphong.kafka import admin_client, partition_counts, standalone_consumer
from vanphong.settings import Settings


async def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    async with admin_client(settings.kafka_bootstrap) as admin:
        counts = await partition_counts(admin, topics)
    missing = set(topics) - set(counts)
    if missing:
        raise LookupError(f"topics missing: {', '.join(sorted(missing))} (run `vanphong init`)")
    partitions = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    async with standalone_consumer(settings.kafka_bootstrap) as consumer:
        ends = await consumer.end_offsets(partitions)
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def applied_offsets(database_url: str) -> dict[tuple[str, int], int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT topic, partition, next_offset FROM core.sink_offsets")
    finally:
        await conn.close()
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def backlog(settings: Settings) -> dict[tuple[str, int], int]:
    """Messages not yet applied, per input partition that has any."""
    ends = await end_offsets(settings, [settings.topic(e.topic) for e in EVENT_TYPES])
    applied = await applied_offsets(settings.database_url)
    return {tp: end - applied.get(tp, 0) for tp, end in ends.items() if end > applied.get(tp, 0)}


async def wait_until_caught_up(
    settings: Settings,
    timeout_s: float,
    on_progress: Callable[[int], None] | None = None,
    poll_s: float = 0.25,
) -> int:
    """Return once every input message is applied; raise ``TimeoutError`` with what is left."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = await backlog(settings)
        remaining = sum(left.values())
        if on_progress is not None:
            on_progress(remaining)
        if not left:
            return 0
        if time.monotonic() > deadline:
            worst = ", ".join(f"{t}[{p}]: {n}" for (t, p), n in sorted(left.items())[:5])
            raise TimeoutError(
                f"{remaining} message(s) still unapplied after {timeout_s:.0f} s ({worst})"
            )
        await asyncio.sleep(poll_s)
