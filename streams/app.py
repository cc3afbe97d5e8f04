"""The faust-streaming worker: whole fetches in, one PostgreSQL transaction per batch out.

How a message travels: faust's consumer (streams/transport.py) hands each fetch to
:meth:`Runtime.on_fetched`, which decodes, validates and normalises it (streams/pipeline.py)
into a :class:`~streams.backlog.Backlog`; that backlog's writer takes batches from it and
commits each in one PostgreSQL transaction with its offsets (sinks/postgres.py); then the
offsets go to Kafka.

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
* A transient failure (database or broker down) is retried with backoff, never dead-lettered,
  and the batch is kept, so nothing is lost while it lasts. Any other failure is a bug: the
  writer crashes the worker, and a restart reads the batch again from the committed offsets.
* Observability (streams/monitor.py, streams/web.py): ``Runtime.write`` reports each committed
  batch to the :class:`~streams.monitor.Monitor` (once per batch, never per event); the monitor
  and the web server are services of the faust Worker, started before the app and stopped after
  it, so ``/healthz`` answers from the first second. faust's own web stack stays off.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import faust
import mode
import structlog
from faust.sensors.monitor import Monitor as FaustMonitor
from faust.types import Message
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from schemas.catalog import EVENT_TYPES, EventType
from sinks.postgres import PostgresSink
from streams.backlog import Backlog
from streams.deadletters import DeadLetterRelay
from streams.monitor import TP, Monitor
from streams.pipeline import prepare
from streams.transport import BatchApp, Fetched, commit_offsets
from streams.web import WebServer
from vanphong.batch import Coordinates, Item, Plan
from vanphong.logs import get_logger
from vanphong.rejection import TransientError
from vanphong.settings import Settings

log = get_logger("vanphong.worker")

_RETRY_WAIT = wait_exponential_jitter(multiplier=0.2, max=10.0, jitter=0.5)


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def _settled(items: Sequence[Item]) -> dict[TP, int]:
    """The next offset after the batch, per partition (a partition's items are in offset order).
    Every item of a written batch is settled: applied, unchanged, dead-lettered or, if it was
    applied before, dropped as a redelivery."""
    return {(i.at.topic, i.at.partition): i.at.offset + 1 for i in items}


class Runtime(mode.Service):
    """The worker's moving parts: the backlogs and their writers, the PostgreSQL sink, the
    dead-letter relay and the Kafka commits."""

    def __init__(self, settings: Settings, monitor: Monitor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.monitor = monitor
        self.app: faust.App | None = None
        self.sink: PostgresSink | None = None
        self.relay: DeadLetterRelay | None = None
        self.ready = asyncio.Event()
        self.backlogs = [Backlog(settings.batch_max_events) for _ in range(settings.writers)]
        self.event_types = {settings.topic(e.topic): e for e in EVENT_TYPES}
        self._to_commit: dict[TP, int] = {}

    async def on_start(self) -> None:
        def retrying(s: Any) -> None:
            self.monitor.on_transient_failure("database")
            log.warning(
                "database unavailable, retrying",
                error=str(s.outcome.exception()) if s.outcome else "",
            )

        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientError), wait=_RETRY_WAIT, before_sleep=retrying
        ):
            with attempt:
                sink = await PostgresSink.connect(self.settings.database_url, self.settings.zone)
        self.sink = sink
        self.relay = DeadLetterRelay(sink.pool, self.settings)
        await self.relay.start()
        self.ready.set()
        self.monitor.on_sink_ready(sink.worker_id)
        await self.relay_dead_letters()
        log.info("sink ready", worker=sink.worker_id)

    async def on_stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        if self.sink is not None:
            await self.sink.close()

    async def on_started(self) -> None:
        for backlog in self.backlogs:
            self.add_future(self._write_batches(backlog))

    async def on_fetched(self, fetched: Fetched) -> None:
        """decode → validate → normalise one fetch into the backlogs (waits while one is full).
        A partition always goes to the same backlog, so its batches commit in offset order."""
        shares: list[list[Item]] = [[] for _ in self.backlogs]
        for (topic, partition), records in fetched.items():
            event_type = self.event_types[topic]
            shares[partition % len(shares)].extend(
                prepare(Coordinates(topic, partition, r.offset), r.key, r.value, event_type)
                for r in records
            )
        for backlog, items in zip(self.backlogs, shares, strict=True):
            if items:
                await backlog.put(items)

    async def _write_batches(self, backlog: Backlog) -> None:
        """One writer. An exception here is a bug: it crashes the worker (module docstring)."""
        await self.ready.wait()
        while not self.should_stop:
            items = await backlog.take(self.settings.batch_max_wait_s)
            try:
                plan, settled = await self.write(items)
            except Exception:
                log.exception(
                    "batch failed", topic=items[0].at.topic, partitions=_offset_ranges(items)
                )
                raise
            for item, rejection in plan.dead_letters:
                log.warning(
                    "rejected",
                    reason=str(rejection.reason),
                    detail=rejection.detail,
                    topic=item.at.topic,
                    partition=item.at.partition,
                    offset=item.at.offset,
                )
            if plan.dead_letters:
                await self.relay_dead_letters()
            self._to_commit.update(settled)

    @mode.Service.timer(1.0)
    async def _commit_to_kafka(self) -> None:
        """What PostgreSQL holds, told to Kafka once a second (for lag tools and restarts)."""
        if self._to_commit and self.app is not None:
            offsets, self._to_commit = self._to_commit, {}
            if not await commit_offsets(self.app, offsets):
                self._to_commit = {**offsets, **self._to_commit}

    @mode.Service.timer(5.0)
    async def _relay_periodically(self) -> None:
        if self.ready.is_set():
            await self.relay_dead_letters()

    async def write(self, items: Sequence[Item]) -> tuple[Plan, dict[TP, int]]:
        """Write a batch, retrying transient failures for as long as they last; report it to
        the monitor once committed. Returns the plan and the next offset per partition."""
        assert self.sink is not None
        sink = self.sink
        settled = _settled(items)
        self.monitor.on_batch_received(settled)

        # Only a few scalars for the callback: tenacity's objects form reference cycles, which
        # would keep the whole batch alive until a full garbage collection.
        first = items[0].at
        where = {
            "topic": first.topic,
            "partition": first.partition,
            "offset": first.offset,
            "events": len(items),
        }

        def retrying(s: Any) -> None:
            self.monitor.on_transient_failure("database")
            log.warning(
                "batch not written, retrying",
                error=str(s.outcome.exception()) if s.outcome else "",
                attempt=s.attempt_number,
                **where,
            )

        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientError), wait=_RETRY_WAIT, before_sleep=retrying
        ):
            with attempt:
                started = time.perf_counter()
                plan = await sink.write(items)
                elapsed = time.perf_counter() - started
                break
        else:
            raise AssertionError("unreachable")
        consumed = Counter([i.at.topic for i in items])
        self.monitor.on_batch_committed(consumed, plan, settled, elapsed)
        return plan, settled

    async def relay_dead_letters(self) -> None:
        """Best effort: a dead letter that cannot be sent now stays in the outbox for later."""
        assert self.relay is not None
        try:
            await self.relay.relay()
        except Exception as exc:  # the outbox keeps it; the timer tries again
            self.monitor.on_transient_failure("dead_letter_relay")
            log.warning("dead letters not relayed yet", error=f"{type(exc).__name__}: {exc}")


class _QuietFaustMonitor(FaustMonitor):
    """faust's main sensor without its per-message bookkeeping.

    faust's Monitor records every message in and out for its own web pages and statistics,
    which vanphong does not use (streams/monitor.py counts per batch)."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        return None

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: faust.StreamT, event: faust.EventT
    ) -> dict[str, Any] | None:
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: faust.StreamT,
        event: faust.EventT,
        state: dict[str, Any] | None = None,
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None


