"""The read benchmark's history: 34 provinces of the demo's mix, 2018–2025, with every 2025
merger, generated once into a database of its own and reused by later runs.

Why the demo, 34 times: the demo (``vanphong.demo``) is the project's picture of one
province's office (mostly documents, then meetings; receptions, tasks, awards; the 2019 merger
of the boards' offices, and in 2025 the boards, the district committees and two provinces
merging). Vietnam has had 34 provinces since 2025-07-01, so the national history is 34 copies,
each with its own seed and prefixed ids (``testkit.provinces.province``), its own ``province``
name, and the make-bench noise (5 % retries, ~1 % corrections a little after their originals).

Why through the sink: the history is written by the worker's own path without Kafka — each
event encoded as ``vanphong publish`` would, then decoded, validated and normalised
(``vanphong.streams.pipeline.prepare``) and applied by
:class:`vanphong.sinks.postgres.PostgresSink` in batches of
4,000, in publication order across provinces (so rows of one unit lie scattered through the
tables as they do in production). The core tables are then exactly what a worker makes; only
``synchronous_commit`` is off for the load's sessions, which changes nothing that is stored.

A marker table (``benchread.dataset``) records the parameters once the load has committed: a
later run with the same parameters reuses the database; anything else (another seed, a load
that was interrupted) builds it again.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.generate import encode_all
from bench.infra import create_database, with_database
from testkit.provinces import CORRECTION_RATE, PROVINCES, RETRY_RATE, province_events
from vanphong.core.batch import Coordinates, Item
from vanphong.core.rejection import ContentionError, TransientError
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EventType
from vanphong.schemas.codec import shipped_schemas
from vanphong.sinks.postgres import SESSION_SETTINGS, PostgresSink
from vanphong.streams.pipeline import prepare

DATABASE = "vanphong_benchread"
TOPIC_PREFIX = "benchread"
BATCH = 4_000  # VANPHONG_BATCH_MAX_EVENTS's default
WRITERS = 2  # VANPHONG_WRITERS's default
# Bump when the generator or the loader changes what is stored (2: the seasonal demo, 3cc45c4).
FORMAT = 2

# (publication key, topic without prefix, Kafka key, value): what the loader replays, in the
# order of the publication key (the instant the event is published at).
Row = tuple[str, str, bytes, bytes]


@dataclass(frozen=True)
class Params:
    """What the stored history depends on; the marker table holds it as JSON."""

    provinces: int = len(PROVINCES)
    seed: int = 2024
    retry_rate: float = RETRY_RATE
    correction_rate: float = CORRECTION_RATE
    format: int = FORMAT

    def as_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def province_rows(seed: int, index: int) -> list[Row]:
    """Copy ``index`` encoded as ``vanphong publish`` sends it (run in a worker process)."""
    timed = province_events(seed, index)
    encoded = encode_all([event for _, event in timed])
    return [(at, e.topic, e.key, e.value) for (at, _), e in zip(timed, encoded, strict=True)]


def generate(params: Params, advance: Callable[[int], None]) -> list[list[Row]]:
    """Every province's rows, two processes at a time; ``advance(events)`` after each."""
    out: list[list[Row]] = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(province_rows, params.seed, i) for i in range(params.provinces)]
        for future in futures:
            rows = future.result()
            out.append(rows)
            advance(len(rows))
    return out


_BY_TOPIC = {e.topic: e for e in EventType}


def items(provinces: list[list[Row]]) -> Iterator[Item]:
    """The whole history in publication order, as the worker's pipeline makes it: each message
    decoded, validated and normalised, at coordinates of a topic partition (the key's CRC
    modulo the contract's partition count; offsets in publication order)."""
    offsets: dict[tuple[str, int], int] = {}
    for _, topic, key, value in heapq.merge(*provinces, key=lambda row: row[0]):
        event_type = _BY_TOPIC[topic]
        partition = zlib.crc32(key) % event_type.partitions
        full = f"{TOPIC_PREFIX}.{topic}"
        offset = offsets.get((full, partition), 0)
        offsets[(full, partition)] = offset + 1
        yield prepare(
            Coordinates(full, partition, offset), key, value, event_type, shipped_schemas()
        )


