"""Throughput runs: each system from an empty database to every event in PostgreSQL.

One clock for all: a run starts when the harness starts the system's process (so interpreter
start-up, group join and connection set-up count, as they do for an operator) and ends at the
first poll that sees every event committed. How "committed" is seen differs by what each system
exposes, always on the PostgreSQL side:

* vanphong: ``core.sink_offsets`` (written in the same transaction as the aggregates) has
  reached the end offset of every input partition; polled every 50 ms;
* naive: its own count of executed statements reaches the total (each statement commits);
* ceiling: its own count of decoded messages reaches the total (nothing to commit);
* peer: its table equals the expected figures (Quix upserts absolute totals at each
  checkpoint, so the table is complete exactly when it is right); polled every 250 ms, with
  cheap column sums first and the full comparison only when they match.

``startup_s`` (process start to first commit or first fetch) is reported beside each figure so
fixed start-up costs can be told apart from the per-event rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench import check, infra
from bench.config import PEER_PYTHON, ROOT, BenchConfig
from bench.expected import METRICS, NAIVE_METRICS, Expected
from vanphong.ground.settings import Settings

VANPHONG = Path(sys.executable).parent / "vanphong"
PY_SPY = Path(sys.executable).parent / "py-spy"


class BenchFailure(RuntimeError):
    """A system crashed, hung or could not be started: the run cannot report a number."""


@dataclass
class Bench:
    """What every measurement shares: settings, the published topics and their expected
    contents, and where logs go."""

    cfg: BenchConfig
    base: Settings
    logs: Path
    ends: infra.Offsets  # end offsets of the input topics under cfg.prefix
    expected: Expected

    @property
    def total(self) -> int:
        return sum(self.ends.values())


@dataclass
class Throughput:
    system: str
    events: int
    seconds: float
    startup_s: float | None = None
    peak_rss_mb: float | None = None
    cpu_s: float | None = None
    #: CPU time of every PostgreSQL process during the run (infra.postgres_cpu_seconds).
    db_cpu_s: float | None = None
    verdict: check.Verdict | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def eps(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_eps(self) -> float | None:
        """Events/s after start-up (first commit or fetch): the per-event rate alone."""
        if self.startup_s is None or self.seconds <= self.startup_s:
            return None
        return self.events / (self.seconds - self.startup_s)

    def cpu_us_per_event(self) -> tuple[float | None, float | None]:
        """The system's own CPU and PostgreSQL's, in microseconds per event: what the two
        cores are shared by (docs/performance.md)."""

        def per_event(seconds: float | None) -> float | None:
            return None if seconds is None or not self.events else 1e6 * seconds / self.events

        return per_event(self.cpu_s), per_event(self.db_cpu_s)

    @property
    def ok(self) -> bool:
        return self.verdict is None or self.verdict.ok


def _interrupted(poller: infra.Poller) -> dict[str, Any]:
    """A note when the database went away during the run (the shared stack was restarted)."""
    if not poller.reconnects:
        return {}
    return {"warning": f"database connection lost {poller.reconnects} time(s) during the run"}


# -- vanphong -----------------------------------------------------------------------------------


@contextlib.contextmanager
def baseline_tree(bench: Bench, rev: str) -> Iterator[Path]:
    """The product code of git revision ``rev``, checked out outside the repository (a
    detached git worktree, so that no linter or test collector finds a second copy) for as
    long as it is measured, then removed."""
    tree = Path(tempfile.gettempdir()) / f"vanphong-{bench.cfg.run_id}-{rev}"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", str(tree), rev], check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run([*git, "remove", "--force", str(tree)], capture_output=True)


async def run_vanphong(
    bench: Bench,
    name: str,
    workers: int = 1,
    profile: Path | None = None,
    source: Path | None = None,
) -> Throughput:
    """``workers`` ``vanphong worker`` processes from an empty database over the bench topics;
    with ``source``, the worker's code is imported from that tree (``BENCH_BASELINE``)."""
    cfg, base = bench.cfg, bench.base
    db = cfg.database(name)
    url = await infra.create_database(base, db, migrated=True)
    settings = infra.settings_for(base, cfg.prefix, db)
    # vanphong's group is <prefix>-worker: rewind it so this run starts from the beginning.
    await infra.rewind_group(base, settings.consumer_group, infra.input_topics(cfg.prefix))
    children = []
    db_cpu = infra.postgres_cpu_seconds()
    for i in range(workers):
        env = infra.vanphong_env(settings)  # each its own web port
        if source is not None:
            env["PYTHONPATH"] = str(source)
        children.append(infra.spawn(f"{name}-{i}", [str(VANPHONG), "worker"], env, bench.logs))
    spy = _attach_py_spy(children[0], profile) if profile else None
    started = min(c.started for c in children)
    poller = infra.Poller(url)
    try:
        first_commit, done = await _wait_applied(bench, poller, children, started)
        db_cpu = _spent(db_cpu, infra.postgres_cpu_seconds())
        rss = [infra.peak_rss_mb(c.pid) for c in children]
        cpu = [infra.cpu_seconds(c.pid) for c in children]
    finally:
        await poller.close()
        for child in children:
            child.stop()
        if spy is not None:
            spy.wait(timeout=60)
    verdict = check.compare(await check.read_vanphong(url), bench.expected.attributed, METRICS)
    return Throughput(
        system=name,
        events=bench.total,
        seconds=done - started,
        startup_s=first_commit - started if first_commit else None,
        peak_rss_mb=max((r for r in rss if r is not None), default=None),
        cpu_s=sum(c for c in cpu if c is not None),
        db_cpu_s=db_cpu,
        verdict=verdict,
        notes={"workers": workers, "rss_per_worker_mb": rss, **_interrupted(poller)},
    )


