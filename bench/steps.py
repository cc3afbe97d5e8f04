"""The writer's pure Python steps, timed without I/O: ``python -m bench.steps``.

The events of one province's history (``bench.readdata``, 81,308 events of the demo mix) go
through the steps the worker's thread runs for each batch of 4,000, in its order: decode →
validate → normalise (``prepare``), the entity lookup's keys (``refs_needed``), the plan and
fold (``plan_batch``, nothing stored yet), the entity rows' JSON and the aggregate rows' JSON
(the SQL parameters). Each step is timed over all batches, best of ``BENCH_STEPS_ROUNDS`` (5),
with the worker's collector threshold. No Kafka, no PostgreSQL: this is where a change to the
write path's Python shows first, below the ±10 % noise of ``make bench`` (docs/performance.md,
issue 21). Numbers are µs per event.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from bench.readdata import Params, generate, items
from vanphong.core.batch import Item, Plan, plan_batch, refs_needed
from vanphong.sinks.records import entities_to_json, rows_to_json

BATCH = 4000
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def batches(prepared: list[Item]) -> list[tuple[list[Item], dict[tuple[str, int], int]]]:
    """Batches of ``BATCH`` items, each with the stored offsets that make all of it fresh."""
    out = []
    for start in range(0, len(prepared), BATCH):
        batch = prepared[start : start + BATCH]
        offsets: dict[tuple[str, int], int] = {}
        for item in batch:
            offsets.setdefault((item.at.topic, item.at.partition), item.at.offset)
        out.append((batch, offsets))
    return out


def best(step: Callable[[], object], rounds: int, events: int) -> float:
    """The fastest of ``rounds`` runs of ``step``, in µs per event."""
    fastest = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        fastest = min(fastest, time.perf_counter() - started)
    return 1e6 * fastest / events


def entity_rows(plans: list[Plan]) -> None:
    for plan in plans:
        entities_to_json([plan.entities[ref] for ref in sorted(plan.changed)])


def delta_rows(plans: list[Plan]) -> None:
    for plan in plans:
        rows_to_json([(*cell, n) for cell, n in sorted(plan.deltas.items()) if n != 0])


def main() -> None:
    rounds = int(os.environ.get("BENCH_STEPS_ROUNDS", "5"))
    gc.set_threshold(50_000, 20, 10)  # the worker's (streams/app.py)
    provinces = generate(Params(provinces=1), lambda _n: None)
    prepared = list(items(provinces))
    events, todo = len(prepared), batches(prepared)
    plans = [plan_batch(batch, offsets, {}, ZONE) for batch, offsets in todo]
    steps: dict[str, Callable[[], object]] = {
        "decode, validate, normalise": lambda: list(items(provinces)),
        "lookup keys (refs_needed)": lambda: [refs_needed(batch) for batch, _ in todo],
        "plan and fold (plan_batch)": lambda: [plan_batch(b, o, {}, ZONE) for b, o in todo],
        "entity rows' JSON": lambda: entity_rows(plans),
        "aggregate rows' JSON": lambda: delta_rows(plans),
    }
    total = 0.0
    print(f"{events:,} events in batches of {BATCH:,}, best of {rounds}; µs per event")
    for name, step in steps.items():
        cost = best(step, rounds, events)
        total += cost
        print(f"  {name:30s} {cost:6.2f}")
    print(f"  {'all':30s} {total:6.2f}")


if __name__ == "__main__":
    main()
