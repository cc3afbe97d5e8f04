"""The checkpoint: the one place that says what is durable, and when.

A batch's offsets pass three stages:

1. **taken**: a writer took the batch from its backlog; :func:`settled_offsets` says where each
   partition will stand once it is written (the monitor counts it as lag at once). Nothing is
   durable yet: a crash here reads the batch again.
2. **durable**: the batch's PostgreSQL transaction committed, and with it the next offsets it
   settled (``Plan.settled``, stored in ``core.sink_offsets`` by sinks/postgres.py, under the
   partitions' row locks). That is the truth: PostgreSQL, not Kafka, decides what was applied,
   and a redelivery below these offsets is dropped by the sink. A writer hands them to
   :meth:`Checkpoint.store`.
3. **told to Kafka**: every :data:`COMMIT_INTERVAL_S`, :meth:`Checkpoint.commit` commits what
   PostgreSQL holds to Kafka (for lag tools and restarts), never ahead of it. Its failure is
   never fatal: the offsets are kept for the next commit, and a stale Kafka commit only means
   re-reading messages that the sink skips.

The Kafka commit runs on faust's consumer thread (:func:`commit_offsets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import faust
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from vanphong.core.batch import Item
from vanphong.core.lag import TP
from vanphong.ground.logs import get_logger
from vanphong.streams.transport import BatchConsumer

log = get_logger("vanphong.transport")

#: How often what PostgreSQL holds is told to Kafka.
COMMIT_INTERVAL_S = 1.0


def settled_offsets(items: Sequence[Item]) -> dict[TP, int]:
    """The next offset after the batch, per partition (a partition's items are in offset order).
    Every item of a written batch is settled: applied, unchanged, dead-lettered or, if it was
    applied before, dropped as a redelivery. A position mark's ``at.offset + 1`` is the
    consumer's position where it stands in the stream (vanphong/core/batch.py), so it settles up
    to there like a message."""
    return {(i.at.topic, i.at.partition): i.at.offset + 1 for i in items}


class Checkpoint:
    """The offsets PostgreSQL holds that Kafka has not been told yet (module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[TP, int] = {}

    def store(self, durable: Mapping[TP, int]) -> None:
        """A batch's transaction committed: these next offsets are durable in PostgreSQL."""
        self._pending.update(durable)

    async def commit(self, app: faust.App | None) -> None:
        """Tell Kafka what PostgreSQL holds; on failure keep it (newer offsets win) for the next
        commit."""
        if self._pending and app is not None:
            offsets, self._pending = self._pending, {}
            if not await commit_offsets(app, offsets):
                self._pending = {**offsets, **self._pending}


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
