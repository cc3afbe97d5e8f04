"""Reading the stored entities and the live cells, server-side in chunks (a cursor), within a
snapshot the caller holds.

One query yields every entity; a task's assignment comes with its completion (a join on the
primary key), so that recomputing a task needs nothing else. Records are read back as the sink
reads them (:func:`vanphong.sinks.records.record_from_json`), with the temporal fields of today's
schemas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import orjson

from vanphong.core.recompute import Cell, StoredEntity
from vanphong.core.semantics import EntityRef
from vanphong.schemas.catalog import EventType
from vanphong.schemas.known import KnownSchemas
from vanphong.sinks.records import record_from_json

#: Rows fetched per round trip of the cursor.
CHUNK = 5_000

_ENTITIES = (
    "SELECT e.entity_type, e.entity_id, e.voided, e.record::text AS record,"
    " e.contributions::text AS contributions, c.voided AS c_voided, c.record::text AS c_record"
    " FROM core.entities e"
    " LEFT JOIN core.entities c"
    "   ON e.entity_type = 'task.assigned' AND c.entity_type = 'task.completed'"
    "  AND c.entity_id = e.entity_id"
)


def entity_of(row: asyncpg.Record | Sequence[Any], schemas: KnownSchemas) -> StoredEntity:
    """A row of :data:`_ENTITIES` as a :class:`StoredEntity`, its temporal fields read by the
    current schemas of ``schemas`` (the settings' registry: extra schema versions too)."""
    kind = EventType(row[0])
    completion = None
    if row[6] is not None:
        completion = (bool(row[5]), record_from_json(row[6], EventType.TASK_COMPLETED, schemas))
    return StoredEntity(
        EntityRef(kind, row[1]),
        row[2],
        record_from_json(row[3], kind, schemas),
        orjson.loads(row[4]),
        completion,
    )


async def count_entities(conn: asyncpg.Connection) -> int:
    """Roughly how many entities there are (for a progress bar): the planner's estimate."""
    estimate = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = 'core.entities'::regclass"
    )
    return max(int(estimate or 0), 0)


async def stream_entities(
    conn: asyncpg.Connection, schemas: KnownSchemas, pages: tuple[int, int | None] = (0, None)
) -> AsyncIterator[StoredEntity]:
    """Every stored entity in the table's ``pages`` [first, end) (end None: to the last), in
    no particular order. ``conn`` must be in a transaction (a cursor lives in one)."""
    first, end = pages
    where = f" WHERE e.ctid >= '({int(first)},0)'::tid"
    if end is not None:
        where += f" AND e.ctid < '({int(end)},0)'::tid"
    async for row in conn.cursor(_ENTITIES + where, prefetch=CHUNK):
        yield entity_of(row, schemas)


async def table_pages(conn: asyncpg.Connection) -> int:
    """How many pages ``core.entities`` has now (every row a snapshot taken before sees is in
    one of them)."""
    return int(
        await conn.fetchval(
            "SELECT pg_relation_size('core.entities') / current_setting('block_size')::int"
        )
    )


async def entities_by_key(
    conn: asyncpg.Connection, refs: Sequence[EntityRef], schemas: KnownSchemas
) -> dict[EntityRef, StoredEntity]:
    """The entities ``refs`` name, each with what recomputing it needs (a task: both halves,
    whichever half ``refs`` names)."""
    if not refs:
        return {}
    keys = orjson.dumps([(r.entity_type, r.entity_id) for r in refs]).decode()
    rows = await conn.fetch(
        f"{_ENTITIES} WHERE (e.entity_type, e.entity_id) IN"
        " (SELECT k ->> 0, k ->> 1 FROM jsonb_array_elements($1::jsonb) AS k)",
        keys,
    )
    return {(entity := entity_of(r, schemas)).ref: entity for r in rows}


async def stream_cells(
    conn: asyncpg.Connection, see: Callable[[Cell, int], None], table: str = "core.metric_daily"
) -> None:
    """Hand every cell of ``table`` to ``see``. ``conn`` must be in a transaction."""
    async for r in conn.cursor(
        f"SELECT unit_id, day, metric, dimension, value FROM {table}", prefetch=CHUNK * 4
    ):
        see((r[0], r[1], r[2], r[3]), r[4])


async def ranges_difference(conn: asyncpg.Connection) -> tuple[list[Any], list[Any]]:
    """``core.attribution_ranges`` (kept by a deferred trigger, migration 0006) beside what
    ``core.attribution`` (the definition that trigger copies) says now: the rows missing from
    the table and the rows it has in excess."""
    columns = "unit_id, target_unit_id, valid_from, valid_to, depth"
    await conn.execute("SET LOCAL jit = off")  # as the trigger: core.attribution's estimates
    missing = await conn.fetch(
        f"SELECT {columns} FROM core.attribution"
        f" EXCEPT ALL SELECT {columns} FROM core.attribution_ranges ORDER BY 1, 3"
    )
    extra = await conn.fetch(
        f"SELECT {columns} FROM core.attribution_ranges"
        f" EXCEPT ALL SELECT {columns} FROM core.attribution ORDER BY 1, 3"
    )
    return [tuple(r) for r in missing], [tuple(r) for r in extra]


async def stored_mergers(
    conn: asyncpg.Connection, schemas: KnownSchemas
) -> dict[str, dict[str, Any]]:
    """Every stored non-voided merger: merge_id → record."""
    rows = await conn.fetch(
        "SELECT entity_id, record::text AS record FROM core.entities"
        " WHERE entity_type = 'office.merged' AND NOT voided"
    )
    return {r[0]: record_from_json(r[1], EventType.OFFICE_MERGED, schemas) for r in rows}
