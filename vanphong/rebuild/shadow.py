"""The shadow: the recomputed aggregates beside the live ones, and the entities whose stored
contributions today's rules compute otherwise.

``core.metric_daily_rebuild`` has the live table's columns, and after :func:`index_shadow` its
indexes (copied from the catalogue, so an index a later migration adds comes along), so that
the swap (vanphong/rebuild/swap.py) only renames. ``core.rebuild_contributions`` holds, per
stale entity, the contributions the swap writes into ``core.entities``, so that the worker's
next revision of it takes back exactly what the new table holds.

Both are dropped by the swap, or by the next rebuild if this one was killed: nothing reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from vanphong.core.recompute import Cell, StoredEntity, add_to, recomputed, same_contributions
from vanphong.core.semantics import Contribution, EntityRef

LIVE = "core.metric_daily"
SHADOW = "core.metric_daily_rebuild"
STALE = "core.rebuild_contributions"
COLUMNS = ["unit_id", "day", "metric", "dimension", "value"]


async def drop_shadow(conn: asyncpg.Connection) -> None:
    """What an earlier rebuild left behind (killed before its swap)."""
    await conn.execute(f"DROP TABLE IF EXISTS {SHADOW}, {STALE}")


async def create_shadow(conn: asyncpg.Connection) -> None:
    await drop_shadow(conn)
    await conn.execute(
        f"CREATE TABLE {SHADOW} (LIKE {LIVE} INCLUDING DEFAULTS INCLUDING STORAGE);"
        f" CREATE TABLE {STALE} (entity_type text NOT NULL, entity_id text NOT NULL,"
        "  contributions jsonb NOT NULL, PRIMARY KEY (entity_type, entity_id))"
    )


async def fill_shadow(conn: asyncpg.Connection, cells: Mapping[Cell, int]) -> int:
    """COPY the recomputed cells (those that are not 0); how many."""
    rows = [(*cell, value) for cell, value in cells.items() if value != 0]
    await conn.copy_records_to_table(
        SHADOW.split(".")[1], schema_name="core", records=rows, columns=COLUMNS
    )
    return len(rows)


async def write_stale(
    conn: asyncpg.Connection, stale: Iterable[tuple[EntityRef, tuple[Contribution, ...]]]
) -> None:
    """COPY entities whose stored contributions are not the recomputed ones."""
    rows = [(str(ref.entity_type), ref.entity_id, orjson.dumps(own).decode()) for ref, own in stale]
    if rows:
        await conn.copy_records_to_table(
            STALE.split(".")[1],
            schema_name="core",
            records=rows,
            columns=["entity_type", "entity_id", "contributions"],
        )


async def index_shadow(conn: asyncpg.Connection) -> None:
    """The live table's indexes on the shadow, named ``<name>_rebuild`` (renamed at the swap),
    its primary key as a constraint again; then statistics for the planner."""
    await conn.execute("SET search_path = pg_catalog")  # index definitions fully qualified
    try:
        rows = await conn.fetch(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def, i.indisprimary"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = $1::regclass ORDER BY i.indisprimary DESC, c.relname",
            LIVE,
        )
        for r in rows:
            name = r["relname"]
            definition = r["def"].replace(
                f"INDEX {name} ON {LIVE} ", f"INDEX {name}_rebuild ON {SHADOW} ", 1
            )
            if definition == r["def"]:
                raise RuntimeError(f"cannot copy index {name}: {r['def']}")
            await conn.execute(definition)
            if r["indisprimary"]:
                await conn.execute(
                    f"ALTER TABLE {SHADOW} ADD CONSTRAINT {name}_rebuild"
                    f" PRIMARY KEY USING INDEX {name}_rebuild"
                )
    finally:
        await conn.execute("RESET search_path")
    await conn.execute(f"ANALYZE {SHADOW}, {STALE}")


def delta_of(
    before: Mapping[EntityRef, StoredEntity],
    after: Mapping[EntityRef, StoredEntity],
    zone: ZoneInfo,
) -> dict[Cell, int]:
    """What the shadow's cells must gain when the entities ``before`` became ``after`` (an
    entity in one only: it appeared or went)."""
    cells: dict[Cell, int] = {}
    for entity in before.values():
        add_to(cells, recomputed(entity, zone), -1)
    for entity in after.values():
        add_to(cells, recomputed(entity, zone))
    return {cell: n for cell, n in cells.items() if n != 0}


async def apply_changes(
    conn: asyncpg.Connection,
    before: Mapping[EntityRef, StoredEntity],
    after: Mapping[EntityRef, StoredEntity],
    zone: ZoneInfo,
) -> None:
    """Bring the shadow from ``before`` to ``after`` for these entities: their cells, and their
    rows of the stale table (a worker that applied today's rules has fixed their stored
    contributions itself)."""
    delta = delta_of(before, after, zone)
    if delta:
        await conn.execute(
            f"INSERT INTO {SHADOW} AS s (unit_id, day, metric, dimension, value)"
            " SELECT c ->> 0, (c ->> 1)::date, c ->> 2, c ->> 3, (c ->> 4)::bigint"
            " FROM jsonb_array_elements($1::jsonb) AS c"
            " ON CONFLICT (unit_id, day, metric, dimension)"
            " DO UPDATE SET value = s.value + excluded.value",
            orjson.dumps([(*cell, n) for cell, n in sorted(delta.items())]).decode(),
        )
    keys = set(before) | set(after)
    if not keys:
        return
    await conn.execute(
        f"DELETE FROM {STALE} WHERE (entity_type, entity_id) IN"
        " (SELECT k ->> 0, k ->> 1 FROM jsonb_array_elements($1::jsonb) AS k)",
        orjson.dumps([(r.entity_type, r.entity_id) for r in keys]).decode(),
    )
    stale = []
    for ref, entity in after.items():
        own = recomputed(entity, zone)
        if not same_contributions(entity.contributions, own):
            stale.append((ref, own))
    await write_stale(conn, stale)
