"""The naive service: what people write by hand. aiokafka consumer in a group with offsets
auto-committed, and for every event one asyncpg statement that upserts its figures.

To be a fair baseline it is not careless: the one statement per event also records the
``event_id`` and adds nothing when it was seen before, so retries are not double-counted. What
it gets wrong, by design of the approach rather than by bugs:

* a correction (revision 2) counts as one more document or meeting: there is no entity state
  to take the old revision back;
* task completions are not counted: on time or late depends on the assignment's due date;
* offsets are auto-committed on a timer, independently of PostgreSQL: a crash can skip events
  whose offsets were committed but whose statements never ran.

The harness checks its table against exactly that specification (``bench.expected.naive_spec``)
and reports how far it is from the truth.

Run as ``python -m bench.systems.naive BOOTSTRAP PREFIX GROUP DATABASE_URL TIMEZONE TOTAL``;
prints one JSON line when ``TOTAL`` events have been written.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.systems._usage import usage
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.schemas.codec import decode

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (event_id text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS metric_daily (
    unit_id text   NOT NULL,
    day     date   NOT NULL,
    metric  text   NOT NULL,
    value   bigint NOT NULL,
    PRIMARY KEY (unit_id, day, metric)
);
"""

# One round trip per event: remember the event_id; only if it is new, add its figures.
UPSERT = """
WITH fresh AS (
    INSERT INTO seen (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id
)
INSERT INTO metric_daily AS m (unit_id, day, metric, value)
SELECT c.unit_id, c.day, c.metric, c.value
FROM fresh,
     unnest($2::text[], $3::date[], $4::text[], $5::bigint[]) AS c(unit_id, day, metric, value)
ON CONFLICT (unit_id, day, metric) DO UPDATE SET value = m.value + excluded.value
"""

Figure = tuple[str, date, str, int]


def figures(kind: str, r: dict[str, Any], zone: ZoneInfo) -> list[Figure]:
    """What one event adds, judged on the event alone."""
    day = r["occurred_at"].astimezone(zone).date()
    if kind == "document.issued":
        out = [(r["unit_id"], day, "documents_issued", 1)]
        if r["appraised"]:
            out.append((r["unit_id"], day, "documents_appraised", 1))
        return out
    if kind == "meeting.held":
        return [
            (r["unit_id"], day, "meetings_held", 1),
            (r["unit_id"], day, "meeting_attendees", r["attendees"]),
        ]
    if kind == "citizens.received":
        return [
            (r["unit_id"], day, "receptions_held", 1),
            (r["unit_id"], day, "citizens_received", r["citizens"]),
            (r["unit_id"], day, "petitions_received", r["petitions"]),
        ]
    if kind == "award.granted":
        out = [(r["recipient_unit_id"], day, "awards_received", 1)]
        if r.get("granted_by_unit_id"):
            out.append((r["granted_by_unit_id"], day, "awards_granted", 1))
        return out
    if kind == "task.assigned":
        return [(r["unit_id"], day, "tasks_assigned", 1)]
    return []


async def run(
    bootstrap: str, prefix: str, group: str, url: str, timezone: str, total: int
) -> dict[str, float | int]:
    zone = ZoneInfo(timezone)
    conn = await asyncpg.connect(url)
    await conn.execute(SCHEMA)
    upsert = await conn.prepare(UPSERT)
    consumer = AIOKafkaConsumer(
        *(f"{prefix}.{e.topic}" for e in EVENT_TYPES),
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=True,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen = 0
    first_fetch = 0.0
    try:
        async for message in consumer:
            if not first_fetch:
                first_fetch = time.time()
            decoded = decode(message.value)
            rows = figures(decoded.event_type.type, decoded.record, zone)
            await upsert.fetch(
                decoded.record["event_id"],
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
            )
            seen += 1
            if seen >= total:
                break
        done = time.time()
        return {"done_at": done, "first_fetch_at": first_fetch, "events": seen, **usage()}
    finally:
        await consumer.stop()
        await conn.close()


def main() -> None:
    bootstrap, prefix, group, url, timezone, total = sys.argv[1:7]
    result = asyncio.run(run(bootstrap, prefix, group, url, timezone, int(total)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