def create_app(settings: Settings, monitor: Monitor | None = None) -> faust.App:
    """The faust app: subscribed to every input topic, the runtime as a service. ``monitor``
    (created if not given) learns the assignment from the app's consumer once the sink is
    ready."""
    monitor = Monitor(settings) if monitor is None else monitor
    settings.worker_data_dir.mkdir(parents=True, exist_ok=True)  # faust makes only the leaf
    runtime = Runtime(settings, monitor)
    app = BatchApp(
        settings.consumer_group,
        on_fetched=runtime.on_fetched,
        datadir=str(settings.worker_data_dir),  # faust's default is the current directory
        broker=_broker_urls(settings.kafka_bootstrap),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        # faust's web stack (table pages) stays off; streams/web.py serves this port instead.
        web_enabled=False,
        web_port=settings.web_port,
        web_host=settings.web_host,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_max_poll_records=settings.batch_max_events,
        producer_acks=-1,
    )
    app.monitor = _QuietFaustMonitor()
    runtime.app = app
    app.service(runtime)  # type: ignore[arg-type]  # faust takes an instance too

    def assignment() -> set[TP]:
        # The sink starts after faust's first rebalance; before that the consumer may not exist.
        if not runtime.ready.is_set():
            return set()
        return {(tp.topic, tp.partition) for tp in app.consumer.assignment()}

    monitor.assignment = assignment
    for event_type in EVENT_TYPES:
        _subscribe(app, settings, event_type)
    return app


