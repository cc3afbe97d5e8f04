"""The Kafka commit of what PostgreSQL holds, on faust's consumer thread.

PostgreSQL's offsets are the truth (streams/transport.py, sinks/postgres.py); the Kafka commit
follows them once a second, for lag tools and restarts, and its failure is never fatal: a stale
Kafka commit only means re-reading messages that the sink skips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import faust
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from vanphong.ground.logs import get_logger
from vanphong.streams.transport import BatchConsumer

log = get_logger("vanphong.transport")


async def commit_offsets(app: faust.App, offsets: Mapping[tuple[str, int], int]) -> bool:
    """Commit ``offsets`` (next offsets) of the partitions still assigned to Kafka; ``False`` if
    Kafka refused or was unreachable, which is logged and otherwise harmless (module docstring).
    faust's own commit (``Consumer._commit``) crashes the worker on most errors, hence this."""
    consumer = cast(BatchConsumer, app.consumer)
    thread = consumer._thread

    async def commit() -> bool:
        kafka = thread._ensure_consumer()
        assigned = kafka.assignment()
        wanted = {TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in offsets.items()}
        committable = {tp: om for tp, om in wanted.items() if tp in assigned}
        if committable:
            await kafka.commit(committable)
        return True

    try:
        return cast(bool, await thread.call_thread(commit))
    except Exception as exc:  # PostgreSQL holds the offsets; the next commit catches up
        log.info("kafka commit skipped", error=f"{type(exc).__name__}: {exc}")
        return False
