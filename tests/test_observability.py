"""Metrics, health, readiness, stall detection and JSON logs of the worker (issue items 3 and 4).

Unit tests drive the stall rule and the monitor with made-up offsets and times; the integration
tests run a real worker and read its web port.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from testkit.history import documents_and_meetings
from tests.conftest import Env, get, wait_for
from tests.verify import assert_counts_add_up, assert_views_match, model_of
from vanphong.core.batch import Coordinates, Item, Plan
from vanphong.core.rejection import Reason, Rejection
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.streams import monitor as monitor_module
from vanphong.streams.app import logging_config
from vanphong.streams.monitor import Monitor, PartitionStatus, Track, assess
from vanphong.streams.web import make_application

DOCS = ("p.document-issued.v1", 0)
MEETINGS = ("p.meeting-held.v1", 2)


# --- the stall rule -------------------------------------------------------------------------


def look(
    tracks: dict[Any, Track],
    now: float,
    highwater: dict[Any, int],
    applied: dict[Any, int],
    assigned: Any = (DOCS,),
    stall_s: float = 10,
) -> tuple[dict[Any, Track], dict[Any, PartitionStatus]]:
    new, statuses = assess(tracks, assigned, highwater, applied, now, stall_s)
    return new, {(s.topic, s.partition): s for s in statuses}


def test_a_partition_with_lag_and_no_progress_is_stalled_after_stall_seconds() -> None:
    tracks, s = look({}, 100.0, {DOCS: 50}, {DOCS: 20})
    assert s[DOCS].lag == 30 and not s[DOCS].stalled
    tracks, s = look(tracks, 109.9, {DOCS: 50}, {DOCS: 20})
    assert not s[DOCS].stalled and s[DOCS].waiting_s == pytest.approx(9.9)
    tracks, s = look(tracks, 110.0, {DOCS: 60}, {DOCS: 20})
    assert s[DOCS].stalled and s[DOCS].lag == 40 and s[DOCS].waiting_s == pytest.approx(10)


def test_progress_restarts_the_clock_and_catching_up_clears_the_stall() -> None:
    tracks, _ = look({}, 0.0, {DOCS: 50}, {DOCS: 20})
    tracks, s = look(tracks, 8.0, {DOCS: 50}, {DOCS: 21})  # one message applied: progress
    assert s[DOCS].waiting_s == 0 and not s[DOCS].stalled
    tracks, s = look(tracks, 17.0, {DOCS: 50}, {DOCS: 21})
    assert not s[DOCS].stalled
    tracks, s = look(tracks, 18.0, {DOCS: 50}, {DOCS: 21})
    assert s[DOCS].stalled
    tracks, s = look(tracks, 19.0, {DOCS: 50}, {DOCS: 50})
    assert s[DOCS].lag == 0 and not s[DOCS].stalled and s[DOCS].waiting_s == 0


def test_an_idle_partition_is_not_stalled_the_moment_a_message_arrives() -> None:
    tracks, _ = look({}, 0.0, {DOCS: 20}, {DOCS: 20})
    tracks, _ = look(tracks, 3600.0, {DOCS: 20}, {DOCS: 20})  # an hour without traffic
    tracks, s = look(tracks, 3601.0, {DOCS: 21}, {DOCS: 20})
    assert s[DOCS].lag == 1 and not s[DOCS].stalled and s[DOCS].waiting_s == 0
    tracks, s = look(tracks, 3610.9, {DOCS: 21}, {DOCS: 20})
    assert not s[DOCS].stalled  # the clock started when the lag was first seen
    tracks, s = look(tracks, 3611.0, {DOCS: 21}, {DOCS: 20})
    assert s[DOCS].stalled


def test_a_partition_assigned_with_lag_that_never_applies_anything_is_found() -> None:
    """The clock starts at the first look after assignment; the floor (committed offset) gives
    the applied offset although this worker has applied nothing."""
    tracks, s = look({}, 50.0, {DOCS: 7}, {DOCS: 0})
    assert s[DOCS].lag == 7 and not s[DOCS].stalled
    tracks, s = look(tracks, 60.0, {DOCS: 7}, {DOCS: 0})
    assert s[DOCS].stalled


def test_a_partition_whose_lag_is_unknown_keeps_its_clock_but_is_not_reported() -> None:
    tracks, s = look({}, 0.0, {}, {})
    assert s[DOCS].lag is None and not s[DOCS].stalled
    tracks, s = look(tracks, 30.0, {DOCS: 5}, {})
    assert not s[DOCS].stalled
    tracks, s = look(tracks, 31.0, {DOCS: 5}, {DOCS: 2})  # the first floor is not progress
    assert s[DOCS].stalled and s[DOCS].waiting_s == pytest.approx(31)


def test_revoked_partitions_are_forgotten_and_reassigned_ones_start_a_new_clock() -> None:
    both = (DOCS, MEETINGS)
    tracks, _ = look({}, 0.0, {DOCS: 5, MEETINGS: 5}, {DOCS: 0, MEETINGS: 0}, both)
    tracks, s = look(tracks, 20.0, {DOCS: 5, MEETINGS: 5}, {DOCS: 0, MEETINGS: 0}, (MEETINGS,))
    assert set(s) == {MEETINGS} and set(tracks) == {MEETINGS} and s[MEETINGS].stalled
    tracks, s = look(tracks, 21.0, {DOCS: 5, MEETINGS: 5}, {DOCS: 0, MEETINGS: 0}, both)
    assert not s[DOCS].stalled and s[MEETINGS].stalled


def test_an_applied_offset_ahead_of_a_stale_highwater_is_no_lag() -> None:
    _, s = look({}, 0.0, {DOCS: 10}, {DOCS: 12})
    assert s[DOCS].lag == 0


# --- the monitor and the web endpoints, without Kafka ----------------------------------------


def settings(**update: Any) -> Settings:
    return Settings().model_copy(update={"topic_prefix": "p", "stall_seconds": 5.0, **update})


def batch(
    topic: str, partition: int, first: int, applied: int, unchanged: int, dead: list[Reason]
) -> tuple[list[Item], Plan]:
    """A committed batch's items and plan, as the sink returns it."""
    n = applied + unchanged + len(dead)
    items = [
        Item(Coordinates(topic, partition, first + i), None, b"", Rejection(Reason.UNDECODABLE, ""))
        for i in range(n)
    ]
    plan = Plan({}, set(), Counter())
    plan.applied[topic] += applied
    plan.unchanged[topic] += unchanged
    plan.rejected[topic] += len(dead)
    plan.dead_letters = [(items[i], Rejection(r, "bad")) for i, r in enumerate(dead)]
    plan.next_offsets = {(topic, partition): first + n}
    return items, plan


