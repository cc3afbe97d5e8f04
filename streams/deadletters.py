"""Relaying dead letters from PostgreSQL to the dead-letter topic, each exactly once.

A batch records its dead letters in ``core.dead_letters`` in the same transaction as its offsets
(an outbox). This relay sends unsent rows afterwards. Dead letters of a source partition always
use the same dead-letter partition, and one relay at a time holds that partition's advisory
lock, so anything in the partition past the last offset recorded as sent was sent by a relay
that crashed or timed out before recording it: the relay reads that tail first and records
instead of re-sending (the recovery rule of vanphong/ground/tail.py, shared with ``dlq replay``).

It must never hold the writer (streams/runtime.py runs it in a task of its own, woken after a commit
with dead letters and on a timer), and a hung broker must not hold it either:

* every Kafka call has a deadline (``VANPHONG_RELAY_TIMEOUT_S``): starting the producer, reading
  the tail, each send, and the acknowledgements; past it the round fails and is tried again;
* a round takes at most ``VANPHONG_RELAY_BATCH`` rows per dead-letter partition;
* sends are batched: all of a round's messages are handed to the producer, then their
  acknowledgements awaited together;
* sends that time out are not abandoned: the idempotent producer keeps trying until its own
  request timeout settles them, and the partition's next round waits until they have settled
  (sent or failed) before it reads the tail, so a message that lands late is found there, not
  sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition

from schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC
from vanphong.core.deadletter import Source, dead_letter_headers, source_of
from vanphong.ground.kafka import kafka_client_kwargs
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.ground.tail import Record, recover, within

log = get_logger("vanphong.relay")

_LOCK_CLASS = 0x5650_444C  # "VPDL": the advisory-lock namespace of the relay


class Producer(Protocol):
    """What the relay needs of a Kafka producer (aiokafka's; tests give a broker that hangs)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]: ...


@dataclass
class Round:
    """What one round did: dead letters sent now, found already sent (recovered from the tail),
    and whether a partition had more rows than a round takes."""

    sent: int = 0
    recovered: int = 0
    more: bool = False
    waiting: int = 0  # partitions skipped: an earlier round's sends have not settled yet


class RelayError(Exception):
    """A round failed for some dead-letter partitions; the rows stay in the outbox."""


def _marked_source(record: Record) -> Source | None:
    return source_of(record.headers)


class DeadLetterRelay:
    """Sends the outbox. Call :meth:`relay` for a round; :meth:`stop` at the end."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        producer_factory: Callable[[], Producer] | None = None,
    ) -> None:
        self.pool = pool
        self.topic = settings.topic(DEAD_LETTER_TOPIC)
        self.settings = settings
        self.bootstrap = settings.kafka_bootstrap
        self.timeout_s = settings.relay_timeout_s
        self.batch = settings.relay_batch
        self._new_producer = producer_factory or (lambda: _kafka_producer(settings))
        self._producer: Producer | None = None
        self._pending: dict[int, list[asyncio.Future[Any]]] = {}
        self.rounds = 0  # rounds finished, whatever their outcome

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._discard(producer)

    async def _discard(self, producer: Producer) -> None:
        try:
            await within(self.timeout_s, producer.stop())
        except (Exception, asyncio.CancelledError) as exc:  # a producer that never worked
            log.debug("stopping the relay's producer failed", error=f"{type(exc).__name__}: {exc}")

    async def _started(self) -> Producer:
        if self._producer is None:
            producer = self._new_producer()
            try:
                await within(self.timeout_s, producer.start())
            except BaseException:
                await self._discard(producer)
                raise
            self._producer = producer
        return self._producer

    async def relay(self) -> Round:
        """One round over every dead-letter partition; raises :class:`RelayError` (after trying
        them all) if any failed."""
        done = Round()
        failed: list[str] = []
        for partition in range(DEAD_LETTER_PARTITIONS):
            try:
                await self._relay_partition(partition, done)
            except Exception as exc:
                failed.append(f"partition {partition}: {type(exc).__name__}: {exc}".rstrip(": "))
        self.rounds += 1
        if failed:
            raise RelayError("; ".join(failed))
        return done

    def _settled(self, partition: int) -> bool:
        """Whether an earlier round's sends to ``partition`` are over (each sent or failed)."""
        pending = self._pending.get(partition)
        if pending is None:
            return True
        if not all(f.done() for f in pending):
            return False
        for future in pending:  # retrieve the outcomes: the tail read decides what landed
            if not future.cancelled():
                future.exception()
        del self._pending[partition]
        return True

    async def _relay_partition(self, partition: int, done: Round) -> None:
        if not self._settled(partition):
            done.waiting += 1
            return
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1, $2)", _LOCK_CLASS, partition
            )
            if not locked:  # another worker's relay is at it
                return
            rows = await conn.fetch(
                'SELECT topic, partition, "offset", key, value, reason, detail, failed_at'
                " FROM core.dead_letters WHERE dlq_partition = $1 AND sent_at IS NULL"
                ' ORDER BY failed_at, topic, partition, "offset" LIMIT $2',
                partition,
                self.batch,
            )
            if not rows:
                return
            done.more = done.more or len(rows) == self.batch
            last = await conn.fetchval(
                "SELECT max(dlq_offset) FROM core.dead_letters WHERE dlq_partition = $1", partition
            )
            tp = TopicPartition(self.topic, partition)
            start = 0 if last is None else last + 1
            present = await recover(self.settings, {tp: start}, _marked_source, self.timeout_s)
            landed = await self._send(partition, [r for r in rows if _source(r) not in present])
            recorded = {**present, **landed}
            await conn.executemany(
                "UPDATE core.dead_letters SET sent_at = now(), dlq_offset = $4"
                ' WHERE topic = $1 AND partition = $2 AND "offset" = $3',
                [(*_source(r), recorded[_source(r)]) for r in rows],
            )
            done.sent += len(landed)
            done.recovered += len(rows) - len(landed)

    async def _send(self, partition: int, rows: list[asyncpg.Record]) -> dict[Source, int]:
        """Send ``rows`` to ``partition``, all at once, then wait for every acknowledgement
        (within the deadline). Any failure fails the round, which then records nothing: the next
        round's tail read, once these sends have settled, finds whatever landed."""
        if not rows:
            return {}
        producer = await self._started()
        futures: list[asyncio.Future[Any]] = []
        try:
            for row in rows:
                source = _source(row)
                futures.append(
                    await within(
                        self.timeout_s,
                        producer.send(
                            self.topic,
                            row["value"],
                            key=row["key"],
                            partition=partition,
                            headers=dead_letter_headers(
                                source, row["reason"], row["detail"], row["failed_at"]
                            ),
                        ),
                    )
                )
            _, late = await asyncio.wait(futures, timeout=self.timeout_s)
        except BaseException:
            self._pending[partition] = futures
            raise
        if late:
            self._pending[partition] = futures
            raise TimeoutError(
                f"{len(late)} of {len(futures)} dead letters not acknowledged within"
                f" {self.timeout_s:g} s"
            )
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error
        return {_source(row): f.result().offset for row, f in zip(rows, futures, strict=True)}


def _source(row: asyncpg.Record) -> Source:
    return (row["topic"], row["partition"], row["offset"])


def _kafka_producer(settings: Settings) -> AIOKafkaProducer:
    # Its own request timeout settles a send that the relay stopped waiting for (module
    # docstring); the relay's deadline bounds the wait, this bounds the sends.
    return AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=int(max(settings.relay_timeout_s, 1.0) * 1000),
    )
