"""Relaying dead letters from PostgreSQL to the dead-letter topic, each exactly once.

A batch records its dead letters in ``core.dead_letters`` in the same transaction as its offsets
(an outbox). This relay sends unsent rows afterwards. Dead letters of a source partition always
use the same dead-letter partition, and one relay at a time holds that partition's advisory
lock while it sends to it.

**The topic is the truth, not PostgreSQL** (CONTRACT.md §6, v1.2). PostgreSQL can go back in
time (an asynchronous failover, a restored backup): the outbox rows of the lost commits are
gone, the worker reads those messages again and writes their dead letters to the outbox again,
and nothing in PostgreSQL says that some were sent already. So the relay keeps, per
dead-letter partition, an index of the source messages the partition holds
(:class:`~vanphong.core.deadletter.Landed`: source coordinates and source topic id, from the
headers), built by reading the partition from its start the first time the relay needs it, and
extended before each send by reading from where it stopped to the partition's end *while
holding the lock* (so nothing else is sent in between). An outbox row whose dead letter is in
the index is recorded as sent where it is, never sent again. The index comes from the topic
alone, so it stays true whatever PostgreSQL forgets; it is dropped and read again if the
dead-letter topic is recreated (its id changes, or it ends before where the index stopped),
and :meth:`DeadLetterRelay.forget` drops it on request. A crash, or a round that timed out
after sending, is the same case: what landed is found by the next read.

It must never hold the writer (streams/relay_loop.py runs it in a task of its own, woken after a
commit with dead letters and on a timer), and a hung broker must not hold it either:

* every Kafka call has a deadline (``VANPHONG_RELAY_TIMEOUT_S``): starting the producer and the
  reader, reading the partition, each send, and the acknowledgements; past it the round fails
  and is tried again;
* the bulk of a partition is read before the round takes the lock and a database connection;
  under the lock only what arrived meanwhile is read;
* a round takes at most ``VANPHONG_RELAY_BATCH`` rows per dead-letter partition;
* sends are batched: all of a round's messages are handed to the producer, then their
  acknowledgements awaited together;
* sends that time out are not abandoned: the idempotent producer keeps trying until its own
  request timeout settles them, and the partition's next round waits until they have settled
  (sent or failed) before it reads the partition, so a message that lands late is found there,
  not sent twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer

from vanphong.core.deadletter import Source, dead_letter_headers
from vanphong.ground.kafka import kafka_client_kwargs
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.ground.tail import within
from vanphong.schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC
from vanphong.streams.landed import DeadLetterIndex

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
    """What one round did: dead letters sent now, found already on the topic (recorded where
    they are), and whether a partition had more rows than a round takes."""

    sent: int = 0
    recovered: int = 0
    more: bool = False
    waiting: int = 0  # partitions skipped: an earlier round's sends have not settled yet


class RelayError(Exception):
    """A round failed for some dead-letter partitions; the rows stay in the outbox."""


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
        self.index = DeadLetterIndex(settings, self.topic, self.timeout_s)
        self.rounds = 0  # rounds finished, whatever their outcome

    def forget(self) -> None:
        """Drop the index of what the dead-letter topic holds: the next round reads each
        partition again from its start. Never needed for PostgreSQL going back in time (the
        index comes from the topic alone); harmless, and costs one read of the topic."""
        self.index.forget()

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._discard(producer)
        await self.index.close()

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
        try:
            for partition in range(DEAD_LETTER_PARTITIONS):
                try:
                    await self._relay_partition(partition, done)
                except Exception as exc:
                    await self.index.close()  # a reader cut off mid-read is not reused
                    failed.append(
                        f"partition {partition}: {type(exc).__name__}: {exc}".rstrip(": ")
                    )
        finally:
            await self.index.close()
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
        for future in pending:  # retrieve the outcomes: the partition's read decides what landed
            if not future.cancelled():
                future.exception()
        del self._pending[partition]
        return True

    async def _relay_partition(self, partition: int, done: Round) -> None:
        if not self._settled(partition):
            done.waiting += 1
            return
        async with self.pool.acquire() as conn:
            waiting = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM core.dead_letters"
                " WHERE dlq_partition = $1 AND sent_at IS NULL)",
                partition,
            )
        if not waiting:
            return
        # the bulk of the read, holding neither the lock nor a connection
        await self.index.read_on(partition, self.pool)
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1, $2)", _LOCK_CLASS, partition
            )
            if not locked:  # another worker's relay is at it
                return
            rows = await conn.fetch(
                'SELECT d.topic, d.partition, d."offset", d.key, d.value, d.reason, d.detail,'
                " d.failed_at, o.topic_id::text AS topic_id FROM core.dead_letters d"
                " LEFT JOIN core.sink_offsets o ON o.topic = d.topic AND o.partition = d.partition"
                " WHERE d.dlq_partition = $1 AND d.sent_at IS NULL"
                ' ORDER BY d.failed_at, d.topic, d.partition, d."offset" LIMIT $2',
                partition,
                self.batch,
            )
            if not rows:
                return
            done.more = done.more or len(rows) == self.batch
            landed = await self.index.read_on(partition, conn)  # what arrived meanwhile: exact now
            recorded: dict[Source, int] = {}
            fresh: list[asyncpg.Record] = []
            for row in rows:
                at = landed.find(*_origin(row))
                if at is None:
                    fresh.append(row)
                else:
                    recorded[_source(row)] = at
            sent = await self._send(partition, fresh)
            for row in fresh:
                landed.add(*_origin(row), sent[_source(row)])
            recorded.update(sent)
            await conn.executemany(
                "UPDATE core.dead_letters SET sent_at = now(), dlq_offset = $4"
                ' WHERE topic = $1 AND partition = $2 AND "offset" = $3',
                [(*_source(r), recorded[_source(r)]) for r in rows],
            )
            done.sent += len(sent)
            done.recovered += len(rows) - len(sent)

    async def _send(self, partition: int, rows: list[asyncpg.Record]) -> dict[Source, int]:
        """Send ``rows`` to ``partition``, all at once, then wait for every acknowledgement
        (within the deadline). Any failure fails the round, which then records nothing: the next
        round's read, once these sends have settled, finds whatever landed."""
        if not rows:
            return {}
        producer = await self._started()
        futures: list[asyncio.Future[Any]] = []
        try:
            for row in rows:
                source, topic_id = _origin(row)
                futures.append(
                    await within(
                        self.timeout_s,
                        producer.send(
                            self.topic,
                            row["value"],
                            key=row["key"],
                            partition=partition,
                            headers=dead_letter_headers(
                                source,
                                row["reason"],
                                row["detail"],
                                row["failed_at"],
                                topic_id,
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
    """The row's key in the outbox."""
    return (row["topic"], row["partition"], row["offset"])


def _origin(row: asyncpg.Record) -> tuple[Source, str | None]:
    """The source a row's dead letter names, and the source topic's id. A row renamed
    ``<topic>@<old id>`` when its topic was recreated (sinks/postgres.py) is of the old topic:
    its dead letter names the topic as it was called, with the old id (none if the old id was
    not known: ``before-<n>``)."""
    name, _, old = row["topic"].partition("@")
    if not old:
        return _source(row), row["topic_id"]
    try:
        old_id: str | None = str(uuid.UUID(old))
    except ValueError:
        old_id = None
    return (name, row["partition"], row["offset"]), old_id


def _kafka_producer(settings: Settings) -> AIOKafkaProducer:
    # Its own request timeout settles a send that the relay stopped waiting for (module
    # docstring); the relay's deadline bounds the wait, this bounds the sends.
    return AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=int(max(settings.relay_timeout_s, 1.0) * 1000),
    )
