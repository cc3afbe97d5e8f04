"""The benchmark's knobs, read once from ``BENCH_*`` environment variables.

Defaults are the issue's: 500,000 events, 5,000 events/s offered for 60 s. Smaller values are
for development (``BENCH_EVENTS=20000 BENCH_LATENCY_S=10``); the published numbers use the
defaults.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PEER_PYTHON = BENCH_DIR / ".venv-peer" / "bin" / "python"

SYSTEMS = ("vanphong", "ceiling", "durable_ceiling", "naive", "peer", "latency", "two_workers")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: expected an integer") from None
    if value <= 0:
        raise SystemExit(f"{name}={raw!r}: must be positive")
    return value


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class BenchConfig:
    """One run's parameters and names (topic prefixes, databases) derived from a run id."""

    events: int = 500_000
    latency_s: int = 60
    latency_rate: int = 5_000
    seed: int = 2024
    systems: tuple[str, ...] = SYSTEMS
    profile: bool = False  # attach py-spy to the single vanphong worker
    keep: bool = False  # keep databases and topics afterwards (to inspect them)
    strict: bool = False  # exit non-zero when a target is missed, not only on wrong answers
    timeout_s: int = 900  # per measured system: a hung system fails the run, not the machine
    #: A git revision whose worker runs right after ``vanphong``, on the same events, as the
    #: system ``vanphong@<rev>``: a change's cost side by side in one run (bench/README.md).
    baseline: str = ""
    run_id: str = field(
        default_factory=lambda: f"b{time.strftime('%m%d%H%M')}{secrets.token_hex(2)}"
    )

    @property
    def prefix(self) -> str:
        """The topics every throughput run reads (published once, before timing starts)."""
        return f"{self.run_id}"

    @property
    def latency_prefix(self) -> str:
        """The latency run's own topics: empty at start, fed by the paced producer."""
        return f"{self.run_id}-lat"

    def database(self, system: str) -> str:
        return f"bench_{self.run_id}_{system}".lower()


def load() -> BenchConfig:
    systems = tuple(
        s.strip() for s in os.environ.get("BENCH_SYSTEMS", ",".join(SYSTEMS)).split(",") if s
    )
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise SystemExit(f"BENCH_SYSTEMS: unknown {', '.join(unknown)} (known: {SYSTEMS})")
    return BenchConfig(
        events=_int("BENCH_EVENTS", 500_000),
        latency_s=_int("BENCH_LATENCY_S", 60),
        latency_rate=_int("BENCH_LATENCY_RATE", 5_000),
        seed=_int("BENCH_SEED", 2024),
        systems=systems,
        profile=_flag("BENCH_PROFILE"),
        keep=_flag("BENCH_KEEP"),
        strict=_flag("BENCH_STRICT"),
        timeout_s=_int("BENCH_TIMEOUT_S", 900),
        baseline=os.environ.get("BENCH_BASELINE", "").strip(),
    )
