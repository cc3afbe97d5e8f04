"""The PostgreSQL sink: a batch's effects and its consumed offsets in one transaction.

Lifecycle of :meth:`PostgresSink.write`: lock the batch's partition offsets (so two workers that
briefly both hold a partition during a rebalance serialise here), drop messages below the stored
offsets, lock and load the entities the batch touches, plan the batch (pure), then write
entities, aggregate deltas, dead letters, counters and the new offsets, and commit. The same
batch written twice is applied once; a crash before the commit applies nothing.

Errors (sinks/failures.py): a database that cannot be reached, is shutting down or no longer
takes writes (a demoted primary) raises :class:`~vanphong.core.rejection.TransientError`,
retried for as long as it lasts, the pool's connections replaced so that a multi-host URL finds
the primary again; two writers that met (deadlock, serialization failure, unique violation on a
new entity, lock not available) raise :class:`~vanphong.core.rejection.ContentionError`, retried
within a budget; anything else propagates as it is, and
:func:`~vanphong.sinks.failures.blame` tells the
worker's safety net (vanphong/core/safetynet.py) whether a message's data or the system is at
fault.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg

from vanphong.core.batch import Item, Plan, has_mergers, plan_batch, refs_needed
from vanphong.core.positions import TOPIC_RECREATED, Anomaly, Stored
from vanphong.core.rejection import ContentionError, TransientError
from vanphong.core.semantics import TASK_TYPES, Entity, EntityRef
from vanphong.ground import pgconnect
from vanphong.schemas.catalog import DEAD_LETTER_PARTITIONS, EventType
from vanphong.schemas.known import KnownSchemas
from vanphong.sinks.failures import (
    blame,
    classify,
    classify_write,
    describe,
    is_transient,
    reconnects,
    refusal,
    writable,
)
from vanphong.sinks.records import (
    contributions_from_json,
    entities_to_json,
    record_from_json,
    rows_to_json,
)

# What the worker and the tests import from the sink, wherever it is defined.
__all__ = ["PostgresSink", "blame", "classify", "describe", "is_transient", "refusal"]


#: Plan every statement for the tables of the moment: a generic plan cached while
#: ``core.entities`` was small read the whole table per batch (docs/performance.md, issue 21).
SESSION_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def dead_letter_partition(source_partition: int) -> int:
    """Dead letters of one source partition always go to the same dead-letter partition, so the
    relay can tell what it already sent by reading that partition's tail."""
    return source_partition % DEAD_LETTER_PARTITIONS


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class PostgresSink:
    """Writes planned batches; owns a small connection pool."""

    def __init__(self, pool: asyncpg.Pool, zone: ZoneInfo, schemas: KnownSchemas) -> None:
        self.pool = pool
        self.zone = zone
        self.schemas = schemas  # the settings' registry: stored records' temporal fields
        self.worker_id = worker_id()

    @classmethod
    async def connect(
        cls, url: str, zone: ZoneInfo, schemas: KnownSchemas, max_size: int = 10
    ) -> PostgresSink:
        """A pool on ``url`` (:func:`writable`), connecting host by host (a multi-host URL's old
        primary that hangs is passed over: vanphong/ground/pgconnect.py); raises
        :class:`TransientError` while the database cannot be reached, anything else (a wrong
        password, an unknown database) as it is."""
        try:
            pool = await asyncpg.create_pool(
                writable(url),
                min_size=1,
                max_size=max_size,
                connect=pgconnect.connect,
                server_settings=SESSION_SETTINGS,
            )
        except Exception as exc:
            if is_transient(exc):
                raise TransientError(f"PostgreSQL unavailable: {exc}") from exc
            raise
        return cls(pool, zone, schemas)

    async def close(self) -> None:
        await self.pool.close()

    async def write(self, items: Sequence[Item]) -> Plan:
        """Apply ``items`` exactly once; see the module docstring. Raises
        :class:`TransientError` while the database is unavailable (:func:`classify_write`),
        having expired the pool's connections when they must all be replaced
        (:func:`reconnects`), and :class:`ContentionError` when two writers met."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                return await self._write(conn, items)
        except Exception as exc:
            kind = classify_write(exc)
            if reconnects(exc):
                await self.pool.expire_connections()
            if kind == "unavailable":
                raise TransientError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
            if kind == "contention":
                raise ContentionError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
            raise

    async def rehearse(self, items: Sequence[Item]) -> None:
        """Write ``items`` exactly as :meth:`write` would, then roll everything back: the safety
        net's question "does the system write a message like this one?"
        (vanphong/core/safetynet.py). Raises what the write raised."""
        async with self.pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await self._write(conn, items)
            finally:
                await transaction.rollback()

    async def _write(self, conn: asyncpg.Connection, items: Sequence[Item]) -> Plan:
        offsets = await _lock_offsets(conn, {(i.at.topic, i.at.partition) for i in items})
        refs = refs_needed(items)
        stored = await _lock_entities(conn, refs, has_mergers(items), self.schemas)
        plan = plan_batch(items, offsets, stored, self.zone)
        entities = plan.entities
        await _update_entities(conn, [entities[r] for r in plan.changed if r in stored])
        await _insert_entities(conn, [entities[r] for r in sorted(plan.changed - stored.keys())])
        await _write_deltas(conn, plan)
        await _write_dead_letters(conn, plan)
        await _write_counters(conn, plan)
        await _store_offsets(conn, plan, self.worker_id)
        if plan.skipped == len(items) and not plan.positions:
            return plan  # only heartbeats, or all read before: nothing was committed
        await conn.execute(
            "INSERT INTO core.sink_commits (worker_id, last_commit_at, batches, events)"
            " VALUES ($1, now(), 1, $2) ON CONFLICT (worker_id) DO UPDATE SET"
            " last_commit_at = now(), batches = core.sink_commits.batches + 1,"
            " events = core.sink_commits.events + excluded.events"
            " RETURNING pg_notify('vanphong_committed', '')",  # the page's live figures
            self.worker_id,
            len(items) - plan.skipped,
        )
        return plan


async def _lock_offsets(
    conn: asyncpg.Connection, partitions: set[tuple[str, int]]
) -> dict[tuple[str, int], Stored]:
    """Lock the batch's rows of ``core.sink_offsets`` (made if missing), in one order."""
    ordered = sorted(partitions)
    topics, parts = [t for t, _ in ordered], [p for _, p in ordered]
    await conn.execute(
        "INSERT INTO core.sink_offsets (topic, partition, next_offset)"
        " SELECT t, p, 0 FROM unnest($1::text[], $2::int[]) AS x(t, p)"
        " ON CONFLICT DO NOTHING",
        topics,
        parts,
    )
    rows = await conn.fetch(
        "SELECT o.topic, o.partition, o.next_offset, o.topic_id::text AS topic_id, o.rewind_to"
        " FROM core.sink_offsets o"
        " JOIN unnest($1::text[], $2::int[]) AS x(t, p) ON o.topic = x.t AND o.partition = x.p"
        " ORDER BY o.topic, o.partition FOR UPDATE OF o",
        topics,
        parts,
    )
    return {
        (r["topic"], r["partition"]): Stored(r["next_offset"], r["topic_id"], r["rewind_to"])
        for r in rows
    }