def report(monitor: Monitor, items: list[Item], plan: Plan, seconds: float = 0.05) -> None:
    settled = {(i.at.topic, i.at.partition): i.at.offset + 1 for i in items}
    monitor.on_batch_committed({items[0].at.topic: len(items)}, plan, settled, seconds)


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def monitor() -> Monitor:
    m = Monitor(settings())
    m.assignment = lambda: {DOCS, MEETINGS}
    return m


class FakeClock:
    """Stands in for the ``time`` module in streams.monitor: clocks that the test moves."""

    def __init__(self, monotonic: float) -> None:
        self.now = monotonic

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now


def test_batches_are_counted_per_topic_outcome_and_reason(
    monitor: Monitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the batches commit 100 s after the monitor started, and the scrape comes 3 s later
    clock = FakeClock(time.monotonic() + 100)
    monkeypatch.setattr(monitor_module, "time", clock)
    docs = DOCS[0]
    items, plan = batch(docs, 0, 0, 7, 2, [Reason.INVALID_FIELD, Reason.UNDECODABLE])
    report(monitor, items, plan, 0.2)
    items, plan = batch(docs, 0, 11, 3, 0, [Reason.INVALID_FIELD])
    plan.skipped = 2  # two redelivered messages were in the batch too
    plan.redelivered[docs] = 2
    items += batch(docs, 0, 15, 2, 0, [])[0]
    report(monitor, items, plan, 0.01)
    clock.now += 3
    m = monitor.metrics
    from prometheus_client import generate_latest

    s = metric_samples(generate_latest(m.registry).decode())
    assert value(s, "vanphong_events_consumed_total", topic=docs) == 17
    assert value(s, "vanphong_events_total", topic=docs, outcome="applied") == 10
    assert value(s, "vanphong_events_total", topic=docs, outcome="unchanged") == 2
    assert value(s, "vanphong_events_total", topic=docs, outcome="dead_lettered") == 3
    assert value(s, "vanphong_events_redelivered_total", topic=docs) == 2
    assert value(s, "vanphong_dead_letters_total", topic=docs, reason="invalid_field") == 2
    assert value(s, "vanphong_dead_letters_total", topic=docs, reason="undecodable") == 1
    assert value(s, "vanphong_dead_letters_total", topic=docs, reason="merge_cycle") == 0
    assert value(s, "vanphong_batch_size_count", topic=docs) == 2
    assert value(s, "vanphong_batch_size_sum", topic=docs) == 17
    assert value(s, "vanphong_commit_seconds_sum", topic=docs) == pytest.approx(0.21)
    assert value(s, "vanphong_commit_seconds_bucket", topic=docs, le="0.01") == 1
    # since the last commit (3 s), not since the monitor started (103 s)
    assert value(s, "vanphong_seconds_since_last_commit") == pytest.approx(3)
    every_topic = {f"p.{e.topic}" for e in EVENT_TYPES}
    assert {
        dict(labels)["topic"] for name, labels in s if name == "vanphong_events_consumed_total"
    } == every_topic
    assert monitor.overview()["dead_letters"] == [
        {"reason": "invalid_field", "count": 2},
        {"reason": "undecodable", "count": 1},
    ]


def test_lag_and_stall_gauges_follow_the_assignment(monitor: Monitor) -> None:
    monitor.on_offsets_read({DOCS: 40, MEETINGS: 9}, {DOCS: 10, MEETINGS: 9})
    monitor.update(now=100.0)
    items, plan = batch(DOCS[0], 0, 10, 20, 0, [])
    report(monitor, items, plan)
    monitor.update(now=101.0)
    m = monitor.metrics
    assert m.lag.labels(DOCS[0], "0")._value.get() == 10
    assert m.lag.labels(MEETINGS[0], "2")._value.get() == 0
    monitor.update(now=106.0)
    assert m.stalled.labels(DOCS[0], "0")._value.get() == 1
    assert m.waiting.labels(DOCS[0], "0")._value.get() == 5
    monitor.assignment = lambda: {MEETINGS}
    monitor.update(now=107.0)
    from prometheus_client import generate_latest

    text = generate_latest(m.registry).decode()
    assert 'topic="p.document-issued.v1"' not in "".join(
        line for line in text.splitlines() if line.startswith(("vanphong_lag", "vanphong_part"))
    )
    assert m.assigned._value.get() == 1


def test_a_batch_that_hangs_in_the_sink_is_lag_before_kafka_offsets_are_read(
    monitor: Monitor,
) -> None:
    monitor.on_offsets_read({DOCS: 10}, {DOCS: 10})
    monitor.update(now=0.0)
    monitor.on_batch_received({DOCS: 15})  # taken from Kafka, now waiting for PostgreSQL
    monitor.update(now=1.0)
    monitor.update(now=6.0)
    (docs,) = [s for s in monitor.partitions if (s.topic, s.partition) == DOCS]
    assert docs.lag == 5 and docs.stalled and docs.waiting_s == 5


async def test_healthz_turns_503_naming_the_stalled_partition_and_back(monitor: Monitor) -> None:
    async with TestClient(TestServer(make_application(monitor))) as client:
        response = await client.get("/healthz")
        assert response.status == 200 and (await response.json())["status"] == "ok"
        monitor.on_offsets_read({DOCS: 40}, {DOCS: 10})
        monitor.update(now=10.0)
        monitor.update(now=15.5)
        response = await client.get("/healthz")
        body = await response.json()
        assert response.status == 503
        assert body["status"] == "stalled"
        assert body["stalled"] == [
            {
                "topic": DOCS[0],
                "partition": 0,
                "lag": 30,
                "seconds_without_progress": 5.5,
            }
        ]
        assert "p.document-issued.v1[0]" in body["reason"] and "5 s" in body["reason"]
        items, plan = batch(DOCS[0], 0, 10, 30, 0, [])
        report(monitor, items, plan)
        monitor.update(now=16.0)
        response = await client.get("/healthz")
        assert response.status == 200


async def test_readyz_waits_for_the_sink_and_metrics_are_prometheus_text(
    monitor: Monitor,
) -> None:
    async with TestClient(TestServer(make_application(monitor))) as client:
        response = await client.get("/readyz")
        assert response.status == 503 and (await response.json())["status"] == "starting"
        monitor.on_sink_ready("host-1")
        monitor.update()
        response = await client.get("/readyz")
        assert response.status == 200
        assert await response.json() == {
            "status": "ready",
            "sink_connected": True,
            "assigned_partitions": 2,
        }
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
        assert "vanphong_ready 1.0" in text and "_created" not in text
        response = await client.get("/")
        assert response.status == 200 and response.content_type == "text/html"
        assert "/api/overview" in await response.text()
        response = await client.get("/api/overview")
        overview = await response.json()
        assert [t["name"] for t in overview["topics"]] == [e.topic for e in EVENT_TYPES]
        assert overview["worker"] == "host-1" and overview["ready"] is True


def _scraped(monitor: Monitor, name: str) -> float:
    """The value ``/metrics`` would show for the unlabelled series ``name``."""
    return float(monitor.metrics.registry.get_sample_value(name) or 0.0)


async def test_vanphong_ready_follows_readiness_back_to_0_when_the_worker_gives_up(
    monitor: Monitor,
) -> None:
    assert _scraped(monitor, "vanphong_ready") == 0
    monitor.on_sink_ready("host-1")
    assert _scraped(monitor, "vanphong_ready") == 1 and monitor.readiness()[0]
    monitor.on_fatal({"error": "relation missing", "at": {"topic": DOCS[0], "offset": 3}})
    ready, body = monitor.readiness()
    assert not ready and body["status"] == "failed" and "gave up" in body["reason"]
    assert _scraped(monitor, "vanphong_ready") == 0
    assert monitor.overview()["ready"] is False  # the operator page says the same


async def test_vanphong_ready_drops_to_0_when_the_worker_stops(monitor: Monitor) -> None:
    monitor.on_sink_ready("host-1")
    assert _scraped(monitor, "vanphong_ready") == 1
    await monitor.on_stop()
    assert _scraped(monitor, "vanphong_ready") == 0
    async with TestClient(TestServer(make_application(monitor))) as client:
        response = await client.get("/readyz")
        assert response.status == 503 and (await response.json())["status"] == "stopping"


def test_the_start_time_gauge_says_when_the_process_started() -> None:
    before = time.time()
    started = _scraped(Monitor(settings()), "vanphong_start_time_seconds")
    assert before <= started <= time.time()


def test_the_overview_keeps_five_minutes_of_throughput(monitor: Monitor) -> None:
    docs = DOCS[0]
    offset = 0
    for second in range(400):
        items, plan = batch(docs, 0, offset, 10, 0, [Reason.INVALID_FIELD] if second % 2 else [])
        offset += len(items)
        report(monitor, items, plan)
        monitor.update(now=float(second), wall=1000.0 + second)
    overview = monitor.overview()
    series = overview["series"]
    assert len(series["t"]) == 59 and series["t"][-1] == 1399.0
    assert series["rates"]["document-issued.v1"][-1] == pytest.approx(10.6)  # 53 in 5 s
    assert set(series["rates"]["meeting-held.v1"]) == {0}
    assert series["dead_letters"][-1] == pytest.approx(0.6)
    docs_row = overview["topics"][1]
    assert docs_row["name"] == "document-issued.v1" and docs_row["rate"] == pytest.approx(10.5)
    assert docs_row["consumed"] == offset and docs_row["dead_lettered"] == 200


def test_json_logs_render_standard_library_records_as_json() -> None:
    assert logging_config(settings(log_format="console")) is None
    config = logging_config(settings(log_format="json"))
    assert config is not None
    spec = dict(config["formatters"]["json"])
    formatter = spec.pop("()")(**spec)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "aiokafka.consumer", logging.ERROR, __file__, 1, "x %s", ("y",), exc_info
    )
    line = json.loads(formatter.format(record))
    assert line["event"] == "x y" and line["level"] == "error"
    assert line["logger"] == "aiokafka.consumer" and "timestamp" in line
    assert "ValueError: boom" in line["exception"]


