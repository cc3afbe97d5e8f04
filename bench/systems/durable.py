"""The durable ceiling: the least an exactly-once sink into PostgreSQL must do (issue 21).

The ceiling (bench/systems/ceiling.py) fetches and decodes and writes nothing, which no sink that
makes every event durable can approach. This system adds exactly what such a sink cannot skip,
and nothing else: per batch, one transaction that ``COPY``s each event's key fields (type,
entity key, unit, day) into a logged table together with the batch's next offsets, committed
with PostgreSQL's default durability (``synchronous_commit`` on), as the worker commits. No
rules, no fold, no aggregates, no dead letters, no group. Batches are what one fetch returns,
at most ``BATCH`` events, the worker's ``VANPHONG_BATCH_MAX_EVENTS`` default.

Run as ``python -m bench.systems.durable BOOTSTRAP PREFIX DATABASE_URL TIMEZONE TOTAL``; prints
one JSON line: ``{"done_at": <wall clock>, "first_fetch_at": ..., "events": N, ...}``.
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

from bench.systems._reading import read_everything
from bench.systems._usage import usage
from vanphong.schemas.catalog import EventType
from vanphong.schemas.codec import decode

BATCH = 4000  # the worker's VANPHONG_BATCH_MAX_EVENTS default
SCHEMA = """
CREATE TABLE IF NOT EXISTS event_keys (
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    unit_id     text,
    day         date NOT NULL
);
CREATE TABLE IF NOT EXISTS offsets (
    topic       text NOT NULL,
    partition   int  NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""
STORE_OFFSETS = """
INSERT INTO offsets (topic, partition, next_offset)
SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset
"""
# The unit an event is about: its first present field of these (an award's is its recipient).
UNIT_FIELDS = ("unit_id", "recipient_unit_id", "into_unit_id")

KeyRow = tuple[str, str, str | None, date]


def key_row(event_type: EventType, record: dict[str, Any], zone: ZoneInfo) -> KeyRow:
    unit = next((record[f] for f in UNIT_FIELDS if record.get(f)), None)
    day = record["occurred_at"].astimezone(zone).date()
    return (event_type.type, record[event_type.key_field], unit, day)


async def run(bootstrap: str, prefix: str, url: str, timezone: str, total: int) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    conn = await asyncpg.connect(url)
    await conn.execute(SCHEMA)
    consumer = await read_everything(bootstrap, prefix)
    try:
        seen, first_fetch = 0, 0.0
        while seen < total:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            if not fetched:
                continue
            first_fetch = first_fetch or time.time()
            rows: list[KeyRow] = []
            for messages in fetched.values():
                for message in messages:
                    decoded = decode(message.value)
                    rows.append(key_row(decoded.event_type, decoded.record, zone))
            ends = {tp: messages[-1].offset + 1 for tp, messages in fetched.items()}
            async with conn.transaction():
                await conn.copy_records_to_table("event_keys", records=rows)
                await conn.execute(
                    STORE_OFFSETS,
                    [tp.topic for tp in ends],
                    [tp.partition for tp in ends],
                    list(ends.values()),
                )
            seen += len(rows)
        done = time.time()
        return {"done_at": done, "first_fetch_at": first_fetch, "events": seen, **usage()}
    finally:
        await consumer.stop()
        await conn.close()


def main() -> None:
    bootstrap, prefix, url, timezone, total = sys.argv[1:6]
    print(json.dumps(asyncio.run(run(bootstrap, prefix, url, timezone, int(total)))), flush=True)


if __name__ == "__main__":
    main()
