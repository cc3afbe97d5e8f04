"""The faust-streaming worker: one agent per input topic, each moving batches into the sink.

Why the agents look the way they do:

* ``concurrency=1`` and manual acks: events are acked only after the PostgreSQL transaction that
  applied them has committed, so the offset faust commits to Kafka never passes what PostgreSQL
  holds. (``Stream.take_events`` acks in a ``finally``, even when the batch failed or was
  cancelled, so it is not used.)
* PostgreSQL, not Kafka, decides what was applied: redeliveries after a crash or rebalance are
  dropped by the sink's stored offsets, under a row lock.
* No faust tables: all state lives in PostgreSQL, so a restart rebuilds nothing from changelogs.
* A transient failure (database or broker down) is retried with backoff, never dead-lettered and
  never acked, so nothing is lost while it lasts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import faust
import mode
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from schemas.catalog import EVENT_TYPES, EventType
from sinks.postgres import PostgresSink
from streams.batching import batches
from streams.deadletters import DeadLetterRelay
from streams.pipeline import prepare
from vanphong.batch import Coordinates, Item, Plan
from vanphong.logs import get_logger
from vanphong.rejection import TransientError
from vanphong.settings import Settings

log = get_logger("vanphong.worker")

_RETRY_WAIT = wait_exponential_jitter(initial=0.2, max=10.0)


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


class Runtime(mode.Service):
    """The worker's connections: PostgreSQL pool and dead-letter relay, started once."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.sink: PostgresSink | None = None
        self.relay: DeadLetterRelay | None = None
        self.ready = asyncio.Event()

    async def on_start(self) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=_RETRY_WAIT,
            before_sleep=lambda s: log.warning(
                "database unavailable, retrying",
                error=str(s.outcome.exception()) if s.outcome else "",
            ),
        ):
            with attempt:
                sink = await PostgresSink.connect(self.settings.database_url, self.settings.zone)
        self.sink = sink
        self.relay = DeadLetterRelay(sink.pool, self.settings)
        await self.relay.start()
        self.ready.set()
        await self.relay_dead_letters()
        log.info("sink ready", worker=sink.worker_id)

    async def on_stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        if self.sink is not None:
            await self.sink.close()

    @mode.Service.timer(5.0)
    async def _relay_periodically(self) -> None:
        if self.ready.is_set():
            await self.relay_dead_letters()

    async def write(self, items: Sequence[Item]) -> Plan:
        """Write a batch, retrying transient failures for as long as they last."""
        assert self.sink is not None
        sink = self.sink
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=_RETRY_WAIT,
            before_sleep=lambda s: log.warning(
                "batch not written, retrying",
                error=str(s.outcome.exception()) if s.outcome else "",
                topic=items[0].at.topic,
                partition=items[0].at.partition,
                offset=items[0].at.offset,
                attempt=s.attempt_number,
            ),
        ):
            with attempt:
                return await sink.write(items)
        raise AssertionError("unreachable")

    async def relay_dead_letters(self) -> None:
        """Best effort: a dead letter that cannot be sent now stays in the outbox for later."""
        assert self.relay is not None
        try:
            await self.relay.relay()
        except Exception as exc:  # the outbox keeps it; the timer tries again
            log.warning("dead letters not relayed yet", error=f"{type(exc).__name__}: {exc}")


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.consumer_group,
        broker=_broker_urls(settings.kafka_bootstrap),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        web_port=settings.web_port,
        web_host="127.0.0.1",
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        producer_acks=-1,
    )
    runtime = Runtime(settings)
    app.service(runtime)  # type: ignore[arg-type]  # faust takes an instance too
    for event_type in EVENT_TYPES:
        _add_agent(app, runtime, settings, event_type)
    return app


def _add_agent(app: faust.App, runtime: Runtime, settings: Settings, event_type: EventType) -> None:
    topic = app.topic(
        settings.topic(event_type.topic),
        key_serializer="raw",
        value_serializer="raw",
        partitions=event_type.partitions,
    )

    async def apply(stream: faust.StreamT) -> None:
        await runtime.ready.wait()
        manual = stream.noack()  # type: ignore[attr-defined]
        async for events in batches(
            manual.events(), settings.batch_max_events, settings.batch_max_wait_s
        ):
            items = [_item(event, event_type) for event in events]
            plan = await runtime.write(items)
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
                await runtime.relay_dead_letters()
            for event in events:
                await manual.ack(event)

    apply.__name__ = f"apply_{event_type.record}"
    app.agent(topic, name=f"vanphong.apply.{event_type.record}", concurrency=1)(apply)


def _item(event: faust.EventT, event_type: EventType) -> Item:
    message = event.message
    at = Coordinates(message.topic, message.partition, message.offset)
    return prepare(at, message.key, message.value, event_type)


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (faust's Worker handles the signals)."""
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()
