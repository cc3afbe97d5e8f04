"""The targets a run is judged by (bench/report.py), issue 21's where it set one."""

from __future__ import annotations

from bench.latency import Latency
from bench.measure import Throughput
from bench.report import Results


def run(latencies_ms: list[float], **eps: float) -> Results:
    results = Results("r", 100_000)
    for system, rate in eps.items():
        results.throughput[system] = Throughput(system, 100_000, 100_000 / rate, peak_rss_mb=180)
    results.latency = Latency(5000, 60, 300_000, 5000.0, latencies_ms)
    return results


def test_the_targets_are_issue_21s() -> None:
    targets = run(
        [100.0] * 98 + [600.0] * 2,
        vanphong=20_000,
        durable_ceiling=45_000,
        naive=2_100,
        two_workers=19_000,
    ).targets()
    assert targets["vanphong/durable_ceiling"] == {"value": 0.44, "target": 0.5, "met": False}
    assert targets["vanphong/naive"]["met"] is False  # 9.52 x
    assert targets["p99_ms"]["target"] == 500 and targets["p99_ms"]["met"] is False
    assert targets["two_workers/vanphong"] == {"value": 0.95, "target": 1.0, "met": False}
    assert targets["rss_mb"]["met"] is True


def test_a_run_that_meets_them_says_so() -> None:
    targets = run(
        [100.0] * 100,
        vanphong=25_000,
        durable_ceiling=45_000,
        naive=2_100,
        two_workers=30_000,
    ).targets()
    assert all(t["met"] for t in targets.values()), targets
