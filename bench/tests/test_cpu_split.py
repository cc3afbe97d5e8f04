"""Where a run's CPU went: the system's own process and PostgreSQL's, per event."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import infra
from bench.measure import Throughput
from bench.report import Results, table


def test_cpu_per_event_is_own_and_postgres() -> None:
    t = Throughput("vanphong", 200_000, 10.0, cpu_s=6.9, db_cpu_s=6.3)
    assert t.cpu_us_per_event() == pytest.approx((34.5, 31.5))
    assert Throughput("ceiling", 0, 1.0, cpu_s=1.0).cpu_us_per_event() == (None, None)


def test_the_table_shows_both_and_marks_what_was_not_measured() -> None:
    results = Results("r", 200_000)
    results.throughput["vanphong"] = Throughput("vanphong", 200_000, 10.0, cpu_s=6.9, db_cpu_s=6.3)
    results.throughput["ceiling"] = Throughput("ceiling", 200_000, 2.0, cpu_s=1.6)
    lines = table(results).splitlines()
    assert "CPU µs/event: own + PostgreSQL" in lines[0]
    assert "34 + 32" in lines[1]  # 34.5 and 31.5, rounded half to even
    assert "8 + ?" in lines[2]


def test_postgres_cpu_counts_exited_backends_through_the_postmaster() -> None:
    """The reader sums utime, stime and the waited-for children's times of every process
    named postgres: checked here on a stand-in, a process named postgres that ran a child
    which burnt CPU and was reaped."""
    before = infra.postgres_cpu_seconds() or 0.0
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    parent = (
        "import ctypes, subprocess, sys, time\n"
        "ctypes.CDLL(None).prctl(15, b'postgres', 0, 0, 0)\n"  # PR_SET_NAME: comm = postgres
        f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", parent], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        after = infra.postgres_cpu_seconds()
        assert after is not None and after - before >= 0.25
    finally:
        proc.communicate("")
