"""What PostgreSQL records for ``vanphong status``: applied offsets, recorded offset anomalies,
dead letters, counters per topic and the sink's commits, read in one connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from vanphong.core.positions import ANOMALIES_SHOWN, Anomaly, Stored
from vanphong.ground import pgconnect
from vanphong.ground.settings import Settings
from vanphong.ground.unreachable import DATABASE_ERRORS, PG_TIMEOUT_S, database_error
from vanphong.status.model import RecordedAnomaly, SinkStatus, TopicCounters


@dataclass
class DatabaseState:
    """PostgreSQL's side of the status, read at ``now`` (the database's clock)."""

    now: datetime
    applied: dict[tuple[str, int], tuple[int, datetime]]
    stored: dict[tuple[str, int], Stored]
    anomalies: list[RecordedAnomaly]
    anomalies_total: int
    dead_letters: dict[str, int]
    unrelayed: int
    counters: list[TopicCounters]
    sink: SinkStatus


async def read_database(settings: Settings, topics: Sequence[str]) -> DatabaseState:
    try:
        conn = await pgconnect.connect(settings.database_url, timeout=PG_TIMEOUT_S)
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    try:
        now = await conn.fetchval("SELECT now()")
        offsets = await conn.fetch(
            "SELECT topic, partition, next_offset, updated_at, topic_id::text AS topic_id,"
            " rewind_to FROM core.sink_offsets WHERE topic = ANY($1::text[])",
            list(topics),
        )
        anomalies = await conn.fetch(
            "SELECT *, old_topic_id::text AS old_id, new_topic_id::text AS new_id,"
            " count(*) OVER () AS total FROM core.offset_anomalies"
            " ORDER BY detected_at DESC, id DESC LIMIT $1",
            ANOMALIES_SHOWN,
        )
        reasons = await conn.fetch(
            "SELECT reason, count(*) AS n, count(*) FILTER (WHERE sent_at IS NULL) AS unsent"
            " FROM core.dead_letters GROUP BY reason"
        )
        counters = await conn.fetch(
            "SELECT topic, applied, unchanged, dead_lettered FROM core.topic_counters"
            " WHERE topic = ANY($1::text[]) ORDER BY topic",
            list(topics),
        )
        sink = await conn.fetchrow(
            "SELECT max(last_commit_at) AS last_commit_at, count(*) AS workers_seen,"
            " count(*) FILTER (WHERE last_commit_at > now() - make_interval(secs => $1))"
            " AS workers_recent, coalesce(sum(batches), 0) AS batches,"
            " coalesce(sum(events), 0) AS events FROM core.sink_commits",
            settings.stall_seconds,
        )
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    finally:
        await conn.close()
    assert sink is not None
    return DatabaseState(
        now=now,
        applied={
            (r["topic"], r["partition"]): (r["next_offset"], r["updated_at"]) for r in offsets
        },
        stored={
            (r["topic"], r["partition"]): Stored(r["next_offset"], r["topic_id"], r["rewind_to"])
            for r in offsets
        },
        anomalies=[_recorded(r) for r in anomalies],
        anomalies_total=anomalies[0]["total"] if anomalies else 0,
        dead_letters={r["reason"]: r["n"] for r in reasons},
        unrelayed=sum(r["unsent"] for r in reasons),
        counters=[
            TopicCounters(r["topic"], r["applied"], r["unchanged"], r["dead_lettered"])
            for r in counters
        ],
        sink=SinkStatus(
            last_commit_at=sink["last_commit_at"],
            workers_seen=sink["workers_seen"],
            workers_recent=sink["workers_recent"],
            batches=int(sink["batches"]),
            events=int(sink["events"]),
        ),
    )


def _recorded(row: asyncpg.Record) -> RecordedAnomaly:
    return RecordedAnomaly(
        Anomaly(
            row["kind"],
            row["topic"],
            row["partition"],
            row["stored_offset"],
            row["resumed_at"],
            row["log_start"],
            row["log_end"],
            row["lost"],
            row["old_id"],
            row["new_id"],
            row["partitions"],
            row["contract_partitions"],
            reread=row["reread"],
        ),
        row["detected_at"],
        row["worker_id"],
    )