async def _wait_applied(
    bench: Bench, poller: infra.Poller, children: list[infra.Child], started: float
) -> tuple[float | None, float]:
    """Poll core.sink_offsets until every input partition is applied to its end."""
    deadline = started + bench.cfg.timeout_s
    first_commit: float | None = None
    wanted = {tp: end for tp, end in bench.ends.items() if end > 0}
    while True:
        rows = await poller.fetch("SELECT topic, partition, next_offset FROM core.sink_offsets")
        now = time.time()
        applied = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        if rows and first_commit is None:
            first_commit = now
        if all(applied.get(tp, 0) >= end for tp, end in wanted.items()):
            return first_commit, now
        dead = [c for c in children if not c.alive()]
        if dead:
            raise BenchFailure(
                f"{dead[0].name} exited ({dead[0].proc.returncode}):\n{dead[0].tail()}"
            )
        if now > deadline:
            left = sum(max(0, end - applied.get(tp, 0)) for tp, end in wanted.items())
            raise BenchFailure(
                f"{children[0].name}: {left} events still unapplied after "
                f"{bench.cfg.timeout_s} s\n{children[0].tail()}"
            )
        await asyncio.sleep(0.05)


def _attach_py_spy(child: infra.Child, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample the worker's Python stacks (100 Hz, without pausing it) until it exits."""
    if not PY_SPY.exists():
        print(f"  (no profile: {PY_SPY} missing; pip install py-spy)", flush=True)
        return None
    time.sleep(1.0)  # let the interpreter come up, or py-spy cannot find it
    return subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(child.pid),
            "--rate",
            "100",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# -- ceiling and naive: child programs that report when they are done ---------------------------


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def _run_reporting_child(bench: Bench, name: str, argv: list[str]) -> dict[str, Any]:
    db_cpu = infra.postgres_cpu_seconds()
    child = infra.spawn(name, argv, _child_env(), bench.logs, cwd=ROOT)
    try:
        await asyncio.wait_for(asyncio.to_thread(child.proc.wait), bench.cfg.timeout_s)
        db_cpu = _spent(db_cpu, infra.postgres_cpu_seconds())
    except TimeoutError:
        child.stop()
        raise BenchFailure(
            f"{name}: not done after {bench.cfg.timeout_s} s\n{child.tail()}"
        ) from None
    child.stop()
    lines = child.log.read_text(errors="replace").strip().splitlines()
    if child.proc.returncode != 0 or not lines:
        raise BenchFailure(f"{name} exited ({child.proc.returncode}):\n{child.tail()}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["started"] = child.started
    report["db_cpu_s"] = db_cpu
    return report


def _from_report(name: str, report: dict[str, Any]) -> Throughput:
    started = report["started"]
    first = report.get("first_fetch_at") or None
    return Throughput(
        system=name,
        events=report["events"],
        seconds=report["done_at"] - started,
        startup_s=first - started if first else None,
        peak_rss_mb=report.get("peak_rss_mb"),
        cpu_s=report.get("cpu_s"),
        db_cpu_s=report.get("db_cpu_s"),
    )


async def run_ceiling(bench: Bench) -> Throughput:
    report = await _run_reporting_child(
        bench,
        "ceiling",
        [
            sys.executable,
            "-m",
            "bench.systems.ceiling",
            bench.base.kafka_bootstrap,
            bench.cfg.prefix,
            str(bench.total),
        ],
    )
    return _from_report("ceiling", report)


async def run_durable_ceiling(bench: Bench) -> Throughput:
    cfg, base = bench.cfg, bench.base
    url = await infra.create_database(base, cfg.database("durable"), migrated=False)
    report = await _run_reporting_child(
        bench,
        "durable_ceiling",
        [
            sys.executable,
            "-m",
            "bench.systems.durable",
            base.kafka_bootstrap,
            cfg.prefix,
            url,
            base.timezone,
            str(bench.total),
        ],
    )
    conn = await asyncpg.connect(url)
    try:  # what it claims to have made durable is there: one row per event, none twice
        stored = await conn.fetchval("SELECT count(*) FROM event_keys")
    finally:
        await conn.close()
    if stored != report["events"]:
        raise BenchFailure(f"durable_ceiling: {stored} rows stored for {report['events']} events")
    return _from_report("durable_ceiling", report)


async def run_naive(bench: Bench) -> Throughput:
    cfg, base = bench.cfg, bench.base
    url = await infra.create_database(base, cfg.database("naive"), migrated=False)
    report = await _run_reporting_child(
        bench,
        "naive",
        [
            sys.executable,
            "-m",
            "bench.systems.naive",
            base.kafka_bootstrap,
            cfg.prefix,
            f"{cfg.run_id}-naive",
            url,
            base.timezone,
            str(bench.total),
        ],
    )
    result = _from_report("naive", report)
    naive = await check.read_naive(url)
    result.verdict = check.compare(naive, bench.expected.naive, NAIVE_METRICS)
    result.notes["error_vs_truth"] = check.naive_error_vs_truth(naive, bench.expected.recorded)
    return result


# -- peer: runs until stopped; done when its table is right -------------------------------------


async def run_peer(bench: Bench) -> Throughput:
    cfg, base = bench.cfg, bench.base
    if not PEER_PYTHON.exists():
        raise BenchFailure(
            f"{PEER_PYTHON} missing: `make bench` creates it "
            f"(pip install -r bench/requirements-peer.txt)"
        )
    url = await infra.create_database(base, cfg.database("peer"), migrated=False)
    group = f"{cfg.run_id}-peer"
    state_dir = bench.logs / "peer.state"
    db_cpu = infra.postgres_cpu_seconds()
    child = infra.spawn(
        "peer",
        [
            str(PEER_PYTHON),
            "-m",
            "bench.systems.peer",
            base.kafka_bootstrap,
            cfg.prefix,
            group,
            url,
            base.timezone,
            str(state_dir),
        ],
        _child_env(),
        bench.logs,
        cwd=ROOT,
    )
    poller = infra.Poller(url)
    try:
        first_row, done = await _wait_peer(bench, poller, child, group)
        db_cpu = _spent(db_cpu, infra.postgres_cpu_seconds())
    finally:
        await poller.close()
        rss, cpu = infra.peak_rss_mb(child.pid), infra.cpu_seconds(child.pid)
        child.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    verdict = check.compare(await check.read_peer(url), bench.expected.recorded, METRICS)
    return Throughput(
        system="peer",
        events=bench.total,
        seconds=done - child.started,
        startup_s=first_row - child.started if first_row else None,
        peak_rss_mb=rss,
        cpu_s=cpu,
        db_cpu_s=db_cpu,
        verdict=verdict,
        notes={"basis": "recorded unit (no merger attribution)", **_interrupted(poller)},
    )


_PEER_SUMS = (
    "SELECT count(*) AS n, "
    + ", ".join(f"coalesce(sum({m}), 0)::bigint AS {m}" for m in METRICS)
    + " FROM peer.unit_activity_daily"
)


async def _wait_peer(
    bench: Bench, poller: infra.Poller, child: infra.Child, group: str
) -> tuple[float | None, float]:
    """Until the peer's table equals the expected figures; if its input is all committed and
    the table has stopped changing for 20 s, it is done, and wrong."""
    want = tuple(sum(v[i] for v in bench.expected.recorded.values()) for i in range(12))
    deadline = child.started + bench.cfg.timeout_s
    first_row: float | None = None
    last: tuple[int, ...] | None = None
    last_change = time.time()
    while True:
        exists = await poller.fetchval("SELECT to_regclass('peer.unit_activity_daily') IS NOT NULL")
        sums = tuple((await poller.fetch(_PEER_SUMS))[0]) if exists else None
        now = time.time()
        if sums is not None and sums[0] and first_row is None:
            first_row = now
        if sums is not None and sums[1:] == want:
            verdict = check.compare(
                await check.read_peer_conn(poller), bench.expected.recorded, METRICS
            )
            if verdict.ok:
                return first_row, now
        if sums != last:
            last, last_change = sums, now
        elif now - last_change > 20 and await _input_committed(bench, group):
            return first_row, last_change  # finished, and wrong: the verdict will say so
        if not child.alive():
            raise BenchFailure(f"peer exited ({child.proc.returncode}):\n{child.tail()}")
        if now > deadline:
            raise BenchFailure(f"peer: not done after {bench.cfg.timeout_s} s\n{child.tail()}")
        await asyncio.sleep(0.25)


async def _input_committed(bench: Bench, group: str) -> bool:
    committed = await infra.committed_offsets(bench.base, group)
    return all(committed.get(tp, 0) >= end for tp, end in bench.ends.items() if end > 0)