async def _store_offsets(conn: asyncpg.Connection, plan: Plan, worker_id: str) -> None:
    """The rows of ``core.sink_offsets`` that the batch moves (next offset, topic id, pending
    rewind), and what its position marks detected (vanphong/core/positions.py). ``updated_at`` says
    when the next offset last moved (``vanphong status``'s stall rule reads it)."""
    if plan.positions:
        await conn.executemany(
            "UPDATE core.sink_offsets SET next_offset = $3, topic_id = $4::uuid, rewind_to = $5,"
            " updated_at = CASE WHEN next_offset = $3 THEN updated_at ELSE now() END"
            " WHERE topic = $1 AND partition = $2",
            [
                (t, p, r.next_offset, r.topic_id, r.rewind_to)
                for (t, p), r in sorted(plan.positions.items())
            ],
        )
    if plan.anomalies:
        plan.anomalies = await _record_anomalies(conn, plan.anomalies, worker_id)


async def _record_anomalies(
    conn: asyncpg.Connection, anomalies: Sequence[Anomaly], worker_id: str
) -> list[Anomaly]:
    """Persist detections in ``core.offset_anomalies``; return those that are new (an added
    partition is recorded once). A recreated topic's partition is read again from offset 0: the
    dead letters of the old topic keep their rows, renamed ``<topic>@<old id>``, so that the new
    topic's dead letters at the same offsets do not collide with them; one not sent yet goes out
    under its old name and id (streams/deadletters.py)."""
    new: list[Anomaly] = []
    for a in anomalies:
        inserted = await conn.fetchval(
            "INSERT INTO core.offset_anomalies (kind, topic, partition, stored_offset,"
            " resumed_at, log_start, log_end, lost, old_topic_id, new_topic_id, partitions,"
            " contract_partitions, worker_id, detail, reread)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::uuid, $10::uuid, $11, $12, $13, $14,"
            " $15)"
            " ON CONFLICT (topic, partition) WHERE kind = 'partitions_added' DO NOTHING"
            " RETURNING id",
            a.kind,
            a.topic,
            a.partition,
            a.stored_offset,
            a.resumed_at,
            a.log_start,
            a.log_end,
            a.lost,
            a.old_topic_id,
            a.new_topic_id,
            a.partitions,
            a.contract_partitions,
            worker_id,
            a.describe(),
            a.reread,
        )
        if inserted is None:
            continue
        new.append(a)
        if a.kind == TOPIC_RECREATED:
            await conn.execute(
                "UPDATE core.dead_letters SET topic = topic || '@' || $3"
                " WHERE topic = $1 AND partition = $2",
                a.topic,
                a.partition,
                a.old_topic_id or f"before-{inserted}",
            )
    return new


