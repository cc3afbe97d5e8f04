"""Every entity of one snapshot recomputed, on every core.

Recomputing is Python work (decode the JSON record, validate it, compute its contributions):
one process does about 10,000–20,000 entities a second, so a national history of 2.2 million
would take minutes. The caller's REPEATABLE READ transaction exports its snapshot
(``pg_export_snapshot``); ``jobs`` processes import it (``SET TRANSACTION SNAPSHOT``), so all of
them read exactly what the caller sees, and each scans its own range of the table's pages (a
TID range scan: no row read twice, no index needed). Their tallies are merged here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import asyncpg

from vanphong.ground.lifetime import die_with
from vanphong.rebuild.reading import count_entities, stream_entities, table_pages
from vanphong.rebuild.tally import Tally

#: Progress: (entities done so far, entities expected) — the second is an estimate.
Progress = Callable[[int, int], None]

#: Entities between two progress reports of a process.
_STEP = 2_000

_done: Any = None  # in a scanning process: the counter all of them add to


def _init(counter: Any, parent: int) -> None:
    """In a scanning process: die with the rebuild or verify that started it (a killed command
    must leave no process behind reading its snapshot), and count into ``counter``."""
    global _done
    die_with(parent)
    _done = counter


def _count(n: int) -> None:
    if _done is not None:
        with _done.get_lock():
            _done.value += n


async def _scan(url: str, snapshot: str, blank: Tally, pages: tuple[int, int | None]) -> Tally:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        tally = blank
        async for entity in stream_entities(conn, tally.schemas, pages):
            tally.add(entity)
            if tally.entities % _STEP == 0:
                _count(_STEP)
        _count(tally.entities % _STEP)
        return tally
    finally:
        await conn.close()


def scan_part(url: str, snapshot: str, blank: Tally, pages: tuple[int, int | None]) -> Tally:
    """One process's part (run in a process of the pool), tallied into ``blank`` (an empty
    tally: the zone, ``keep_stale`` and the schema directories travel with it)."""
    return asyncio.run(_scan(url, snapshot, blank, pages))


async def recompute_snapshot(
    conn: asyncpg.Connection,
    url: str,
    blank: Tally,
    jobs: int,
    progress: Progress | None = None,
    meanwhile: Callable[[], Awaitable[None]] | None = None,
) -> Tally:
    """The tally of every entity ``conn``'s transaction (REPEATABLE READ) sees, finished,
    tallied into ``blank`` (and copies of it, one per process).
    ``meanwhile`` runs on ``conn`` while the processes recompute (with one job: after)."""
    expected = await count_entities(conn)
    show = progress or (lambda _done, _expected: None)
    if jobs <= 1:
        tally = blank
        async for entity in stream_entities(conn, tally.schemas):
            tally.add(entity)
            if tally.entities % _STEP == 0:
                show(tally.entities, max(expected, tally.entities))
        tally.finish()
        if meanwhile is not None:
            await meanwhile()
        return tally
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    pages = await table_pages(conn)
    bounds: list[int | None] = [pages * i // jobs for i in range(jobs)]
    bounds.append(None)  # the last part reads to the end, whatever the table has grown to
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    counter = context.Value("q", 0)
    loop = asyncio.get_running_loop()
    us = (counter, os.getpid())
    with ProcessPoolExecutor(jobs, context, initializer=_init, initargs=us) as pool:
        parts = [
            loop.run_in_executor(
                pool,
                scan_part,
                url,
                snapshot,
                blank,
                (bounds[i] or 0, bounds[i + 1]),
            )
            for i in range(jobs)
        ]
        pending: set[asyncio.Future[Any]] = set(parts)
        if meanwhile is not None:
            pending.add(asyncio.ensure_future(meanwhile()))
        while pending:
            _, pending = await asyncio.wait(pending, timeout=0.5)
            show(counter.value, max(expected, counter.value))
        tallies: list[Tally] = [p.result() for p in parts]
    tally = tallies[0]
    for other in tallies[1:]:
        tally.merge(other)
    tally.finish()
    return tally
