"""The worker's runtime: whole fetches in, one PostgreSQL transaction per batch out. It only
dispatches; each job is a named part next door.

How a message travels: faust's consumer (streams/transport.py) hands each fetch to
:meth:`Runtime.on_fetched`, which decodes, validates and normalises it (streams/pipeline.py)
into a :class:`~streams.backlog.Backlog`; that backlog's writer takes batches from it and
writes each (streams/batch_writer.py) in one PostgreSQL transaction with its offsets
(sinks/postgres.py); then the checkpoint (streams/checkpoint.py) tells Kafka what PostgreSQL
holds.

The parts:

* **the write policy** (streams/write_policy.py): every retry, its budget and its
  classification, and the give-up. The database or the Schema Registry unavailable is waited
  for as long as it lasts, never dead-lettered; two writers racing is retried within
  ``VANPHONG_CONTENTION_RETRIES``; anything else goes to the safety net
  (vanphong/core/safetynet.py), and a fault of the system's that outlasts
  ``VANPHONG_FAULT_RETRIES`` ends the worker non-zero, so its supervisor restarts it and the
  restart reads the batch again from the committed offsets;
* **the batch writer** (streams/batch_writer.py): one batch through the safety net into the
  sink, reported to the :class:`~streams.monitor.Monitor` once per committed part;
* **the checkpoint** (streams/checkpoint.py): what is durable when (settled offsets in
  PostgreSQL's transaction, then the Kafka commit once a second, never ahead of it);
* **the relay loop** (streams/relay_loop.py): the dead-letter relay (streams/deadletters.py) in a
  task of its own, so a hung broker never holds a write to PostgreSQL.

Why it looks the way it does:

* Per partition, one writer and one batch in flight (the ``concurrency=1`` of a faust agent):
  ``VANPHONG_WRITERS`` writers (2) each own the partitions whose number modulo the count is
  theirs, so a partition's batches commit in order, and the Kafka commit follows PostgreSQL's
  and never passes what it holds. A batch spans topics; both halves of a task share the
  partition number (the same key), so they meet in one writer.
* While one writer's transaction is in PostgreSQL (on the other core), Python plans the other's
  and prepares the next fetch. Two writers touching the same aggregate row take turns on its
  row lock; the per-task advisory locks keep a task's halves apart when they do not meet.
* PostgreSQL, not Kafka, decides what was applied: redeliveries after a crash or rebalance are
  dropped by the sink's stored offsets, under a row lock.
* No faust tables: all state lives in PostgreSQL, so a restart rebuilds nothing from changelogs.
* Observability (streams/monitor.py, streams/web.py): the monitor and the web server are
  services of the faust Worker, started before the app and stopped after it, so ``/healthz``
  answers from the first second. faust's own web stack stays off.

The faust app around it (consumer, subscriptions, logging, the worker's main) is streams/app.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import faust
import mode

from vanphong.core.batch import Item, passed, resumed
from vanphong.ground.logs import get_logger
from vanphong.ground.schema_registry import SchemaRegistryClient
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.sinks.postgres import PostgresSink
from vanphong.streams.backlog import Backlog
from vanphong.streams.batch_writer import BatchWriter
from vanphong.streams.checkpoint import COMMIT_INTERVAL_S, Checkpoint
from vanphong.streams.deadletters import DeadLetterRelay, Producer
from vanphong.streams.monitor import Monitor
from vanphong.streams.pipeline import prepare_partition
from vanphong.streams.relay_loop import RelayLoop
from vanphong.streams.transport import Fetched, Marks
from vanphong.streams.write_policy import WritePolicy
from vanphong.streams.writer_schemas import WriterSchemas

log = get_logger("vanphong.worker")


class Runtime(mode.Service):
    """The worker's moving parts: the backlogs and their writers, the PostgreSQL sink, the
    dead-letter relay's loop and the checkpoint."""

    def __init__(
        self,
        settings: Settings,
        monitor: Monitor,
        producer_factory: Callable[[], Producer] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.monitor = monitor
        self.app: faust.App | None = None
        self.sink: PostgresSink | None = None
        self.relay: DeadLetterRelay | None = None
        self.producer_factory = producer_factory  # the relay's producer (tests: a hung broker)
        self.ready = asyncio.Event()
        self.backlogs = [Backlog(settings.batch_max_events) for _ in range(settings.writers)]
        self.event_types = {settings.topic(e.topic): e for e in EVENT_TYPES}
        self.policy = WritePolicy(settings, monitor)
        self.checkpoint = Checkpoint()
        self.writer: BatchWriter | None = None
        self.relay_loop: RelayLoop | None = None
        # Confluent-framed input: schema ids looked up in the registry before a fetch decodes
        self.writer_schemas = WriterSchemas(
            SchemaRegistryClient.from_settings(settings), settings.known_schemas()
        )

    async def on_start(self) -> None:
        settings = self.settings
        sink = await self.policy.connect(
            lambda: PostgresSink.connect(
                settings.database_url, settings.zone, settings.known_schemas()
            )
        )
        self.sink = sink
        self.writer = BatchWriter(sink, self.policy, self.monitor)
        self.relay = DeadLetterRelay(sink.pool, settings, self.producer_factory)
        self.relay_loop = RelayLoop(self.relay, settings, self.monitor, lambda: self.should_stop)
        self.ready.set()
        self.monitor.on_sink_ready(sink.worker_id)
        log.info("sink ready", worker=sink.worker_id)

    async def on_stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        if self.sink is not None:
            await self.sink.close()
        await self.writer_schemas.close()

    async def on_started(self) -> None:
        for writer, backlog in enumerate(self.backlogs):
            self.add_future(self._write_batches(backlog, writer))
        self.add_future(self._relay_dead_letters())

    async def on_fetched(self, fetched: Fetched, marks: Marks | None = None) -> None:
        """decode → validate → normalise one fetch into the backlogs (waits while one is full).
        A partition always goes to the same backlog, so its batches commit in offset order.
        Position marks (streams/transport.py) go in with the partition's messages: *resumed*
        before them, *passed* after them. The writer schemas of the fetch's Confluent-framed
        messages not seen before come from the Schema Registry first
        (streams/writer_schemas.py), waited for as the write policy says."""
        await self.policy.look_up(
            lambda: self.writer_schemas.prefetch(
                r.value for records in fetched.values() for r in records
            )
        )
        by_id, schemas = self.writer_schemas.by_id, self.writer_schemas.registry
        shares: list[list[Item]] = [[] for _ in self.backlogs]
        if marks:
            self._put_resumed(shares, marks)
        gapped = marks.passed if marks else {}
        for (topic, partition), records in fetched.items():
            found = gapped.get((topic, partition))
            event_type = self.event_types[topic]
            shares[partition % len(shares)].extend(
                prepare_partition(topic, partition, records, event_type, schemas, by_id, found)
            )
        for (topic, partition), found in gapped.items():
            if (topic, partition) not in fetched:  # nothing but gaps (or a heartbeat)
                share = shares[partition % len(shares)]
                share.extend(passed(topic, partition, to, since) for since, to in found)
        for backlog, items in zip(self.backlogs, shares, strict=True):
            if items:
                await backlog.put(items)

    def _put_resumed(self, shares: list[list[Item]], marks: Marks) -> None:
        """The *resumed* marks of a fetch, with the contract's partition count of each topic."""
        for (topic, partition), (offset, seen) in marks.resumed.items():
            contract = self.event_types[topic].partitions
            shares[partition % len(shares)].append(
                resumed(topic, partition, offset, replace(seen, contract_partitions=contract))
            )

    async def _write_batches(self, backlog: Backlog, writer: int = 0) -> None:
        """One writer. A failure that the write policy gives up on ends the worker: it is logged
        with the batch's coordinates, ``/healthz`` turns red, and the exception crashes the faust
        Worker, which exits with status 1 (tests/test_poison.py measures both)."""
        await self.ready.wait()
        assert self.writer is not None and self.relay_loop is not None
        while not self.should_stop:
            items = await backlog.take(self.settings.batch_max_wait_s)
            try:
                dead_letters, durable = await self.writer.write(items, writer)
            except Exception as exc:
                self.policy.give_up(exc, items)
                raise
            if dead_letters:
                self.relay_loop.wake()
            self.checkpoint.store(durable)

    @mode.Service.timer(COMMIT_INTERVAL_S)
    async def _commit_to_kafka(self) -> None:
        """What PostgreSQL holds, told to Kafka (streams/checkpoint.py)."""
        await self.checkpoint.commit(self.app)

    async def _relay_dead_letters(self) -> None:
        """The relay's own loop (streams/relay_loop.py): nothing there is awaited by a writer."""
        await self.ready.wait()
        assert self.relay_loop is not None
        await self.relay_loop.run()
