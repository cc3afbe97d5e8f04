"""The worker's runtime: whole fetches in, one PostgreSQL transaction per batch out.

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
* Failures have bounds (:meth:`Runtime.write`). The database unavailable (or the broker) is
  retried with backoff for as long as it lasts, never dead-lettered, and the batch is kept, so
  nothing is lost meanwhile. Two writers racing is retried within ``VANPHONG_CONTENTION_RETRIES``.
  Any other failure goes to the safety net (vanphong/core/safetynet.py): the batch is split until
  the message the database refuses is found and dead-lettered, the rest goes through; a failure that
  is the system's is retried within ``VANPHONG_FAULT_RETRIES`` (``/healthz`` red meanwhile), then
  the worker logs the batch's coordinates and the error and exits non-zero, so its supervisor
  restarts it and the restart reads the batch again from the committed offsets.
* The dead-letter relay (streams/deadletters.py) runs in a task of its own, woken after a commit
  with dead letters and every ``VANPHONG_RELAY_INTERVAL_S``: a hung broker delays dead letters on
  their topic (they are safe in the outbox), never a write to PostgreSQL.
* Observability (streams/monitor.py, streams/web.py): ``Runtime.write`` reports each committed
  batch to the :class:`~streams.monitor.Monitor` (once per batch, never per event); the monitor
  and the web server are services of the faust Worker, started before the app and stopped after
  it, so ``/healthz`` answers from the first second. faust's own web stack stays off.

The faust app around it (consumer, subscriptions, logging, the worker's main) is streams/app.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import faust
import mode
from tenacity import AsyncRetrying, retry_if_exception_type

from vanphong.core.batch import Accepted, Item, Plan, passed, resumed
from vanphong.core.rejection import ContentionError, Rejection, TransientError
from vanphong.core.safetynet import SystemFault, stand_in, write_netted
from vanphong.ground.logs import get_logger
from vanphong.ground.schema_registry import SchemaRegistryClient
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.schemas.codec import default_registry
from vanphong.sinks.postgres import PostgresSink, blame, describe, refusal
from vanphong.streams.backlog import Backlog
from vanphong.streams.deadletters import DeadLetterRelay, Producer
from vanphong.streams.kafka_commit import commit_offsets
from vanphong.streams.monitor import TP, Monitor
from vanphong.streams.pipeline import prepare_partition
from vanphong.streams.transport import Fetched, Marks
from vanphong.streams.writer_schemas import WriterSchemas

log = get_logger("vanphong.worker")


def backoff_s(retry: int) -> float:
    """Before retry number ``retry`` (1, 2, …): 0.2 s doubling to 10 s, plus up to 0.5 s of
    jitter. The one retry curve of the worker (the sink's connection retries use it too)."""
    return min(10.0, 0.2 * 2 ** min(retry - 1, 16)) + random.uniform(0, 0.5)


def _settled(items: Sequence[Item]) -> dict[TP, int]:
    """The next offset after the batch, per partition (a partition's items are in offset order).
    Every item of a written batch is settled: applied, unchanged, dead-lettered or, if it was
    applied before, dropped as a redelivery. A position mark's ``at.offset + 1`` is the
    consumer's position where it stands in the stream (vanphong/core/batch.py), so it settles up
    to there like a message."""
    return {(i.at.topic, i.at.partition): i.at.offset + 1 for i in items}


class Runtime(mode.Service):
    """The worker's moving parts: the backlogs and their writers, the PostgreSQL sink, the
    dead-letter relay and the Kafka commits."""

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
        self._to_commit: dict[TP, int] = {}
        self._relay_wanted = asyncio.Event()
        # Confluent-framed input: schema ids looked up in the registry before a fetch decodes
        self.writer_schemas = WriterSchemas(
            SchemaRegistryClient.from_settings(settings), default_registry()
        )

    async def on_start(self) -> None:
        def retrying(s: Any) -> None:
            self.monitor.on_transient_failure("database")
            log.warning(
                "database unavailable, retrying",
                error=str(s.outcome.exception()) if s.outcome else "",
            )

        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=lambda s: backoff_s(s.attempt_number),
            before_sleep=retrying,
        ):
            with attempt:
                sink = await PostgresSink.connect(self.settings.database_url, self.settings.zone)
        self.sink = sink
        self.relay = DeadLetterRelay(sink.pool, self.settings, self.producer_factory)
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
        before them, *passed* after them."""
        await self._look_up_writer_schemas(fetched)
        by_id = self.writer_schemas.by_id
        shares: list[list[Item]] = [[] for _ in self.backlogs]
        if marks:
            self._put_resumed(shares, marks)
        gapped = marks.passed if marks else {}
        for (topic, partition), records in fetched.items():
            found = gapped.get((topic, partition))
            event_type = self.event_types[topic]
            shares[partition % len(shares)].extend(
                prepare_partition(topic, partition, records, event_type, by_id, found)
            )
        for (topic, partition), found in gapped.items():
            if (topic, partition) not in fetched:  # nothing but gaps (or a heartbeat)
                share = shares[partition % len(shares)]
                share.extend(passed(topic, partition, to, since) for since, to in found)
        for backlog, items in zip(self.backlogs, shares, strict=True):
            if items:
                await backlog.put(items)

    async def _look_up_writer_schemas(self, fetched: Fetched) -> None:
        """The writer schemas of the fetch's Confluent-framed messages not seen before, from the
        Schema Registry (streams/writer_schemas.py). A registry that does not answer is waited
        for, retried with backoff for as long as it lasts: never a dead letter."""
        retry = 0
        while True:
            try:
                await self.writer_schemas.prefetch(
                    r.value for records in fetched.values() for r in records
                )
                return
            except TransientError as exc:
                retry += 1
                self.monitor.on_transient_failure("schema_registry")
                log.warning("schema registry unavailable, retrying", error=str(exc), attempt=retry)
                await asyncio.sleep(backoff_s(retry))

    def _put_resumed(self, shares: list[list[Item]], marks: Marks) -> None:
        """The *resumed* marks of a fetch, with the contract's partition count of each topic."""
        for (topic, partition), (offset, seen) in marks.resumed.items():
            contract = self.event_types[topic].partitions
            shares[partition % len(shares)].append(
                resumed(topic, partition, offset, replace(seen, contract_partitions=contract))
            )

    async def _write_batches(self, backlog: Backlog, writer: int = 0) -> None:
        """One writer. A failure that :meth:`write` gives up on ends the worker: it is logged with
        the batch's coordinates, ``/healthz`` turns red, and the exception crashes the faust
        Worker, which exits with status 1 (tests/test_poison.py measures both)."""
        await self.ready.wait()
        while not self.should_stop:
            items = await backlog.take(self.settings.batch_max_wait_s)
            try:
                dead_letters, settled = await self.write(items, writer)
            except Exception as exc:
                self._give_up(exc, items)
                raise
            if dead_letters:
                self._relay_wanted.set()
            self._to_commit.update(settled)

    def _give_up(self, exc: Exception, items: Sequence[Item]) -> None:
        """The last word on a batch the worker cannot write: its coordinates and the error, in
        the log and on ``/healthz``, before the exception ends the process."""
        failure: dict[str, Any] = {
            "error": describe(exc),
            "partitions": _offset_ranges(items),
            "events": len(items),
        }
        if isinstance(exc, SystemFault):
            at = exc.item.at
            failure.update(
                error=describe(exc.error),
                at={"topic": at.topic, "partition": at.partition, "offset": at.offset},
                attempts=exc.attempts,
            )
        self.monitor.on_fatal(failure)
        log.critical("batch failed, the worker exits", exc_info=exc, **failure)

    @mode.Service.timer(1.0)
    async def _commit_to_kafka(self) -> None:
        """What PostgreSQL holds, told to Kafka once a second (for lag tools and restarts)."""
        if self._to_commit and self.app is not None:
            offsets, self._to_commit = self._to_commit, {}
            if not await commit_offsets(self.app, offsets):
                self._to_commit = {**offsets, **self._to_commit}

    async def _relay_dead_letters(self) -> None:
        """The relay's own loop: a round after every commit with dead letters, and every
        ``VANPHONG_RELAY_INTERVAL_S`` (a round that failed, or found more than it takes, is
        followed by another). Nothing here is awaited by a writer."""
        await self.ready.wait()
        while not self.should_stop:
            self._relay_wanted.clear()
            if await self.relay_dead_letters():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relay_wanted.wait(), self.settings.relay_interval_s)

    async def relay_dead_letters(self) -> bool:
        """One round of the relay; True if it should be followed by another at once. Best
        effort: a dead letter that cannot be sent now stays in the outbox for the next round."""
        assert self.relay is not None
        try:
            done = await self.relay.relay()
        except (Exception, asyncio.CancelledError) as exc:  # the outbox keeps it: next round
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and (
                self.should_stop or (task is not None and task.cancelling())
            ):
                raise  # we are stopping; anything else (aiokafka's stop() can raise a stray
                # CancelledError after a deadline cut its start() short) must not end the loop
            self.monitor.on_transient_failure("dead_letter_relay")
            log.warning("dead letters not relayed yet", error=f"{type(exc).__name__}: {exc}")
            return False
        if done.sent or done.recovered:
            log.info("dead letters relayed", sent=done.sent, recovered=done.recovered)
        return done.more

    async def write(self, items: Sequence[Item], writer: int = 0) -> tuple[int, dict[TP, int]]:
        """Write a batch, each part reported to the monitor once committed; return how many dead
        letters it wrote and the next offset per partition that PostgreSQL holds after it (the
        batch's end, unless the fence found the database behind and the partition rewinds).
        Failures (module docstring):

        * the database unavailable: retried for as long as it lasts;
        * two writers racing: retried within ``VANPHONG_CONTENTION_RETRIES`` for the batch (each
          part of a split batch still gets one retry), then deterministic;
        * deterministic: the safety net (vanphong/core/safetynet.py) splits the batch, dead-letters
        a
          message the database refuses, and retries a failure of the system's within
          ``VANPHONG_FAULT_RETRIES`` (``/healthz`` red meanwhile) before raising
          :class:`~vanphong.core.safetynet.SystemFault`.
        """
        assert self.sink is not None
        sink = self.sink
        self.monitor.on_batch_received(_settled(items))
        durable: dict[TP, int] = {}
        dead_letters = 0
        contention_left = self.settings.contention_retries
        parts = 0

        async def attempt(part: Sequence[Item]) -> None:
            nonlocal dead_letters, contention_left, parts
            parts += 1
            if parts > 1:
                self.monitor.on_retry("bisect")
            # Only a few scalars for the log lines: keep the batch out of long-lived objects.
            first = part[0].at
            where = {
                "topic": first.topic,
                "partition": first.partition,
                "offset": first.offset,
                "events": len(part),
            }
            unavailable = contended = 0
            while True:
                started = time.perf_counter()
                try:
                    plan = await sink.write(part)
                    elapsed = time.perf_counter() - started
                    break
                except ContentionError as exc:
                    contended += 1
                    if contention_left > 0:
                        contention_left -= 1
                    elif contended > 1 or self.settings.contention_retries == 0:
                        raise  # no longer a race: the safety net judges it
                    kind, retry, error = "contention", contended, describe(exc)
                except TransientError as exc:
                    unavailable += 1
                    kind, retry, error = "unavailable", unavailable, describe(exc)
                self.monitor.on_transient_failure("database")
                self.monitor.on_retry(kind)
                log.warning(
                    "batch not written, retrying",
                    error=error,
                    kind=kind,
                    attempt=retry,
                    **where,
                )
                await asyncio.sleep(backoff_s(retry))
            durable.update(plan.settled)
            self.monitor.on_batch_committed(
                Counter([i.at.topic for i in part]), plan, plan.settled, elapsed
            )
            _log_rejections(plan)
            dead_letters += len(plan.dead_letters)

        async def dead_letter(item: Item, error: BaseException) -> None:
            if not isinstance(item.outcome, Accepted | Rejection):
                raise error  # a position mark carries no data: its failure is the system's
            rejection = refusal(error)
            log.error(
                "message refused by PostgreSQL, dead-lettered",
                topic=item.at.topic,
                partition=item.at.partition,
                offset=item.at.offset,
                error=describe(error),
            )
            await attempt([Item(item.at, item.key, item.value, rejection)])

        async def retry(error: BaseException, n: int) -> bool:
            if n > self.settings.fault_retries:
                return False
            failure = {
                "error": describe(error),
                "partitions": _offset_ranges(items),
                "retry": n,
                "of": self.settings.fault_retries,
            }
            self.monitor.on_retry("fault")
            self.monitor.on_failing(writer, failure)
            log.error("batch failed, retrying", **failure)
            await asyncio.sleep(backoff_s(n))
            return True

        try:
            await write_netted(items, attempt, dead_letter, blame, retry, self.rehearse)
        finally:
            self.monitor.on_failing(writer, None)
        return dead_letters, durable

    async def rehearse(self, item: Item) -> bool:
        """Whether a stand-in of ``item`` (its content under other identities) is written, in a
        transaction rolled back: if so, the system works and ``item`` itself is at fault
        (vanphong/core/safetynet.py). A position mark or a dead letter has no stand-in."""
        assert self.sink is not None
        outcome = item.outcome
        if not isinstance(outcome, Accepted):
            return False
        twin = Accepted(outcome.event_type, stand_in(outcome.event_type, outcome.record))
        try:
            await self.sink.rehearse([Item(item.at, item.key, item.value, twin)])
        except Exception as exc:
            log.warning("a stand-in of the message failed too", error=describe(exc))
            return False
        log.warning(
            "a stand-in of the message went through: the message is at fault",
            topic=item.at.topic,
            partition=item.at.partition,
            offset=item.at.offset,
        )
        return True


def _log_rejections(plan: Plan) -> None:
    for item, rejection in plan.dead_letters:
        log.warning(
            "rejected",
            reason=str(rejection.reason),
            detail=rejection.detail,
            topic=item.at.topic,
            partition=item.at.partition,
            offset=item.at.offset,
        )


def _offset_ranges(items: Sequence[Item]) -> dict[str, str]:
    """``{"document-issued.v1/3": "120-180"}``: a batch's offsets per partition, for a log line."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for i in items:
        key = (i.at.topic, i.at.partition)
        low, high = ranges.get(key, (i.at.offset, i.at.offset))
        ranges[key] = (min(low, i.at.offset), max(high, i.at.offset))
    return {f"{t}/{p}": f"{low}-{high}" for (t, p), (low, high) in sorted(ranges.items())}
