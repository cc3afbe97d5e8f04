"""Faults on the secure three-broker cluster (issue 11): while a publisher's messages flow over
SASL_SSL to a worker running as ``worker``,

1. the broker that leads the most input partitions is SIGKILLed, then brought back;
2. then every broker is restarted, one at a time, each back and in sync before the next.

Afterwards every view equals the reference model (nothing lost, nothing doubled) and the same
worker process went through it all. What the worker's /metrics (lag, batch latency) and
``vanphong status`` (as ``operator``) showed meanwhile is printed (``pytest -s``).

Marked ``faults`` (they stop brokers of the shared cluster: run in make test's faults pass) and
``cluster``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from rich.console import Console

from testkit.history import Message, all_event_types
from tests.conftest import get, wait_for
from tests.faultstack import (
    assert_alive,
    assert_counted_once,
    assert_no_agent_crashed,
    stop_cleanly,
)
from tests.test_acls import AclEnv, acl_environment
from vanphong.deploy.local import cluster, stack
from vanphong.ground.kafka import admin_client, kafka_client_kwargs
from vanphong.ground.settings import Settings, get_settings
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.status.caught_up import applied_offsets

BROKERS = 3
#: How fast the publisher publishes while the faults happen (messages a second): slower than
#: the worker, so that lag comes from the faults, not from the publisher.
RATE = 150
CHUNK = 50


@pytest.fixture(scope="module")
def secure() -> Iterator[cluster.SecurePaths]:
    quiet = Console(file=StringIO(), width=200)
    assert stack.up(brokers=BROKERS, secure=True, console=quiet) == 0
    yield cluster.SecurePaths(stack.StackConfig.from_settings(get_settings()).paths)


@pytest.fixture
def acl_env(secure: cluster.SecurePaths, tmp_path: Path) -> Iterator[AclEnv]:
    with acl_environment(secure, tmp_path) as made:
        yield made


# --- the cluster's state: leaders and in-sync replicas ------------------------------------------


async def _describe(settings: Settings, topics: list[str]) -> list[dict[str, Any]]:
    async with admin_client(settings) as admin:
        return list(await admin.describe_topics(topics))


def leaders(settings: Settings, topics: list[str]) -> Counter[int] | None:
    """Node id → how many of ``topics``' partitions it leads (a metadata request); None when
    the node asked did not answer (it may be the one that is down)."""
    try:
        described = asyncio.run(asyncio.wait_for(_describe(settings, topics), 30))
    except (KafkaError, OSError, TimeoutError):
        return None
    return Counter(p["leader"] for t in described for p in t["partitions"])


def led_by_others(settings: Settings, topics: list[str], node: int) -> bool:
    led = leaders(settings, topics)
    return led is not None and node not in led


def restart_stopped_brokers() -> None:
    """However the test ends, every node of the cluster runs again (others use it)."""
    for component in stack.stack_status().cluster:
        if not component.running:
            stack.start_broker(int(component.name.rsplit(" ", 1)[-1]))


def in_sync(settings: Settings, topics: list[str]) -> bool:
    """Every partition of ``topics`` has a leader and all three replicas in sync."""
    try:
        described = asyncio.run(asyncio.wait_for(_describe(settings, topics), 30))
    except Exception:  # a node that is starting may not answer yet
        return False
    return all(
        t["error_code"] == 0
        and all(p["leader"] >= 0 and len(p["isr"]) == BROKERS for p in t["partitions"])
        for t in described
    )


# --- what the worker and `status` show, sampled in the background -----------------------------


_SAMPLE = re.compile(r"^(vanphong_lag|vanphong_commit_seconds_bucket)\{([^}]*)\} (\S+)$", re.M)


def scrape(port: int) -> tuple[float, dict[float, float]]:
    """The worker's total lag, and its batch-commit histogram (bucket bound → count, summed
    over topics)."""
    status, body = get(port, "/metrics")
    if status != 200:
        return float("nan"), {}
    lag = 0.0
    buckets: dict[float, float] = {}
    for name, labels, value in _SAMPLE.findall(body):
        if name == "vanphong_lag":
            lag += float(value)
        else:
            bound = re.search(r'le="([^"]+)"', labels)
            if bound:
                le = float(bound.group(1))
                buckets[le] = buckets.get(le, 0.0) + float(value)
    return lag, buckets


def p99(before: dict[float, float], after: dict[float, float]) -> tuple[float, int]:
    """The 99th percentile of the batches committed between two scrapes (a bucket's upper
    bound), and how many there were."""
    delta = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    total = delta.get(float("inf"), 0.0)
    if total <= 0:
        return float("nan"), 0
    for le in sorted(delta):
        if delta[le] >= 0.99 * total:
            return le, int(total)
    return float("inf"), int(total)


@dataclass
class Sample:
    at: float
    phase: str
    lag: float
    buckets: dict[float, float]
    published: int = 0  # by the publisher so far
    status: str = ""  # `vanphong status` as the operator: "ok lag=N" or its first error line


@dataclass
class Watch:
    """Samples the worker's /metrics every second and `vanphong status` every few seconds,
    labelled with the phase the test is in."""

    acl: AclEnv
    port: int
    publisher: Publisher
    phase: str = "before"
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            lag, buckets = scrape(self.port)
            sample = Sample(time.monotonic(), self.phase, lag, buckets, self.publisher.sent)
            if n % 5 == 0:
                sample.status = self._status()
            self.samples.append(sample)
            n += 1
            self.stop.wait(1.0)

    def _status(self) -> str:
        done = self.acl.command("operator", "status", "--json")
        if done.returncode != 0:
            return "error: " + (done.stderr.strip().splitlines() or ["?"])[0][:160]
        state = json.loads(done.stdout)
        return f"ok lag={sum(int(p['lag']) for p in state['topics'])}"


@dataclass
class Publisher:
    """Publishes ``messages`` as ``publisher`` at :data:`RATE` a second (all at once after
    :meth:`hurry`), acks from every in-sync replica, idempotent."""

    settings: Settings
    messages: Sequence[tuple[str, bytes | None, bytes | None]]
    sent: int = 0
    error: BaseException | None = None
    fast: threading.Event = field(default_factory=threading.Event)

    def hurry(self) -> None:
        self.fast.set()

    def run(self) -> None:
        try:
            asyncio.run(self._publish())
        except BaseException as exc:  # reported by the test
            self.error = exc

    async def _publish(self) -> None:
        producer = AIOKafkaProducer(
            **kafka_client_kwargs(self.settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=10,
            request_timeout_ms=120_000,
        )
        await producer.start()
        try:
            for start in range(0, len(self.messages), CHUNK):
                began = time.monotonic()
                part = self.messages[start : start + CHUNK]
                futures = [await producer.send(t, v, key=k) for t, k, v in part]
                for future in futures:
                    await future
                self.sent += len(part)
                if not self.fast.is_set():  # pacing the flow, not waiting for a condition
                    await asyncio.sleep(max(0.0, CHUNK / RATE - (time.monotonic() - began)))
        finally:
            await producer.stop()


def applied(acl: AclEnv) -> int:
    return sum(asyncio.run(applied_offsets(acl.env.settings.database_url)).values())


@pytest.mark.faults
@pytest.mark.cluster
@pytest.mark.integration
def test_a_killed_leader_and_a_rolling_restart_lose_nothing_and_double_nothing(
    acl_env: AclEnv,
) -> None:
    env = acl_env.env
    admin = env.settings
    inputs = [env.topic(e.topic) for e in EVENT_TYPES]
    watched = [*inputs, "__consumer_offsets"]
    messages: list[Message] = all_event_types(seed=51, entities=2500)
    raw = [(env.topic(m.topic), m.key, m.value) for m in messages]
    env.workers.extra_env["VANPHONG_BATCH_MAX_EVENTS"] = "100"
    wait_for(lambda: in_sync(admin, watched), 180, "every replica in sync before the faults")

    publisher = Publisher(acl_env.as_user("publisher"), raw)
    flow = threading.Thread(target=publisher.run, daemon=True)
    worker = env.workers.start()
    watch = Watch(acl_env, env.workers.web_port(worker), publisher)
    sampler = threading.Thread(target=watch.run, daemon=True)
    flow.start()
    sampler.start()
    timeline: list[tuple[float, str]] = []

    def mark(phase: str) -> None:
        watch.phase = phase
        timeline.append((time.monotonic(), phase))
        assert_alive(env.workers)
        assert publisher.error is None, publisher.error

    try:
        wait_for(lambda: applied(acl_env) >= 1000, 240, "a thousand messages applied")
        # 1. SIGKILL the broker that leads the most input partitions, then bring it back
        led = leaders(admin, inputs)
        assert led is not None
        node = max(sorted(led), key=lambda n: led[n])
        fault_start = time.monotonic()
        before_faults = watch.samples[-1].buckets if watch.samples else {}
        mark(f"node {node} killed (led {led[node]} of {sum(led.values())} partitions)")
        stack.stop_broker(node, kill=True)
        at_kill = applied(acl_env)
        wait_for(lambda: led_by_others(admin, inputs, node), 120, f"leaders moved off node {node}")
        mark(f"node {node} down, its partitions led by others")
        wait_for(lambda: applied(acl_env) > at_kill + 300, 240, "progress with a node down")
        mark(f"node {node} starting")
        stack.start_broker(node)
        wait_for(lambda: in_sync(admin, watched), 240, f"node {node} back in sync")
        # 2. restart every broker, one at a time, each back and in sync before the next
        for n in range(1, BROKERS + 1):
            mark(f"node {n} restarting")
            stack.stop_broker(n)
            stack.start_broker(n)
            wait_for(lambda: in_sync(admin, watched), 240, f"node {n} back in sync")
        fault_end = time.monotonic()
        mark("after the faults")
        after_faults = watch.samples[-1].buckets if watch.samples else {}
        publisher.hurry()
        flow.join(timeout=600)
        assert not flow.is_alive() and publisher.error is None, publisher.error
        assert publisher.sent == len(raw)
        env.wait_caught_up()
        caught_up = time.monotonic()
    finally:
        restart_stopped_brokers()
        watch.stop.set()
        sampler.join(timeout=60)
        publisher.hurry()

    assert worker.pid == env.workers.procs[0].pid and len(env.workers.procs) == 1
    assert_counted_once(env, messages)
    assert_alive(env.workers)  # the same process went through it all
    assert_no_agent_crashed(env.workers)
    stop_cleanly(env.workers)
    _report(watch, timeline, fault_start, fault_end, caught_up, before_faults, after_faults)


def _report(
    watch: Watch,
    timeline: list[tuple[float, str]],
    fault_start: float,
    fault_end: float,
    caught_up: float,
    before: dict[float, float],
    after: dict[float, float],
) -> None:
    """What the worker and `status` showed (``pytest -s``)."""
    t0 = timeline[0][0]
    print("\n--- timeline (s since the kill)")
    for at, phase in timeline:
        print(f"{at - t0:7.1f}  {phase}")
    print("--- samples: t, phase, /metrics lag, `vanphong status` as operator")
    for s in watch.samples:
        if s.status or s.at >= t0:
            print(
                f"{s.at - t0:7.1f}  {s.phase[:40]:40} published={s.published:>6} "
                f"lag={s.lag:>6.0f}  {s.status}"
            )
    during = [s.lag for s in watch.samples if fault_start <= s.at <= fault_end and s.lag == s.lag]
    statuses = [s.status for s in watch.samples if s.status and fault_start <= s.at <= fault_end]
    failed = [s for s in statuses if not s.startswith("ok")]
    status_lags = [int(s.removeprefix("ok lag=")) for s in statuses if s.startswith("ok")]
    latency, batches = p99(before, after)
    print(
        f"--- faults lasted {fault_end - fault_start:.1f} s; max lag during them "
        f"{max(during, default=float('nan')):.0f}; caught up {caught_up - fault_end:.1f} s "
        f"after the last broker was back in sync (publisher then sent the rest at once); "
        f"p99 batch commit during the faults <= {latency} s over {batches} batches; "
        f"status: {len(statuses) - len(failed)} ok (max lag {max(status_lags, default=0)}), "
        f"{len(failed)} failed"
    )
