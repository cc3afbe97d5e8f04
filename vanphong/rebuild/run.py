"""``vanphong rebuild``: the recomputed aggregates built beside the live ones and swapped in,
while workers keep applying.

Lifecycle:

1. **One at a time**: a session advisory lock; a second rebuild says so
   (:class:`RebuildRunning`). What a killed rebuild left (its shadow) is dropped.
2. **Snapshot S0** (REPEATABLE READ): every entity streamed and recomputed under today's rules
   (vanphong/rebuild/tally.py), the sums COPYed into the shadow, the stale contributions beside
   them, the shadow indexed; the live cells of S0 compared with the sums (the cells changed).
   With S0 comes its *cut*: the start of the oldest transaction still open then (or the
   snapshot's own time), so that every entity a transaction invisible to S0 wrote has
   ``updated_at`` at or after the cut (writers set it to their transaction's start).
3. **Catch-up rounds**, writers running: a new snapshot S1; the entities written since S0's cut
   are read in S0 (what the shadow counts for them) and in S1 (what it must count) and the
   shadow moves by the difference; S1 becomes S0. Until a round finds few entities.
4. **The swap** (vanphong/rebuild/swap.py), one transaction: writers held, the last catch-up
   (read without a snapshot: no batch is in flight), stale contributions written, ranges
   refreshed, tables swapped, commit. A lock that is not granted within ``lock_timeout``
   rolls it all back; another round, then another try.

Killed at any point before that commit, the live figures are as they were.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from vanphong.core.recompute import Cell, CellComparison
from vanphong.core.semantics import TASK_TYPES, EntityRef
from vanphong.rebuild import shadow, swap
from vanphong.rebuild.reading import entities_by_key, stream_cells
from vanphong.rebuild.scan import recompute_snapshot
from vanphong.rebuild.tally import Tally
from vanphong.schemas.catalog import EventType
from vanphong.schemas.known import load_known_schemas

#: The advisory lock that keeps rebuilds one at a time.
LOCK_KEY = "vanphong.rebuild"
#: A catch-up round that finds at most this many entities is the last before the swap.
FEW = 5_000
MAX_ROUNDS = 8
#: Entities read, recomputed and applied at once while catching up (bounds the memory).
CHUNK = 20_000
#: Added to a cut when some sessions' transactions are hidden from this role (another role's
#: workers, without pg_read_all_stats): their start is not known, so look further back.
HIDDEN_MARGIN = timedelta(seconds=60)
MARGIN = timedelta(seconds=1)

#: Progress: (what is being done, done so far, expected or None).
Progress = Callable[[str, int, int | None], None]


class RebuildRunning(Exception):
    """Another rebuild holds the lock."""


class SwapImpossible(Exception):
    """The swap never got its locks: readers or writers held the tables past ``lock_timeout``
    every time. Nothing changed."""


@dataclass
class Outcome:
    entities: int = 0  # recomputed in S0
    caught_up: int = 0  # recomputed again in catch-up rounds
    cells: int = 0  # cells of the new table
    cells_changed: int = 0  # cells whose value differed in S0
    contributions_rewritten: int = 0
    rounds: int = 0
    attempts: int = 0  # swap transactions tried
    refused: int = 0  # entities today's rules would refuse (kept, and counted)
    seconds: float = 0.0
    writers_held_s: float = 0.0  # the successful swap's: lock requested → commit
    writers_waited_s: float = 0.0  # every swap attempt's, the failed ones too
    timings: dict[str, float] = field(default_factory=dict)  # seconds from the start
    held_steps_ms: dict[str, float] = field(default_factory=dict)  # ms from the lock request


async def _cut(conn: asyncpg.Connection, ours: list[int]) -> datetime:
    """The snapshot's cut (module docstring). Must be the transaction's first statement."""
    row = await conn.fetchrow(
        "SELECT least(clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity"
        "   WHERE datname = current_database() AND pid <> ALL ($1::int[]))) AS cut,"
        " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        "   AND backend_type = 'client backend' AND state IS NULL) AS hidden",
        ours,
    )
    assert row is not None
    return row["cut"] - (HIDDEN_MARGIN if row["hidden"] else MARGIN)


async def _changed_since(conn: asyncpg.Connection, cut: datetime) -> list[EntityRef]:
    """Entities written at or after ``cut``; a task by both halves (its contributions live
    on the assignment, whichever half changed)."""
    rows = await conn.fetch(
        "SELECT entity_type, entity_id FROM core.entities WHERE updated_at >= $1", cut
    )
    refs: set[EntityRef] = set()
    for r in rows:
        kind = EventType(r["entity_type"])
        if kind in TASK_TYPES:
            refs.update(EntityRef(t, r["entity_id"]) for t in TASK_TYPES)
        else:
            refs.add(EntityRef(kind, r["entity_id"]))
    return sorted(refs)


@dataclass(frozen=True)
class _Run:
    """What every step of one rebuild works with: the database, the connection that writes the
    shadow, the time zone, the progress and the outcome it fills in."""

    url: str
    writer: asyncpg.Connection
    zone: ZoneInfo
    schema_dirs: tuple[Path, ...]  # the settings' extra schema versions (records are read by)
    show: Progress
    out: Outcome


class _Snapshot:
    """A connection in a REPEATABLE READ, read-only transaction, and its cut."""

    def __init__(self, conn: asyncpg.Connection, cut: datetime) -> None:
        self.conn, self.cut = conn, cut

    @classmethod
    async def take(cls, url: str, ours: list[int]) -> _Snapshot:
        """``ours``: this rebuild's other sessions (their transactions write no entity)."""
        conn = await asyncpg.connect(url)
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return cls(conn, await _cut(conn, [*ours, conn.get_server_pid()]))

    async def close(self) -> None:
        await self.conn.close()  # ends the transaction