# --- with a real worker ---------------------------------------------------------------------


def scrape(port: int) -> dict[Any, float]:
    status, text = get(port, "/metrics")
    assert status == 200, text
    return metric_samples(text)


def by_label(samples: dict[Any, float], name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for (n, k), v in samples.items() if n == name}


def all_lags_known_and_zero(port: int) -> bool:
    lags = [v for (name, _), v in scrape(port).items() if name == "vanphong_lag"]
    return lags == [0.0] * sum(e.partitions for e in EVENT_TYPES)


def test_metrics_count_every_message_and_logs_are_json_lines(env: Env) -> None:
    messages = documents_and_meetings(seed=21, documents=300, meetings=80)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.extra_env["VANPHONG_LOG_FORMAT"] = "json"
    started = time.monotonic()
    worker = env.workers.start()
    web = env.workers.web_port(worker)
    wait_for(lambda: get(web, "/healthz")[0] == 200, 30, "/healthz to answer")
    env.wait_caught_up()
    wait_for(lambda: get(web, "/readyz")[0] == 200, 30, "/readyz to be 200")
    wait_for(lambda: all_lags_known_and_zero(web), 15, "every partition's lag known and 0")

    consumed = Counter(env.topic(m.topic) for m in messages)
    dead = Counter(m.reason for m in messages if m.reason)
    s = scrape(web)
    assert {
        t: v for t, v in by_label(s, "vanphong_events_consumed_total", "topic").items() if v
    } == consumed
    for topic, n in consumed.items():
        outcomes = sum(
            value(s, "vanphong_events_total", topic=topic, outcome=o)
            for o in ("applied", "unchanged", "dead_lettered")
        )
        assert outcomes == n, topic
    reasons: Counter[str] = Counter()
    for (name, labels), v in s.items():
        if name == "vanphong_dead_letters_total":
            reasons[dict(labels)["reason"]] += int(v)
    assert +reasons == dead
    assert sum(by_label(s, "vanphong_batch_size_count", "topic").values()) >= 2
    assert sum(by_label(s, "vanphong_commit_seconds_count", "topic").values()) >= 2
    assert value(s, "vanphong_assigned_partitions") == sum(e.partitions for e in EVENT_TYPES)
    # the last commit is this worker's: no older than the worker (a bound that no slow host can
    # break; what the gauge counts from is the unit test's business)
    assert 0 <= value(s, "vanphong_seconds_since_last_commit") <= time.monotonic() - started
    assert set(by_label(scrape(web), "vanphong_partition_stalled", "topic").values()) == {0.0}
    assert get(web, "/healthz")[0] == 200

    env.workers.stop_all()
    assert worker.returncode == 0
    lines = [
        line
        for p in env.workers.logs.glob("worker-*.log")
        for line in p.read_text().splitlines()
        if line.strip()
    ]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    rejected = [r for r in records if r.get("event") == "rejected"]
    assert len(rejected) == sum(dead.values())
    assert all({"topic", "partition", "offset", "reason"} <= set(r) for r in rejected)
    assert any(r.get("logger", "").startswith(("faust", "mode")) for r in records)