def _subscribe(app: faust.App, settings: Settings, event_type: EventType) -> None:
    """Subscribe the consumer to the type's topic. ``acks=False``: faust tracks no acks for it,
    the Runtime commits (and faust's ack-based stall warnings stay quiet)."""
    topic = app.topic(
        settings.topic(event_type.topic),
        key_serializer="raw",
        value_serializer="raw",
        partitions=event_type.partitions,
        acks=False,
    )
    app.topics.add(topic)


def _offset_ranges(items: Sequence[Item]) -> dict[str, str]:
    """``{"document-issued.v1/3": "120-180"}``: a batch's offsets per partition, for a log line."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for i in items:
        key = (i.at.topic, i.at.partition)
        low, high = ranges.get(key, (i.at.offset, i.at.offset))
        ranges[key] = (min(low, i.at.offset), max(high, i.at.offset))
    return {f"{t}/{p}": f"{low}-{high}" for (t, p), (low, high) in sorted(ranges.items())}


def logging_config(settings: Settings) -> dict[str, Any] | None:
    """With ``VANPHONG_LOG_FORMAT=json``, the standard library's records (faust, mode, aiokafka)
    become JSON lines too, rendered by structlog like vanphong's own; ``None`` keeps faust's
    console format."""
    if settings.log_format != "json":
        return None
    level = logging.getLevelName(settings.log_level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                ],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(ensure_ascii=False),
                ],
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def tune_garbage_collector() -> None:
    """Collect young objects every 50,000 allocations instead of 700.

    A batch allocates a few dicts and tuples per event that all die together when it is
    written; with the default threshold the collector ran every few dozen events and walked the
    whole backlog each time (about 15 % of the worker's CPU, docs/performance.md). What was
    allocated at start-up (modules, faust's objects) is frozen out of the collector's view."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (faust's Worker handles the signals).

    The monitor and the web server start before the app and stop after it."""
    tune_garbage_collector()
    monitor = Monitor(settings)
    app = create_app(settings, monitor)
    web = WebServer(settings, monitor)
    json_logs = settings.log_format == "json"
    worker = faust.Worker(
        app,
        monitor,
        web,
        loglevel=settings.log_level.lower(),
        logging_config=logging_config(settings),
        quiet=json_logs,  # no banner on stdout: every line is JSON
    )
    worker.execute_from_commandline()
