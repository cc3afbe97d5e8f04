"""The sink's statements are planned for the tables of the moment, never from a cached plan.

PostgreSQL switches a prepared statement (asyncpg prepares every statement) to a cached
generic plan after five executions. The sink's statements take their rows as one JSON
parameter, so a plan for its actual value is no better than the generic one, and the generic
plan is cached. Cached while ``core.entities`` is small, it was a hash join over a sequential
scan, and every later batch's lookup and update read the whole table: at 5,000 events/s
PostgreSQL took 0.9 of a core (docs/performance.md). ``SESSION_SETTINGS`` has the sink's
sessions plan every execution.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Env
from tests.events import event
from vanphong.core.batch import Accepted, Coordinates, Item
from vanphong.schemas.catalog import BY_TYPE
from vanphong.schemas.codec import shipped_schemas
from vanphong.sinks.postgres import PostgresSink


def document(env: Env, offset: int, document_id: str, revision: int) -> Item:
    topic = env.topic("document-issued.v1")
    record = event("document.issued", document_id=document_id, revision=revision)
    return Item(
        Coordinates(topic, 0, offset), None, b"", Accepted(BY_TYPE["document.issued"], record)
    )


def batches(env: Env, count: int) -> list[list[Item]]:
    """Small batches of new documents, each with a correction of one from the batch before (so
    the lookup finds it and the update runs)."""
    out, offset = [], 0
    for b in range(count):
        batch = []
        for i in range(10):
            batch.append(document(env, offset, f"d{b}-{i}", 1))
            offset += 1
        if b:
            batch.append(document(env, offset, f"d{b - 1}-0", 2))
            offset += 1
        out.append(batch)
    return out


def test_the_sink_plans_each_execution_and_caches_no_generic_plan(env: Env) -> None:
    async def go() -> list[Any]:
        sink = await PostgresSink.connect(
            env.settings.database_url, env.settings.zone, shipped_schemas(), max_size=1
        )
        try:
            for batch in batches(env, 8):
                await sink.write(batch)
            async with sink.pool.acquire() as conn:  # the one session that wrote them
                return await conn.fetch(  # a statement without parameters has one plan anyway
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE cardinality(parameter_types) > 0"
                )
        finally:
            await sink.close()

    statements = asyncio.run(go())
    lookup = [s for s in statements if "FOR UPDATE OF e" in s["statement"]]
    update = [s for s in statements if s["statement"].startswith("UPDATE core.entities")]
    assert lookup and lookup[0]["custom_plans"] == 8
    assert update and update[0]["custom_plans"] == 7
    cached = [(s["statement"][:60], s["generic_plans"]) for s in statements if s["generic_plans"]]
    assert cached == []
