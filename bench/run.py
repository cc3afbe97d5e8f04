"""``make bench``: generate, publish once, then measure each system on the same topics.

Order of a run (nothing is timed until the events are published):

1. generate ``BENCH_EVENTS`` events of the demo's mix, encode them, compute the expected figures;
2. publish them once to ``<run>.*`` topics;
3. measure, one after the other: vanphong (one worker), the ceiling, the naive service, the
   peer (Quix Streams), vanphong's latency under a paced load (its own topics), and two vanphong
   workers sharing the partitions; every throughput run is checked against the expected figures;
4. print the table and the ``bench:`` line, write ``bench/results/latest.json``, drop the run's
   databases and topics (``BENCH_KEEP=1`` keeps them).

Exit status: 1 if any system gave a wrong answer or failed to finish (a fast wrong answer is a
failed run); with ``BENCH_STRICT=1`` also if a target is missed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
import traceback
from contextlib import suppress

from bench import config, infra
from bench.config import RESULTS_DIR, BenchConfig
from bench.expected import expected
from bench.generate import Encoded, encode_all, history
from bench.latency import run_latency
from bench.measure import (
    Bench,
    BenchFailure,
    Throughput,
    baseline_tree,
    run_ceiling,
    run_durable_ceiling,
    run_naive,
    run_peer,
    run_vanphong,
)
from bench.profile import summarise
from bench.report import Results, line, revision, table, write_json
from vanphong.ground.kafka import admin_client


def say(text: str) -> None:
    print(text, flush=True)


async def prepare(cfg: BenchConfig, results: Results) -> tuple[Bench, list[Encoded]]:
    base = infra.base_settings()
    logs = RESULTS_DIR / "runs" / cfg.run_id
    started = time.monotonic()
    hist = history(cfg.events, cfg.seed)
    encoded = encode_all(hist.events)
    want = expected(hist.events, base.timezone)
    generated = time.monotonic() - started
    mix = hist.mix()
    say(
        f"generated {len(encoded):,} events in {generated:.1f} s: "
        + ", ".join(f"{t} {n:,}" for t, n in mix.most_common())
        + f"; {hist.retries:,} retries, {hist.corrections:,} corrections"
    )
    await infra.create_prefix_topics(base, cfg.prefix)
    await asyncio.sleep(1.0)  # let the new partitions elect their leader before producing
    published = await infra.publish(base, [e.to(cfg.prefix) for e in encoded])
    ends = await infra.end_offsets(base, infra.input_topics(cfg.prefix))
    if sum(ends.values()) != len(encoded):
        raise BenchFailure(
            f"published {len(encoded)} events but the topics hold {sum(ends.values())}"
        )
    say(
        f"published to {cfg.prefix}.* in {published:.1f} s "
        f"({len(encoded) / published:,.0f} events/s); timing starts now"
    )
    results.setup = {
        "generate_and_expect_s": round(generated, 1),
        "publish_s": round(published, 1),
        "mix": dict(mix.most_common()),
        "retries": hist.retries,
        "corrections": hist.corrections,
        "expected_unit_days": len(want.attributed),
        "expected_totals": want.totals,
    }
    return Bench(cfg, base, logs, ends, want), encoded


def _describe(t: Throughput) -> str:
    startup = f", start-up {t.startup_s:.1f} s" if t.startup_s is not None else ""
    rss = f", peak RSS {t.peak_rss_mb:.0f} MB" if t.peak_rss_mb is not None else ""
    verdict = f", {t.verdict}" if t.verdict else ""
    return (
        f"{t.system}: {t.events:,} events in {t.seconds:.1f} s = {t.eps:,.0f} events/s"
        f"{startup}{rss}{verdict}"
    )


async def measure(bench: Bench, encoded: list[Encoded], results: Results) -> None:
    cfg = bench.cfg
    profile = bench.logs / "vanphong.pyspy.txt" if cfg.profile else None
    for system in cfg.systems:
        results.load[system] = os.getloadavg()
        measured = revision()  # the tree may change between runs: record what each one ran
        say(f"-- {system} (load average {results.load[system][0]:.2f})")
        try:
            if system == "latency":
                results.latency = lat = await run_latency(bench, encoded)
                lat.revision = measured
                say(
                    f"latency: p50 {lat.p50:.0f} ms, p99 {lat.p99:.0f} ms, max {lat.max:.0f} ms "
                    f"at {lat.achieved_rate:,.0f} events/s"
                )
                continue
            if system == "vanphong":
                result = await run_vanphong(bench, "vanphong", 1, profile)
            elif system == "two_workers":
                result = await run_vanphong(bench, "two_workers", 2)
            elif system == "ceiling":
                result = await run_ceiling(bench)
            elif system == "durable_ceiling":
                result = await run_durable_ceiling(bench)
            elif system == "naive":
                result = await run_naive(bench)
            else:
                result = await run_peer(bench)
            result.notes["revision"] = measured
            results.throughput[system] = result
            say(_describe(result))
            if system == "vanphong" and cfg.baseline:
                with baseline_tree(bench, cfg.baseline) as source:
                    before = await run_vanphong(bench, "baseline", 1, source=source)
                before.notes["revision"] = cfg.baseline
                results.throughput[f"vanphong@{cfg.baseline}"] = before
                say(_describe(before))
        except BenchFailure as exc:
            results.failures.append(f"{system}: {exc}")
            say(f"{system}: FAILED: {exc}")
        except Exception as exc:  # a harness error or the stack going away: report, go on
            results.failures.append(f"{system}: {type(exc).__name__}: {exc}")
            say(f"{system}: FAILED:\n{traceback.format_exc()}")
    if profile is not None and profile.exists():
        summary = summarise(profile)
        (bench.logs / "vanphong.profile.txt").write_text(summary + "\n")
        say(summary)


async def cleanup(cfg: BenchConfig) -> None:
    """Drop the run's databases and topics (the peer's intermediate and changelog topics too)."""
    base = infra.base_settings()
    failures = await infra.drop_created(base, [cfg.database(s) for s in config.SYSTEMS])
    for failure in failures:  # said, so that nobody finds 257 MB left behind by surprise
        say(f"cleanup: could not drop database {failure}")
    with suppress(Exception):
        async with admin_client(base) as admin:
            topics = [t for t in await admin.list_topics() if cfg.run_id in t]
        await infra.delete_topics(base, topics)
    for prefix in (cfg.prefix, cfg.latency_prefix):
        data_dir = infra.settings_for(base, prefix, "unused").worker_data_dir
        shutil.rmtree(data_dir, ignore_errors=True)
    logs = RESULTS_DIR / "runs" / cfg.run_id
    for scratch in logs.glob("*.cwd"):
        shutil.rmtree(scratch, ignore_errors=True)


def _cleaning_up() -> None:
    say("interrupted again: still dropping the run's databases and topics (a moment)")


async def amain(cfg: BenchConfig) -> int:
    results = Results(cfg.run_id, cfg.events)
    say(
        f"bench {cfg.run_id} at {revision()}: {cfg.events:,} events; "
        f"systems {', '.join(cfg.systems)}; logs in {RESULTS_DIR / 'runs' / cfg.run_id}"
    )
    main = asyncio.current_task()
    if main is not None:  # SIGTERM/SIGINT: unwind through the finally below
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, main.cancel)
    try:
        bench, encoded = await prepare(cfg, results)
        await measure(bench, encoded, results)
    except BenchFailure as exc:
        results.failures.append(str(exc))
    except asyncio.CancelledError:
        results.failures.append("interrupted")
    finally:
        if main is not None:  # a second Ctrl-C must not cut the cleanup short
            for sig in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(sig, _cleaning_up)
        infra.stop_all_children()
        if not cfg.keep:
            await cleanup(cfg)
    say("")
    say(table(results))
    write_json(results, RESULTS_DIR / "latest.json")
    say(line(results))
    missed = [name for name, t in results.targets().items() if not t["met"]]
    if not results.correct:
        return 1
    return 1 if cfg.strict and missed else 0


def main() -> None:
    sys.exit(asyncio.run(amain(config.load())))


if __name__ == "__main__":
    main()
