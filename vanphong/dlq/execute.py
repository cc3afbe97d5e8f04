"""Executing a replay: the advisory lock, recovery of in-doubt rows (the rule of
vanphong/ground/tail.py), then chunk by chunk: record "in doubt", produce (acks=all, idempotent, to
the planned partition, marked with ``vanphong.replay.of``), record where each landed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from vanphong.core.deadletter import Source
from vanphong.dlq.ledger import connect, read_replays, record_found, record_offsets
from vanphong.dlq.model import Place, Replay
from vanphong.dlq.plan import REPLAY_OF, Planned, ReplayResult, plan, replay_marker
from vanphong.dlq.search import ReplaySearch
from vanphong.dlq.topic import dead_letter_chunks
from vanphong.ground.kafka import (
    admin_client,
    kafka_client_kwargs,
    partition_counts,
    start_client,
)
from vanphong.ground.settings import Settings
from vanphong.ground.tail import Record, end_offsets, reader, recover
from vanphong.ground.unreachable import (
    DATABASE_ERRORS,
    KAFKA_ERRORS,
    database_error,
    kafka_error,
)
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES

_LOCK_CLASS = 0x5650_5250  # "VPRP": the advisory-lock namespace of `dlq replay`


class ReplayBusyError(RuntimeError):
    """Another ``dlq replay`` holds the lock on this database."""


async def _find_replayed(
    settings: Settings, rows: Sequence[Replay], dlq_topic: str
) -> dict[Place, int]:
    """For in-doubt rows: where their message already is, if it is: the recovery rule
    (vanphong/ground/tail.py), reading each target partition from the rows' ``scan_from``."""
    wanted: dict[tuple[str, int], dict[bytes, Place]] = defaultdict(dict)
    start: dict[tuple[str, int], int] = {}
    for row in rows:
        tp = (row.source[0], row.target_partition)
        wanted[tp][replay_marker(dlq_topic, row.place)] = row.place
        start[tp] = min(start.get(tp, row.scan_from), row.scan_from)
    if not wanted:
        return {}
    async with admin_client(settings) as admin:
        counts = await partition_counts(admin, sorted({t for t, _ in wanted}))

    def mark(record: Record) -> Place | None:
        markers = wanted[(record.topic, record.partition)]
        for key, value in record.headers:
            if key == REPLAY_OF and value in markers:
                return markers[value]
        return None

    starts = {TopicPartition(t, p): o for (t, p), o in start.items() if p < counts.get(t, 0)}
    return await recover(settings, starts, mark)