async def _lock_entities(
    conn: asyncpg.Connection, refs: set[EntityRef], with_all_merges: bool, schemas: KnownSchemas
) -> dict[EntityRef, Entity]:
    """Lock and load the batch's entities, in one global order. With ``with_all_merges``, every
    stored merger too: the office-merged topic has one partition, so one writer at a time adds
    mergers (the offsets' row lock serialises two workers during a rebalance)."""
    if with_all_merges:
        merges = await conn.fetch(
            "SELECT entity_id FROM core.entities WHERE entity_type = 'office.merged'"
        )
        refs = refs | {EntityRef(EventType.OFFICE_MERGED, r["entity_id"]) for r in merges}
    await _lock_tasks(conn, sorted({r.entity_id for r in refs if r.entity_type in TASK_TYPES}))
    # A plain semi-join on the key, so that each key is one probe of the primary key (an OR in
    # this WHERE made PostgreSQL scan the whole table: 45 ms a batch at 200,000 entities).
    rows = await conn.fetch(
        "SELECT e.entity_type, e.entity_id, e.revision, e.voided, e.event_id,"
        " e.record::text AS record, e.contributions::text AS contributions"
        " FROM core.entities e"
        " WHERE (e.entity_type, e.entity_id) IN"
        "       (SELECT r ->> 0, r ->> 1 FROM jsonb_array_elements($1::jsonb) AS r)"
        " ORDER BY e.entity_type, e.entity_id FOR UPDATE OF e",  # one global lock order
        rows_to_json(refs),
    )
    loaded = {}
    for r in rows:
        ref = EntityRef(EventType(r["entity_type"]), r["entity_id"])
        loaded[ref] = Entity(
            ref,
            r["revision"],
            r["voided"],
            r["event_id"],
            record_from_json(r["record"], ref.entity_type, schemas),
            contributions_from_json(r["contributions"]),
        )
    return loaded


async def _lock_tasks(conn: asyncpg.Connection, task_ids: list[str]) -> None:
    """A task's two halves arrive on different topics, so two agents may each insert one half
    at the same time, neither seeing the other (write skew): a lock per task id, taken in one
    global order, makes them take turns even when no row exists yet."""
    if task_ids:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(h) FROM ("
            " SELECT DISTINCT hashtextextended('task:' || id, 0) AS h FROM unnest($1::text[]) id"
            " ORDER BY h) AS ordered",
            task_ids,
        )


