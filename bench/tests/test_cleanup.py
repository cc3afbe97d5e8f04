"""``make bench`` leaves no database behind (issue 20: a ``bench_<run>_latency`` database of
257 MB stayed after each run): what the harness created is dropped when a run fails half-way,
and when it is interrupted, even twice."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import asyncpg
import pytest

from bench import infra, run
from bench.config import BenchConfig
from vanphong.ground.settings import Settings


def _exists(name: str) -> bool:
    async def ask() -> bool:
        conn = await asyncpg.connect(Settings().database_url)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(ask())


@pytest.fixture
def quiet_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """bench.run without its results file, its topics or its output (said lines collected)."""
    said: list[str] = []
    monkeypatch.setattr(run, "write_json", lambda *_: {})
    monkeypatch.setattr(run, "say", said.append)
    monkeypatch.setattr(infra, "delete_topics", _nothing)
    return said


async def _nothing(*_: Any) -> None:
    return None


@pytest.mark.integration
def test_a_run_that_fails_half_way_drops_the_databases_it_created(
    quiet_run: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = BenchConfig(events=10, systems=("latency",))
    latency_db = cfg.database("latency")

    async def fails_after_creating(cfg: BenchConfig, results: Any) -> Any:
        await infra.create_database(infra.base_settings(), latency_db, migrated=False)
        raise RuntimeError("the stack went away")

    monkeypatch.setattr(run, "prepare", fails_after_creating)
    with pytest.raises(RuntimeError):
        asyncio.run(run.amain(cfg))
    assert not _exists(latency_db)
    assert not any("could not drop" in line for line in quiet_run)


@pytest.mark.integration
def test_a_run_interrupted_twice_still_drops_its_databases(
    quiet_run: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = BenchConfig(events=10, systems=("latency",))
    made = cfg.database("latency")

    async def interrupted(cfg: BenchConfig, results: Any) -> Any:
        await infra.create_database(infra.base_settings(), made, migrated=False)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the run measures
        await asyncio.Event().wait()

    def interrupted_again() -> None:  # Ctrl-C again while the run cleans up
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(run, "prepare", interrupted)
    monkeypatch.setattr(infra, "stop_all_children", interrupted_again)
    assert asyncio.run(run.amain(cfg)) == 1  # "interrupted" is a failure
    assert not _exists(made)
    assert any("interrupted again" in line for line in quiet_run)
