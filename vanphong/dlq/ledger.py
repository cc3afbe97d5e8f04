"""The replay ledger, ``core.dlq_replays``: one row per dead letter replayed, committed "in
doubt" (``new_offset`` NULL) before its message is produced and completed once it is on the
topic. Reading it, and recording where replays landed; the rows are written by
:mod:`vanphong.dlq.execute`."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from vanphong.dlq.model import Place, Replay
from vanphong.ground import pgconnect
from vanphong.ground.settings import Settings
from vanphong.ground.unreachable import DATABASE_ERRORS, PG_TIMEOUT_S, database_error


async def connect(settings: Settings) -> asyncpg.Connection:
    """A connection to the database (host by host through a multi-host URL), failures raised as
    ``Unreachable``."""
    try:
        return await pgconnect.connect(settings.database_url, timeout=PG_TIMEOUT_S)
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc


async def read_replays(conn: asyncpg.Connection, settings: Settings) -> dict[Place, Replay]:
    """Every row of ``core.dlq_replays``, by dead letter."""
    try:
        rows = await conn.fetch(
            "SELECT dlq_partition, dlq_offset, reason, source_topic, source_partition,"
            " source_offset, target_partition, scan_from, replayed_at, new_offset"
            " FROM core.dlq_replays"
        )
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    return {
        (r["dlq_partition"], r["dlq_offset"]): Replay(
            place=(r["dlq_partition"], r["dlq_offset"]),
            reason=r["reason"],
            source=(r["source_topic"], r["source_partition"], r["source_offset"]),
            target_partition=r["target_partition"],
            scan_from=r["scan_from"],
            replayed_at=r["replayed_at"],
            new_offset=r["new_offset"],
        )
        for r in rows
    }


async def replays_of(settings: Settings) -> dict[Place, Replay]:
    """``core.dlq_replays`` by dead letter (for ``dlq list``)."""
    conn = await connect(settings)
    try:
        return await read_replays(conn, settings)
    finally:
        await conn.close()


async def record_offsets(conn: asyncpg.Connection, done: Sequence[tuple[Place, int]]) -> None:
    """Complete in-doubt rows: where each replayed message landed (``done``: place, offset)."""
    await conn.executemany(
        "UPDATE core.dlq_replays SET new_offset = $3, replayed_at = now()"
        " WHERE dlq_partition = $1 AND dlq_offset = $2 AND new_offset IS NULL",
        [(p, o, offset) for (p, o), offset in done],
    )


async def record_found(conn: asyncpg.Connection, found: Sequence[Replay]) -> None:
    """Rows for replays found on their target topic that the ledger had lost (PostgreSQL went
    back in time): complete at once, where the message is (vanphong/dlq/search.py)."""
    await conn.executemany(
        "INSERT INTO core.dlq_replays (dlq_partition, dlq_offset, reason, source_topic,"
        " source_partition, source_offset, target_partition, scan_from, replayed_at, new_offset)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), $8) ON CONFLICT DO NOTHING",
        [(*r.place, r.reason, *r.source, r.target_partition, r.new_offset) for r in found],
    )