# The columns of one row of :func:`~vanphong.sinks.records.entities_to_json`.
_ENTITY_ROWS = (
    " SELECT x ->> 0 AS t, x ->> 1 AS i, (x ->> 2)::int AS r, (x ->> 3)::bool AS v,"
    " x ->> 4 AS e, x -> 5 AS rec, x -> 6 AS c FROM jsonb_array_elements($1::jsonb) AS x"
)


async def _update_entities(conn: asyncpg.Connection, entities: Sequence[Entity]) -> None:
    """Entities that were stored: their rows are locked since :func:`_lock_entities`."""
    if not entities:
        return
    await conn.execute(
        "UPDATE core.entities e SET revision = x.r, voided = x.v, event_id = x.e,"
        " record = x.rec, contributions = x.c, updated_at = now()"
        f" FROM ({_ENTITY_ROWS}) AS x"
        " WHERE e.entity_type = x.t AND e.entity_id = x.i",
        entities_to_json(entities),
    )


async def _insert_entities(conn: asyncpg.Connection, entities: Sequence[Entity]) -> None:
    """Entities that were not stored when the batch locked its keys. A plain INSERT on purpose:
    the key decides nothing about the partition (CONTRACT.md), so another writer may be inserting
    the same entity right now, planned from the same "not stored". Its commit makes this INSERT
    fail with a unique violation, which is transient: the batch is retried and then finds the
    row. (``ON CONFLICT DO UPDATE`` would overwrite it and count both contributions.) Sorted,
    so two writers inserting the same new keys wait for each other instead of deadlocking."""
    if not entities:
        return
    await conn.execute(
        "INSERT INTO core.entities"
        " (entity_type, entity_id, revision, voided, event_id, record, contributions)"
        f" SELECT t, i, r, v, e, rec, c FROM ({_ENTITY_ROWS}) AS x",
        entities_to_json(entities),
    )


async def _write_deltas(conn: asyncpg.Connection, plan: Plan) -> None:
    # Sorted, so concurrent batches lock aggregate rows in one order and cannot deadlock.
    cells = [(*cell, n) for cell, n in sorted(plan.deltas.items()) if n != 0]
    if not cells:
        return
    await conn.execute(
        "INSERT INTO core.metric_daily (unit_id, day, metric, dimension, value)"
        " SELECT c ->> 0, (c ->> 1)::date, c ->> 2, c ->> 3, (c ->> 4)::bigint"
        " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(c, n) ORDER BY n"
        " ON CONFLICT (unit_id, day, metric, dimension)"
        " DO UPDATE SET value = core.metric_daily.value + excluded.value",
        rows_to_json(cells),
    )


async def _write_dead_letters(conn: asyncpg.Connection, plan: Plan) -> None:
    if not plan.dead_letters:
        return
    now = datetime.now(UTC)
    await conn.executemany(
        'INSERT INTO core.dead_letters (topic, partition, "offset", key, value, reason, detail,'
        " failed_at, dlq_partition) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (
                item.at.topic,
                item.at.partition,
                item.at.offset,
                item.key,
                item.value,
                str(rejection.reason),
                rejection.detail,
                now,
                dead_letter_partition(item.at.partition),
            )
            for item, rejection in plan.dead_letters
        ],
    )


async def _write_counters(conn: asyncpg.Connection, plan: Plan) -> None:
    topics = sorted(set(plan.applied) | set(plan.unchanged) | set(plan.rejected))
    if not topics:
        return
    await conn.execute(
        "INSERT INTO core.topic_counters (topic, applied, unchanged, dead_lettered)"
        " SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])"
        " ON CONFLICT (topic) DO UPDATE SET"
        " applied = core.topic_counters.applied + excluded.applied,"
        " unchanged = core.topic_counters.unchanged + excluded.unchanged,"
        " dead_lettered = core.topic_counters.dead_lettered + excluded.dead_lettered",
        topics,
        [plan.applied[t] for t in topics],
        [plan.unchanged[t] for t in topics],
        [plan.rejected[t] for t in topics],
    )
