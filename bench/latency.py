"""Latency under a steady offered load: publish → visible in PostgreSQL, per marker event.

Method. One vanphong worker runs on its own, empty topics (``<run>-lat``) and database. Once it
is warm (a first marker has gone all the way through), a paced producer offers the benchmark's
event mix at ``BENCH_LATENCY_RATE`` events/s (5,000) for ``BENCH_LATENCY_S`` seconds (60):
every 10 ms it sends however many messages keep it on schedule. Every 100 ms one of those
messages is a *marker*: a ``document.issued`` for the dedicated unit ``bench-latency`` on a day
of its own (2000-01-01 + i), so marker i is visible exactly when the row (``bench-latency``,
day i) exists. The harness records each marker's send time, and polls every 20 ms for the days
that have appeared; a marker's latency is the first poll that sees its day minus its send time.

Markers are ordinary events in the busiest topic (documents), spread over its partitions by
key, so they wait behind the same batches as everything else. The poll reads
``core.metric_daily`` by primary key rather than the ``reporting.unit_activity_daily`` view
(which aggregates every row on each read): both show the same committed transaction, and
the cheap query keeps the measuring from loading the database it measures. At the end the
view is checked to show every marker. Resolution: the 20 ms poll interval.
"""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from aiokafka import AIOKafkaProducer

from bench import infra
from bench.generate import Encoded
from bench.measure import VANPHONG, Bench, BenchFailure
from vanphong.core.rules import accept
from vanphong.ground.kafka import kafka_client_kwargs
from vanphong.schemas.codec import encode, shipped_schemas
from vanphong.schemas.json_input import parse_line

MARKER_UNIT = "bench-latency"
MARKER_EVERY_S = 0.1
TICK_S = 0.01
POLL_S = 0.02
FIRST_DAY = date(2000, 1, 1)


@dataclass
class Latency:
    offered_rate: int
    seconds: float
    sent: int
    achieved_rate: float
    latencies_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None
    visible_in_view: int = 0
    warning: str | None = None
    revision: str = ""

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the marker latencies."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[min(len(ordered), rank) - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def max(self) -> float:
        return max(self.latencies_ms, default=float("nan"))


def marker(i: int, topic_prefix: str) -> tuple[str, bytes, bytes]:
    """(topic, key, value) of marker ``i``: one document on its own day."""
    day = FIRST_DAY + timedelta(days=i)
    event = {
        "type": "document.issued",
        "event_id": f"bench-latency-{i}",
        "occurred_at": datetime(day.year, day.month, day.day, 5, tzinfo=UTC).isoformat(),
        "source": "bench",
        "document_id": f"bench-latency-{i}",
        "unit_id": MARKER_UNIT,
        "number": f"{i + 2:02d}-CV/VPTU",
        "doc_type": "CONG_VAN",
        "issuing_organ": "Văn phòng Tỉnh ủy",
        "title": f"marker {i}",
        "appraised": False,
        "secrecy": "NONE",
        "urgency": "NONE",
    }
    event_type, datum = parse_line(event, shipped_schemas())
    value = encode(event_type, accept(event_type, datum, shipped_schemas()))
    return f"{topic_prefix}.{event_type.topic}", datum["document_id"].encode(), value


async def run_latency(bench: Bench, mix: list[Encoded]) -> Latency:
    cfg, base = bench.cfg, bench.base
    prefix = cfg.latency_prefix
    await infra.create_prefix_topics(base, prefix)
    db = cfg.database("latency")
    url = await infra.create_database(base, db, migrated=True)
    settings = infra.settings_for(base, prefix, db)
    worker = infra.spawn(
        "latency-worker", [str(VANPHONG), "worker"], infra.vanphong_env(settings), bench.logs
    )
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(base), acks="all", enable_idempotence=True, linger_ms=5
    )
    conn = infra.Poller(url)
    await producer.start()
    try:
        await _warm_up(bench, producer, conn, worker, prefix)
        seen: dict[int, float] = {}
        sent_at, sent, elapsed = await _offer(
            cfg.latency_rate, cfg.latency_s, producer, mix, prefix, conn, seen
        )
        await _wait_markers(bench, conn, worker, sent_at, seen)
        rss = infra.peak_rss_mb(worker.pid)
        in_view = await conn.fetchval(
            "SELECT count(*) FROM reporting.unit_activity_daily WHERE unit_id = $1 AND day >= $2",
            MARKER_UNIT,
            FIRST_DAY,
        )
    finally:
        await producer.stop()
        await conn.close()
        worker.stop()
        if not cfg.keep:  # about 257 MB that nothing reads from here on (cleanup says a failure)
            with suppress(Exception):
                await infra.drop_database(base, db)
    latencies = [(seen[i] - sent_at[i]) * 1000 for i in sorted(sent_at)]
    result = Latency(
        cfg.latency_rate, elapsed, sent, sent / elapsed, latencies, rss, int(str(in_view))
    )
    if conn.reconnects:
        result.warning = f"database connection lost {conn.reconnects} time(s) during the run"
    return result