async def rebuild(
    url: str,
    zone: ZoneInfo,
    schema_dirs: tuple[Path, ...],
    progress: Progress | None = None,
    lock_timeout_ms: int = 1000,
    attempts: int = 120,
    jobs: int = 1,
) -> Outcome:
    """Rebuild the aggregates (module docstring). Raises :class:`RebuildRunning`,
    :class:`SwapImpossible` once ``attempts`` swaps have found the locks taken, or what asyncpg
    raises when the database cannot be reached."""
    started = time.monotonic()
    show = progress or (lambda _what, _done, _total: None)
    outcome = Outcome()
    control = await asyncpg.connect(url)
    try:
        if not await control.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", LOCK_KEY
        ):
            raise RebuildRunning("another rebuild is running")
        writer = await asyncpg.connect(url)
        try:
            await shadow.create_shadow(writer)
            ours = [control.get_server_pid(), writer.get_server_pid()]
            snaps = [await _Snapshot.take(url, ours)]  # the one the shadow stands at, last
            run = _Run(url, writer, zone, schema_dirs, show, outcome)
            try:
                await _build(run, snaps[-1], jobs)
                outcome.timings["build"] = time.monotonic() - started
                snaps[-1] = await _rounds(run, snaps[-1])
                outcome.timings["catch_up"] = time.monotonic() - started
                await _swap(run, snaps, lock_timeout_ms, attempts)
            finally:
                await snaps[-1].close()
        finally:
            await writer.close()
    finally:
        await control.close()  # also releases the advisory lock
    outcome.seconds = time.monotonic() - started
    return outcome


async def _build(run: _Run, snap: _Snapshot, jobs: int) -> None:
    """Step 2 of the module docstring."""
    writer, show, out = run.writer, run.show, run.out
    started = time.monotonic()
    live: dict[Cell, int] = {}

    async def read_live() -> None:  # on the snapshot's connection, while processes recompute
        await stream_cells(snap.conn, live.__setitem__)

    tally = await recompute_snapshot(
        snap.conn,
        run.url,
        Tally(run.zone, keep_stale=True, schema_dirs=run.schema_dirs),
        jobs,
        progress=lambda done, expected: show("recomputing entities", done, expected),
        meanwhile=read_live,
    )
    out.timings["recompute"] = time.monotonic() - started
    await shadow.write_stale(writer, tally.stale_entities)
    out.contributions_rewritten = len(tally.stale_entities)
    tally.stale_entities.clear()
    out.entities, out.refused = tally.entities, len(tally.refused)
    show("writing the shadow table", 0, None)
    out.cells = await shadow.fill_shadow(writer, tally.cells)
    out.timings["copy"] = time.monotonic() - started
    comparison = CellComparison(tally.cells, keep=0)
    for cell, value in live.items():
        comparison.see(cell, value)
    live.clear()
    comparison.finish()
    out.cells_changed = comparison.count
    show("indexing the shadow table", 0, None)
    await shadow.index_shadow(writer)
    out.timings["index"] = time.monotonic() - started


