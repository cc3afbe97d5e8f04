"""What migration 0006 costs the write path, measured at the sink: ``python -m bench.sinkwrite``.

The same events (``BENCH_SINK_PROVINCES`` copies of the demo, 3 by default, ~240,000 events)
go through the worker's write path without Kafka (``bench.readdata.load``: decode, validate,
plan, ``PostgresSink.write`` in batches of 4,000 with two writers, commits durable as the
worker's) into fresh databases, alternately *with* everything 0006 adds on the write side (two
indexes on ``core.metric_daily``, one partial index on ``core.entities``, the merger trigger)
and *without* it (those dropped after migrating), ``BENCH_SINK_ROUNDS`` times each (3). The
host's speed drifts, so the rounds alternate and the medians are compared. This is a proxy:
``make bench`` (Kafka, the worker process) is the measurement of record.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import asyncpg

from bench.infra import create_database, drop_database
from bench.readdata import Params, generate, items, load
from vanphong.ground.settings import Settings

WRITE_SIDE = """
DROP TRIGGER attribution_ranges_on_merger ON core.entities;
DROP TRIGGER attribution_ranges_on_merger_deleted ON core.entities;
DROP INDEX core.metric_daily_unit_month;
DROP INDEX core.metric_daily_month;
DROP INDEX core.entities_task_assignee;
"""


async def one(settings: Settings, provinces: list, variant: str) -> float:
    name = f"vanphong_sinkwrite_{variant}"
    url = await create_database(settings, name, migrated=True)
    try:
        if variant == "without":
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(WRITE_SIDE)
            finally:
                await conn.close()
        started = time.monotonic()
        events = await load(url, settings, items(provinces), lambda _n: None, durable=True)
        return events / (time.monotonic() - started)
    finally:
        await drop_database(settings, name)


async def amain() -> None:
    settings = Settings()
    count = int(os.environ.get("BENCH_SINK_PROVINCES", "3"))
    rounds = int(os.environ.get("BENCH_SINK_ROUNDS", "3"))
    provinces = generate(Params(provinces=count), lambda _n: None)
    events = sum(len(p) for p in provinces)
    print(f"{events:,} events, {rounds} rounds of each variant, alternating", flush=True)
    rates: dict[str, list[float]] = {"without": [], "with": []}
    for i in range(rounds):
        for variant in ("without", "with") if i % 2 == 0 else ("with", "without"):
            rate = await one(settings, provinces, variant)
            rates[variant].append(rate)
            print(
                f"round {i + 1} {variant:>7} 0006's write side: {rate:,.0f} events/s"
                f" (load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    without, with_ = (statistics.median(rates[v]) for v in ("without", "with"))
    print(
        f"sinkwrite: events={events} without_eps={without:.0f} with_eps={with_:.0f}"
        f" ratio={with_ / without:.3f}"
    )


if __name__ == "__main__":
    asyncio.run(amain())
