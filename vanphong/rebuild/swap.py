"""The last step of a rebuild, in ONE transaction: writers held, the shadow caught up, the
stale contributions written, the attribution ranges refreshed, the tables swapped, commit.

**Writers.** Every batch of the sink starts by writing its rows of ``core.sink_offsets``
(sinks/postgres.py), so ``LOCK core.sink_offsets IN EXCLUSIVE MODE`` waits for the batches in
flight to commit and holds new ones at their first statement, while plain reads of the table
(``vanphong status``, the page) go on: EXCLUSIVE conflicts with their ACCESS SHARE not at all.
No batch is in flight for the rest of the transaction, so what it reads is final.

**Readers.** Views bind to a table's identity, not to its name: after the shadow takes the name
``core.metric_daily``, every view that read the old table is replaced (``CREATE OR REPLACE
VIEW`` with its own definition, read from the catalogue, so a view a later migration adds comes
along) and keeps its grants, columns and types; functions (``reporting.activity_summary``) and
the worker's statements name the table and are planned again by PostgreSQL. The table's own
grants are copied. The swap takes ACCESS EXCLUSIVE on the live table last, for a few catalogue
statements; readers wait for it at most ``lock_timeout`` (then the whole transaction is rolled
back and retried), and see the old figures or the new ones, never both.
"""

from __future__ import annotations

import asyncpg

from vanphong.rebuild.shadow import LIVE, SHADOW, STALE

_LIVE_NAME = LIVE.split(".")[1]


async def hold_writers(conn: asyncpg.Connection, lock_timeout_ms: int) -> None:
    """In ``conn``'s transaction: wait (at most ``lock_timeout_ms``, else
    ``LockNotAvailableError``) for the batches in flight, then hold the next ones until the
    transaction ends."""
    await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
    await conn.execute("LOCK TABLE core.sink_offsets IN EXCLUSIVE MODE")


async def write_contributions(conn: asyncpg.Connection) -> int:
    """The recomputed contributions of the stale entities into ``core.entities``: the worker's
    next revision takes back what the new table holds. How many rows."""
    if not await conn.fetchval(f"SELECT EXISTS (SELECT FROM {STALE})"):
        return 0  # the usual case: no join planned over every entity
    status = await conn.execute(
        f"UPDATE core.entities e SET contributions = s.contributions FROM {STALE} s"
        " WHERE e.entity_type = s.entity_type AND e.entity_id = s.entity_id"
    )
    return int(status.split()[-1])


async def refresh_ranges(conn: asyncpg.Connection) -> None:
    """``core.attribution_ranges`` from its definition, exactly as migration 0006's trigger
    refreshes it (its advisory lock, then delete and insert)."""
    await conn.execute("SET LOCAL jit = off")
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('vanphong.attribution_ranges', 0))"
    )
    await conn.execute("DELETE FROM core.attribution_ranges")
    await conn.execute(
        "INSERT INTO core.attribution_ranges (unit_id, target_unit_id, valid_from, valid_to,"
        " depth) SELECT unit_id, target_unit_id, valid_from, valid_to, depth"
        " FROM core.attribution"
    )


async def _dependent_views(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every view that reads the live table directly, with its definition, fully qualified."""
    return list(
        await conn.fetch(
            "SELECT DISTINCT v.oid, quote_ident(n.nspname) || '.' || quote_ident(v.relname)"
            " AS name, v.relkind::text AS relkind, v.reloptions, pg_get_viewdef(v.oid) AS def"
            " FROM pg_depend d"
            " JOIN pg_rewrite r ON r.oid = d.objid"
            " JOIN pg_class v ON v.oid = r.ev_class"
            " JOIN pg_namespace n ON n.oid = v.relnamespace"
            " WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1::regclass"
            "   AND v.oid <> $1::regclass",
            LIVE,
        )
    )


async def _grants(conn: asyncpg.Connection) -> list[str]:
    """GRANT statements that give the shadow the live table's privileges."""
    rows = await conn.fetch(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.rolname) END AS who,"
        " a.privilege_type, a.is_grantable"
        " FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a"
        " LEFT JOIN pg_roles g ON g.oid = a.grantee"
        " WHERE c.oid = $1::regclass AND a.grantee <> c.relowner",
        LIVE,
    )
    return [
        f"GRANT {r['privilege_type']} ON {SHADOW} TO {r['who']}"
        + (" WITH GRANT OPTION" if r["is_grantable"] else "")
        for r in rows
    ]


async def swap_tables(conn: asyncpg.Connection, lock_timeout_ms: int) -> None:
    """The shadow becomes ``core.metric_daily`` (module docstring). In ``conn``'s transaction,
    with writers held; raises ``LockNotAvailableError`` if readers keep the table past
    ``lock_timeout_ms``, and leaves the rollback to the caller."""
    await conn.execute("SET LOCAL search_path = pg_catalog")  # definitions fully qualified
    await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
    for grant in await _grants(conn):
        await conn.execute(grant)
    indexes = await conn.fetch(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = $1::regclass",
        LIVE,
    )
    await conn.execute(f"LOCK TABLE {LIVE} IN ACCESS EXCLUSIVE MODE")
    views = await _dependent_views(conn)
    for v in views:
        if v["relkind"] != "v":
            raise RuntimeError(f"{v['name']} reads {LIVE} and is no plain view: cannot swap")
    await conn.execute(f"ALTER TABLE {LIVE} RENAME TO {_LIVE_NAME}_old")
    for r in indexes:
        await conn.execute(f"ALTER INDEX core.{r['relname']} RENAME TO {r['relname']}_old")
    await conn.execute(f"ALTER TABLE {SHADOW} RENAME TO {_LIVE_NAME}")
    for r in indexes:
        await conn.execute(f"ALTER INDEX core.{r['relname']}_rebuild RENAME TO {r['relname']}")
    for v in views:
        options = f" WITH ({', '.join(v['reloptions'])})" if v["reloptions"] else ""
        await conn.execute(f"CREATE OR REPLACE VIEW {v['name']}{options} AS {v['def']}")
    await conn.execute(f"DROP TABLE {LIVE}_old")  # no CASCADE: a dependent left means a bug
    await conn.execute(f"DROP TABLE {STALE}")
