"""faust's Kafka consumer, handing each fetch to vanphong whole instead of one message at a time.

faust keeps what it is good at: the consumer group, rebalancing, pausing and seeking, the
consumer thread, the worker's lifecycle. What it does per message on the way to an agent (a
``Message`` and an ``Event`` object, a ``wait_first`` with two tasks, two queue hops, reference
counting for acks) cost about half of the worker's CPU, and none of it is needed when the unit
of work is a batch and PostgreSQL, not faust's acks, decides what was applied
(docs/performance.md).

So :class:`BatchConsumer` replaces the fetcher's drain loop: each ``getmany`` result (partition →
records, in offset order) goes to one callback. Nothing is dropped here, not even a fetch that
straddles a rebalance: after one, aiokafka restarts every partition from its committed offset,
so messages may come twice, and the sink applies each offset once (vanphong/batch.py).

The Kafka commit is explicit (:func:`commit_offsets`), made after PostgreSQL's, and its failure
is never fatal: the offsets in PostgreSQL are the truth, a stale Kafka commit only means
re-reading messages that the sink skips.

This leans on internals of the pinned faust-streaming 0.15.3 (``_drain_messages``,
``_wait_next_records``, the consumer thread's ``call_thread``), which the exactly-once and fault
tests exercise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, cast

import faust
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from faust.tables import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import ConsumerT, ServiceT, TransportT

from vanphong.logs import get_logger

log = get_logger("vanphong.transport")

#: Partition → its fetched records, in offset order.
Fetched = Mapping[tuple[str, int], Sequence[ConsumerRecord[bytes, bytes]]]
OnFetched = Callable[[Fetched], Awaitable[None]]


class BatchConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer with a drain loop that delivers whole fetches."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Fetch, then hand the fetch over; wait while the receiver is full (its back-pressure
        stops the fetching, and aiokafka's prefetch buffer stays bounded)."""
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = cast(Any, fetcher)._stopped.is_set
        while not (consumer_stopped() or fetcher_stopped()):
            records, _ = await self._wait_next_records(timeout=1.0)
            if not records or self.should_stop:
                continue
            fetched = {(tp.topic, tp.partition): batch for tp, batch in records.items() if batch}
            if fetched:
                await cast(BatchApp, self.app).on_fetched(fetched)


class BatchTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = BatchConsumer


class NoTablesManager(TableManager):
    """faust's table manager without its one-second wait at start "for tables to be
    registered": vanphong declares no tables, and the wait was 40 % of a worker's start-up."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class BatchApp(faust.App):
    """A faust app whose consumer is :class:`BatchConsumer` (the producer stays faust's);
    ``on_fetched`` receives every fetch."""

    def __init__(self, *args: Any, on_fetched: OnFetched, **kwargs: Any) -> None:
        super().__init__(*args, TableManager=NoTablesManager, **kwargs)
        self.on_fetched = on_fetched

    def _new_transport(self) -> TransportT:
        return BatchTransport(self.conf.broker_consumer, self)


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