def test_a_hanging_worker_is_reported_stalled_and_recovers(env: Env) -> None:
    """The test holds an exclusive lock on core.sink_offsets so the worker's next batch blocks
    inside PostgreSQL: no test hook in the worker. /healthz and the metric report the stall
    once a partition with lag has gone VANPHONG_STALL_SECONDS without progress, and clear it
    when the lock goes."""
    stall_s = 3
    env.workers.extra_env["VANPHONG_STALL_SECONDS"] = str(stall_s)
    first = documents_and_meetings(seed=31, documents=100, meetings=20)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in first])
    web = env.workers.web_port(env.workers.start())
    env.wait_caught_up()
    wait_for(lambda: get(web, "/healthz")[0] == 200, 30, "/healthz 200 once caught up")

    wait_for(lambda: all_lags_known_and_zero(web), 15, "every partition's lag known and 0")

    second = documents_and_meetings(seed=32, documents=60, meetings=0)
    with psycopg.connect(env.settings.database_url) as blocker:
        blocker.execute("LOCK TABLE core.sink_offsets IN ACCESS EXCLUSIVE MODE")
        env.send_raw([(env.topic(m.topic), m.key, m.value) for m in second])
        wait_for(lambda: get(web, "/healthz")[0] == 503, 60, "/healthz 503")
        status, text = get(web, "/healthz")
        body = json.loads(text)
        assert status == 503 and body["status"] == "stalled"
        stalled = {(p["topic"], p["partition"]) for p in body["stalled"]}
        docs = env.topic("document-issued.v1")
        assert docs in {t for t, _ in stalled} <= {env.topic(m.topic) for m in second}
        assert all(p["lag"] > 0 for p in body["stalled"])
        # not too early: each stalled partition went stall_s without progress by the worker's
        # own clock (the rule's condition, instead of the test timing the worker)
        assert all(p["seconds_without_progress"] >= stall_s for p in body["stalled"])
        assert docs in body["reason"]
        s = scrape(web)
        for topic, partition in stalled:
            labels = {"topic": topic, "partition": str(partition)}
            assert value(s, "vanphong_partition_stalled", **labels) == 1
            assert value(s, "vanphong_lag", **labels) > 0
        blocker.rollback()  # release the lock: the blocked batch goes through

    wait_for(lambda: get(web, "/healthz")[0] == 200, 30, "/healthz back to 200")
    env.wait_caught_up()
    assert set(by_label(scrape(web), "vanphong_partition_stalled", "topic").values()) == {0.0}
    assert_views_match(env, model_of(first + second))
    assert_counts_add_up(env, first + second)