async def replay(
    settings: Settings,
    reason: str | None = None,
    dry_run: bool = False,
    again: bool = False,
    on_size: Callable[[int], None] | None = None,
    on_read: Callable[[int], None] | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay the dead letters with ``reason`` (all if None) that were never replayed (and,
    with ``again``, those of replayed messages that were rejected again).

    The topic is streamed: each chunk of dead letters is planned (:func:`plan`), recorded,
    produced and confirmed before the next is read. ``on_size(n)`` is told how many offsets the
    dead-letter topic holds, ``on_read(k)`` as dead letters are read, ``on_sent(k)`` as replays
    are confirmed. With ``dry_run`` nothing is locked, sent or written, and ``planned`` lists
    what would be replayed.
    """
    dlq_topic = settings.topic(DEAD_LETTER_TOPIC)
    inputs = [settings.topic(e.topic) for e in EVENT_TYPES]
    result = ReplayResult()
    conn = await connect(settings)
    try:
        if not dry_run:
            locked = await conn.fetchval("SELECT pg_try_advisory_lock($1, 0)", _LOCK_CLASS)
            if not locked:
                raise ReplayBusyError(
                    "another `vanphong dlq replay` is running against this database; "
                    "wait for it to finish"
                )
        replays = await read_replays(conn, settings)
        doubtful = [r for r in replays.values() if r.in_doubt]
        result.in_doubt = doubtful
        try:
            found = {} if dry_run else await _find_replayed(settings, doubtful, dlq_topic)
        except KAFKA_ERRORS as exc:
            raise kafka_error(exc, settings.kafka_bootstrap) from exc
        if found:
            await record_offsets(conn, [(place, offset) for place, offset in found.items()])
        result.recovered = len(found)
        unresolved = {r.place: r for r in doubtful if r.place not in found}
        try:
            async with (
                _Sender(settings, conn, dlq_topic, on_sent) as sender,
                contextlib.aclosing(dead_letter_chunks(settings, on_size)) as chunks,
                ReplaySearch(settings) as search,
            ):
                partitions: dict[str, int] = {}
                async for chunk in chunks:
                    named = {d.source[0] for d in chunk if d.source is not None}
                    unknown = sorted({*inputs, *named} - partitions.keys())
                    if unknown:
                        async with admin_client(settings) as admin:
                            counts = await partition_counts(admin, unknown)
                        partitions.update({t: counts.get(t, 0) for t in unknown})
                    present = {t: n for t, n in partitions.items() if n}
                    here = [unresolved.pop(d.place) for d in chunk if d.place in unresolved]
                    part = plan(chunk, replays, present, inputs, reason, here, again)
                    await _drop_found(conn, search, part, replays, dlq_topic, dry_run, again)
                    _add(result, part, keep_planned=dry_run)
                    if on_read is not None:
                        on_read(len(chunk))
                    if not dry_run and not await sender.send(part.planned, result):
                        return result  # Kafka refuses: stop; the rest waits for the next replay
        except KAFKA_ERRORS as exc:
            raise kafka_error(exc, settings.kafka_bootstrap) from exc
        for row in unresolved.values():  # the whole topic was read: these are gone
            result.errors.append((row, "the dead letter is no longer on the dead-letter topic"))
        return result
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    finally:
        await conn.close()  # also releases the advisory lock


async def _drop_found(
    conn: asyncpg.Connection,
    search: ReplaySearch,
    part: ReplayResult,
    replays: dict[Place, Replay],
    dlq_topic: str,
    dry_run: bool,
    again: bool,
) -> None:
    """Take out of ``part`` the dead letters whose replay is on the target topic although the
    ledger does not know it (PostgreSQL went back in time: vanphong/dlq/search.py); record
    them in the ledger (unless ``dry_run``) and in ``replays``, as replayed. Without ``again``,
    dead letters of those replays (rejected again) are left alone too, as :func:`plan` leaves
    those the ledger knows (a replay's own dead letter lies later in the same dead-letter
    partition, so it is planned in this chunk or a later one)."""
    found = await search.find([p for p in part.planned if p.in_doubt is None], dlq_topic)
    if not found:
        return
    rows = [
        Replay(
            p.letter.place,
            p.letter.reason,
            _source(p),
            p.partition,
            found[p.letter.place],
            None,
            found[p.letter.place],
        )
        for p in part.planned
        if p.letter.place in found
    ]
    if not dry_run:
        async with conn.transaction():
            await record_found(conn, rows)
    replays.update({r.place: r for r in rows})
    part.planned = [p for p in part.planned if p.letter.place not in found]
    part.already += len(rows)
    part.found += len(rows)
    if not again:
        bounced = {r.new_place for r in rows}
        kept = [p for p in part.planned if p.in_doubt is not None or p.letter.source not in bounced]
        part.rejected_again += len(part.planned) - len(kept)
        part.planned = kept


def _add(result: ReplayResult, part: ReplayResult, keep_planned: bool) -> None:
    if keep_planned:
        result.planned += part.planned
    result.found += part.found
    result.replayable += len(part.planned)
    result.already += part.already
    result.rejected_again += part.rejected_again
    result.errors += part.errors


class _Sender:
    """Produces replays chunk by chunk: a producer and an offsets reader, started on first use
    and kept for the whole replay."""

    def __init__(
        self,
        settings: Settings,
        conn: asyncpg.Connection,
        dlq_topic: str,
        on_sent: Callable[[int], None] | None,
    ) -> None:
        self.settings, self.conn, self.dlq_topic = settings, conn, dlq_topic
        self.on_sent = on_sent
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> _Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.producer is not None:
                await self.producer.stop()
        finally:
            await self.stack.aclose()

    async def send(self, planned: Sequence[Planned], result: ReplayResult) -> bool:
        """Record, produce and confirm ``planned`` (one chunk); False if Kafka refused some."""
        if not planned:
            return True
        if self.producer is None:
            self.consumer = await self.stack.enter_async_context(reader(self.settings))
            producer = AIOKafkaProducer(
                **kafka_client_kwargs(self.settings), acks="all", enable_idempotence=True
            )
            await start_client(producer, self.settings)
            self.producer = producer
        assert self.consumer is not None
        targets = sorted({TopicPartition(p.topic, p.partition) for p in planned})
        ends = await end_offsets(self.consumer, targets)
        conn = self.conn
        # 1. commit "in doubt" rows before anything is produced
        fresh = [p for p in planned if p.in_doubt is None]
        async with conn.transaction():
            inserted = await conn.fetch(
                "INSERT INTO core.dlq_replays (dlq_partition, dlq_offset, reason,"
                " source_topic, source_partition, source_offset, target_partition, scan_from)"
                " SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[],"
                " $5::int[], $6::bigint[], $7::int[], $8::bigint[])"
                " ON CONFLICT DO NOTHING RETURNING dlq_partition, dlq_offset",
                [p.letter.partition for p in fresh],
                [p.letter.offset for p in fresh],
                [p.letter.reason for p in fresh],
                [_source(p)[0] for p in fresh],
                [_source(p)[1] for p in fresh],
                [_source(p)[2] for p in fresh],
                [p.partition for p in fresh],
                [ends[TopicPartition(p.topic, p.partition)] for p in fresh],
            )
        mine = {(r["dlq_partition"], r["dlq_offset"]) for r in inserted}
        go = [p for p in planned if p.in_doubt is not None or p.letter.place in mine]
        result.already += len(planned) - len(go)
        # 2. produce, each to its fixed partition, marked with the dead letter it replays
        futures = []
        for p in go:
            future = await self.producer.send(
                p.topic,
                p.letter.value,
                key=p.letter.key,
                partition=p.partition,
                headers=[(REPLAY_OF, replay_marker(self.dlq_topic, p.letter.place))],
            )
            if self.on_sent is not None:
                future.add_done_callback(lambda _f, on_sent=self.on_sent: on_sent(1))
            futures.append(future)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        # 3. record where each landed; failures stay in doubt for the next replay
        done: list[tuple[Place, int]] = []
        for p, outcome in zip(go, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                result.errors.append((p.letter, f"not sent: {type(outcome).__name__}: {outcome}"))
            else:
                done.append((p.letter.place, outcome.offset))
        async with conn.transaction():
            await record_offsets(conn, done)
        result.sent += len(done)
        return len(done) == len(go)


def _source(p: Planned) -> Source:
    source = p.letter.source
    assert source is not None  # plan() only keeps dead letters that name their source
    return source
