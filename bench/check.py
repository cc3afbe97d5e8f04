"""Correctness: read what a system wrote to PostgreSQL and compare it, cell by cell, with the
expected figures. A fast wrong answer is a failed run, so every throughput run ends here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from bench.expected import METRICS, NAIVE_METRICS, Daily
from bench.infra import Poller

_VANPHONG = f"SELECT unit_id, day, {', '.join(METRICS)} FROM reporting.unit_activity_daily"
_PEER = f"SELECT unit_id, day::date AS day, {', '.join(METRICS)} FROM peer.unit_activity_daily"
_NAIVE = "SELECT unit_id, day, metric, value FROM metric_daily"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    cells: int  # (unit, day) rows compared
    wrong: int  # rows that differ
    detail: str  # the first differences, for the log

    def __str__(self) -> str:
        if self.ok:
            return f"correct ({self.cells} unit-days)"
        return f"WRONG: {self.wrong} of {self.cells} unit-days differ: {self.detail}"


def compare(actual: Daily, expected: Daily, metrics: tuple[str, ...], show: int = 3) -> Verdict:
    actual = {k: v for k, v in actual.items() if any(v)}
    keys = sorted(actual.keys() | expected.keys())
    zero = (0,) * len(metrics)
    wrong = [k for k in keys if actual.get(k, zero) != expected.get(k, zero)]
    notes = []
    for key in wrong[:show]:
        got, want = actual.get(key, zero), expected.get(key, zero)
        diffs = ", ".join(
            f"{m} {g} (expected {w})" for m, g, w in zip(metrics, got, want, strict=True) if g != w
        )
        notes.append(f"{key[0]} {key[1]}: {diffs}")
    return Verdict(not wrong, len(keys), len(wrong), "; ".join(notes))


def _rows(records: list[asyncpg.Record]) -> Daily:
    return {(r["unit_id"], r["day"]): tuple(int(r[m] or 0) for m in METRICS) for r in records}


async def read_vanphong(url: str) -> Daily:
    conn = await asyncpg.connect(url)
    try:
        return _rows(await conn.fetch(_VANPHONG))
    finally:
        await conn.close()


async def read_peer(url: str) -> Daily:
    poller = Poller(url)
    try:
        return await read_peer_conn(poller)
    finally:
        await poller.close()


async def read_peer_conn(poller: Poller) -> Daily:
    exists = await poller.fetchval("SELECT to_regclass('peer.unit_activity_daily') IS NOT NULL")
    return _rows(await poller.fetch(_PEER)) if exists else {}


async def read_naive(url: str) -> Daily:
    conn = await asyncpg.connect(url)
    try:
        records = await conn.fetch(_NAIVE)
    finally:
        await conn.close()
    cells: dict[tuple[str, date], list[int]] = {}
    for r in records:
        cell = cells.setdefault((r["unit_id"], r["day"]), [0] * len(NAIVE_METRICS))
        cell[NAIVE_METRICS.index(r["metric"])] += r["value"]
    return {k: tuple(v) for k, v in cells.items()}


def naive_error_vs_truth(naive: Daily, recorded: Daily) -> dict[str, int]:
    """Per metric, naive total minus true total (recorded basis, the naive metrics only)."""
    out = {}
    for i, metric in enumerate(NAIVE_METRICS):
        got = sum(v[i] for v in naive.values())
        want = sum(v[i] for v in recorded.values())
        if got != want:
            out[metric] = got - want
    return out
