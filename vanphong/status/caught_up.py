"""How far the sink is behind the input topics: Kafka end offsets against the offsets that
PostgreSQL has applied. This is the truth about progress (faust's committed offsets may lag
PostgreSQL), and what ``make run`` and the tests wait on.

Lag is vanphong/core/lag.py's, as everywhere: end offsets are last stable offsets
(``read_committed``), offsets without a record count as applied once the worker read past them,
messages deleted by retention are not waited for, and the offsets stored for a topic that was
deleted and created again since count as nothing applied (vanphong/core/positions.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import TopicPartition

from vanphong.core.lag import lag
from vanphong.core.positions import Seen, Stored, applied_offset
from vanphong.ground import pgconnect
from vanphong.ground.kafka import admin_client, partition_counts, standalone_consumer
from vanphong.ground.kafka_protocol import known_topic_ids
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EVENT_TYPES


async def logs(settings: Settings, topics: list[str]) -> dict[tuple[str, int], Seen]:
    """Per partition of ``topics``: its log start and end (the last stable offset) and its
    topic's id (None on a broker too old to tell)."""
    async with admin_client(settings) as admin:
        counts = await partition_counts(admin, topics)
        missing = set(topics) - set(counts)
        if missing:
            raise LookupError(f"topics missing: {', '.join(sorted(missing))} (run `vanphong init`)")
        ids = await known_topic_ids(admin._client, topics)
    partitions = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    async with standalone_consumer(settings) as consumer:
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    return {
        (tp.topic, tp.partition): Seen(
            log_start=starts[tp],
            log_end=ends[tp],
            topic_id=ids[tp.topic].topic_id if tp.topic in ids else None,
        )
        for tp in partitions
    }


async def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """The end offsets (last stable offsets) of every partition of ``topics``."""
    return {tp: seen.log_end or 0 for tp, seen in (await logs(settings, topics)).items()}


async def stored_offsets(database_url: str) -> dict[tuple[str, int], Stored]:
    conn = await pgconnect.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset, topic_id::text AS topic_id, rewind_to"
            " FROM core.sink_offsets"
        )
    finally:
        await conn.close()
    return {
        (r["topic"], r["partition"]): Stored(r["next_offset"], r["topic_id"], r["rewind_to"])
        for r in rows
    }


async def applied_offsets(database_url: str) -> dict[tuple[str, int], int]:
    """PostgreSQL's next offset to apply, per partition it has a row for."""
    return {tp: s.next_offset for tp, s in (await stored_offsets(database_url)).items()}


async def backlog(settings: Settings) -> dict[tuple[str, int], int]:
    """Messages not yet applied, per input partition that has any."""
    seen = await logs(settings, [settings.topic(e.topic) for e in EVENT_TYPES])
    stored = await stored_offsets(settings.database_url)
    left = {
        tp: lag(s.log_end or 0, applied_offset(stored.get(tp), s), s.log_start or 0)
        for tp, s in seen.items()
    }
    return {tp: n for tp, n in left.items() if n}


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