async def _visible_days(conn: infra.Poller) -> list[date]:
    rows = await conn.fetch(
        "SELECT day FROM core.metric_daily WHERE unit_id = $1 AND metric = 'documents_issued'",
        MARKER_UNIT,
    )
    return [r["day"] for r in rows]


async def _warm_up(
    bench: Bench,
    producer: AIOKafkaProducer,
    conn: infra.Poller,
    worker: infra.Child,
    prefix: str,
) -> None:
    """Wait until the worker has joined, connected and applied a first event (marker -1's day
    is before the measured ones, so it never counts)."""
    topic, key, value = marker(-1, prefix)
    await (await producer.send(topic, value, key=key))
    deadline = time.monotonic() + 180
    while FIRST_DAY - timedelta(days=1) not in await _visible_days(conn):
        if not worker.alive():
            raise BenchFailure(f"latency worker exited:\n{worker.tail()}")
        if time.monotonic() > deadline:
            raise BenchFailure(f"latency worker not ready after 180 s:\n{worker.tail()}")
        await asyncio.sleep(0.1)


async def _offer(
    rate: int,
    duration_s: int,
    producer: AIOKafkaProducer,
    mix: list[Encoded],
    prefix: str,
    conn: infra.Poller,
    seen: dict[int, float],
) -> tuple[dict[int, float], int, float]:
    """Send ``rate`` events/s for ``duration_s``, a marker every 100 ms; poll visibility while
    sending. Returns the markers' send times, the count sent and the seconds it took."""
    sent_at: dict[int, float] = {}
    poller = asyncio.create_task(_poll(conn, seen, sent_at))
    start = time.monotonic()
    sent = markers = 0
    pending = []
    try:
        while (elapsed := time.monotonic() - start) < duration_s:
            due = int(elapsed * rate) + 1
            while markers * MARKER_EVERY_S <= elapsed:
                topic, key, value = marker(markers, prefix)
                sent_at[markers] = time.time()
                pending.append(await producer.send(topic, value, key=key))
                markers += 1
                sent += 1
            while sent < due:
                message = mix[sent % len(mix)]
                pending.append(
                    await producer.send(f"{prefix}.{message.topic}", message.value, key=message.key)
                )
                sent += 1
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending = []
            await asyncio.sleep(TICK_S)
        elapsed = time.monotonic() - start
        await asyncio.gather(*pending)
    except BaseException:
        poller.cancel()
        raise
    poller.cancel()
    return sent_at, sent, elapsed


async def _poll(conn: infra.Poller, seen: dict[int, float], sent_at: dict[int, float]) -> None:
    """Record the first time each marker's day is visible (runs until cancelled)."""
    while True:
        days = await _visible_days(conn)
        now = time.time()
        for day in days:
            i = (day - FIRST_DAY).days
            if i >= 0 and i not in seen:
                seen[i] = now
        await asyncio.sleep(POLL_S)


async def _wait_markers(
    bench: Bench,
    conn: infra.Poller,
    worker: infra.Child,
    sent_at: dict[int, float],
    seen: dict[int, float],
) -> None:
    """After the load: keep polling until every marker is visible (a lost one fails the run)."""
    deadline = time.monotonic() + min(bench.cfg.timeout_s, 300)
    while set(sent_at) - set(seen):
        days = await _visible_days(conn)
        now = time.time()
        for day in days:
            i = (day - FIRST_DAY).days
            if i >= 0 and i not in seen:
                seen[i] = now
        if not worker.alive():
            raise BenchFailure(f"latency worker exited:\n{worker.tail()}")
        if time.monotonic() > deadline:
            missing = len(set(sent_at) - set(seen))
            raise BenchFailure(f"latency: {missing} marker(s) never became visible")
        await asyncio.sleep(POLL_S)