async def _catch_up(
    run: _Run, before: _Snapshot, refs: list[EntityRef], now: asyncpg.Connection
) -> None:
    """Move the shadow from ``before`` to ``now`` for ``refs``, a chunk at a time (each row
    recomputes on its own: an assignment comes with its completion)."""
    schemas = load_known_schemas(run.schema_dirs)
    for i in range(0, len(refs), CHUNK):
        chunk = refs[i : i + CHUNK]
        old = await entities_by_key(before.conn, chunk, schemas)
        new = await entities_by_key(now, chunk, schemas)
        await shadow.apply_changes(run.writer, old, new, run.zone)


async def _rounds(run: _Run, snap: _Snapshot, max_rounds: int = MAX_ROUNDS) -> _Snapshot:
    """Step 3 of the module docstring; the last snapshot, still open."""
    for _ in range(max_rounds):
        ours = [run.writer.get_server_pid(), snap.conn.get_server_pid()]
        later = await _Snapshot.take(run.url, ours)
        try:
            refs = await _changed_since(later.conn, snap.cut)
            run.show(f"catching up with {len(refs):,} entities written meanwhile", 0, None)
            await _catch_up(run, snap, refs, later.conn)
        except BaseException:
            await later.close()
            raise
        await snap.close()
        snap = later
        run.out.rounds += 1
        run.out.caught_up += len(refs)
        if len(refs) <= FEW:
            break
    return snap


async def _swap(run: _Run, snaps: list[_Snapshot], lock_timeout_ms: int, attempts: int) -> None:
    """Step 4 of the module docstring, retried; ``snaps[-1]`` moves on between tries."""
    writer, out = run.writer, run.out
    for attempt in range(1, attempts + 1):
        out.attempts = attempt
        run.show("swapping", 0, None)
        requested = time.monotonic()
        try:
            steps: dict[str, float] = {}

            def mark(step: str, steps: dict[str, float] = steps, since: float = requested) -> None:
                steps[step] = (time.monotonic() - since) * 1000

            async with writer.transaction():
                await swap.hold_writers(writer, lock_timeout_ms)
                mark("writers' lock granted")
                refs = await _changed_since(writer, snaps[-1].cut)
                await _catch_up(run, snaps[-1], refs, writer)
                mark("last catch-up")
                rewritten = await swap.write_contributions(writer)
                mark("contributions written")
                await swap.refresh_ranges(writer)
                mark("ranges refreshed")
                await swap.swap_tables(writer, lock_timeout_ms)
                mark("tables swapped")
        except asyncpg.LockNotAvailableError as exc:
            out.writers_waited_s += time.monotonic() - requested
            if attempt == attempts:
                raise SwapImpossible(
                    f"the swap could not take its locks in {attempts} tries of"
                    f" {lock_timeout_ms} ms each (a long query or transaction on"
                    " core.metric_daily or core.sink_offsets?): nothing changed"
                ) from exc
            await asyncio.sleep(min(0.05 * attempt, 1.0))  # let the queue behind us drain
            snaps[-1] = await _rounds(run, snaps[-1], max_rounds=1)
            continue
        held = time.monotonic() - requested
        out.held_steps_ms = {k: round(v, 1) for k, v in steps.items()}
        out.writers_held_s = held
        out.writers_waited_s += held
        out.caught_up += len(refs)
        out.contributions_rewritten = rewritten
        return