async def _write(sink: PostgresSink, batch: list[Item]) -> None:
    """One batch through the sink, retried as the worker retries (the sink skips what a failed
    attempt's commit may already hold)."""
    for attempt in range(100):
        try:
            await sink.write(batch)
            return
        except (ContentionError, TransientError):
            await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
    raise RuntimeError("a load batch kept failing")


async def load(
    url: str,
    settings: Settings,
    stream: Iterator[Item],
    advance: Callable[[int], None],
    durable: bool = False,
) -> int:
    """Apply ``stream`` with ``WRITERS`` writers, each owning the partitions whose number
    modulo ``WRITERS`` is its own and holding one batch in flight, as the worker does.
    ``durable``: commit as the worker does (``synchronous_commit`` on), to compare writes."""
    pool = await asyncpg.create_pool(
        url,
        min_size=WRITERS,
        max_size=WRITERS,
        server_settings=SESSION_SETTINGS | ({} if durable else {"synchronous_commit": "off"}),
    )
    sink = PostgresSink(pool, settings.zone, shipped_schemas())
    pending: list[list[Item]] = [[] for _ in range(WRITERS)]
    running: list[asyncio.Task[None] | None] = [None] * WRITERS
    total = 0

    async def flush(w: int) -> None:
        task = running[w]
        if task is not None:
            await task
        batch, pending[w] = pending[w], []
        running[w] = asyncio.create_task(_write(sink, batch))
        advance(len(batch))

    try:
        for item in stream:
            w = item.at.partition % WRITERS
            pending[w].append(item)
            total += 1
            if len(pending[w]) >= BATCH:
                await flush(w)
        for w in range(WRITERS):
            if pending[w]:
                await flush(w)
        for task in running:
            if task is not None:
                await task
    finally:
        for task in running:
            if task is not None and not task.done():
                task.cancel()
        await pool.close()
    return total


async def stored_params(admin_url: str, url: str, database: str) -> dict[str, Any] | None:
    """The parameters the database was loaded with, or None (absent, or never finished).
    Compared as values: jsonb keeps its own key order, not the one written."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
    finally:
        await conn.close()
    if not exists:
        return None
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('benchread.dataset')") is None:
            return None
        value = await conn.fetchval("SELECT params::text FROM benchread.dataset")
        return dict(json.loads(value)) if value is not None else None
    finally:
        await conn.close()


async def mark(url: str, params: Params, events: int, seconds: dict[str, float]) -> None:
    """Record that the load finished (in the same transaction as the marker's schema)."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("CREATE SCHEMA IF NOT EXISTS benchread")
            await conn.execute(
                "CREATE TABLE benchread.dataset (params jsonb NOT NULL, events bigint NOT NULL,"
                " seconds jsonb NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())"
            )
            await conn.execute(
                "INSERT INTO benchread.dataset (params, events, seconds)"
                " VALUES ($1::jsonb, $2, $3::jsonb)",
                params.as_json(),
                events,
                json.dumps(seconds),
            )
    finally:
        await conn.close()


async def ensure(
    settings: Settings, params: Params, console: Console, database: str = DATABASE
) -> str:
    """The URL of the benchmark's database, generated and loaded first if it is missing or was
    loaded with other parameters (or not to the end)."""
    url = with_database(settings.database_url, database)
    if await stored_params(settings.database_url, url, database) == json.loads(params.as_json()):
        console.print(f"reusing the history in database {database} ({params.as_json()})")
        return url
    console.print(f"building the history in database {database}: {params.provinces} provinces")
    await create_database(settings, database, migrated=True)
    seconds: dict[str, float] = {}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console) as progress:
        gen = progress.add_task("generating and encoding provinces", total=params.provinces)
        provinces = generate(params, lambda _n: progress.advance(gen))
        seconds["generate"] = round(time.monotonic() - started, 1)
        events = sum(len(rows) for rows in provinces)
        started = time.monotonic()
        task = progress.add_task("decoding and writing through the sink", total=events)
        written = await load(url, settings, items(provinces), lambda n: progress.advance(task, n))
        seconds["load"] = round(time.monotonic() - started, 1)
    del provinces
    console.print(
        f"loaded {written:,} events in {seconds['load']:.0f} s"
        f" ({written / max(seconds['load'], 0.1):,.0f} events/s); vacuum and analyze"
    )
    started = time.monotonic()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    seconds["vacuum"] = round(time.monotonic() - started, 1)
    await mark(url, params, written, seconds)
    return url
