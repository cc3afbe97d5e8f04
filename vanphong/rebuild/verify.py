"""``vanphong verify``: are the aggregates what the stored facts say?

Lifecycle: one read-only REPEATABLE READ transaction, so that every entity and every cell read
belong to one snapshot while workers keep committing; the entities are streamed through a
cursor and recomputed under today's rules (:mod:`vanphong.rebuild.tally`, the worker's own
functions), the live cells streamed and compared with the sums, and the attribution ranges
compared with their definition. Nothing is written.

What cannot be re-derived is named, not compared: ``core.topic_counters`` counts messages
(applied, unchanged, dead-lettered), and a message that changed nothing leaves no trace in the
entities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from vanphong.core.recompute import Cell, CellComparison, Difference
from vanphong.rebuild.reading import ranges_difference, stream_cells
from vanphong.rebuild.scan import Progress, recompute_snapshot
from vanphong.rebuild.tally import Refused, Tally

NOT_DERIVABLE = (
    "core.topic_counters counts messages (applied, unchanged, dead-lettered): a duplicate or a "
    "stale correction leaves no trace in the entities, so it cannot be re-derived from them"
)


@dataclass
class Verdict:
    """What ``verify`` found. ``differences`` holds the first cells only; ``cells_differing``
    counts them all."""

    entities: int
    cells_compared: int
    cells_differing: int
    differences: list[Difference]
    stale_contributions: int
    stale_examples: list[str]
    refused: list[Refused]
    ranges_missing: list[tuple[Any, ...]]
    ranges_extra: list[tuple[Any, ...]]
    seconds: float
    not_derivable: tuple[str, ...] = field(default=(NOT_DERIVABLE,))
    timings: dict[str, float] = field(default_factory=dict)  # seconds from the start

    @property
    def equal(self) -> bool:
        """Everything derivable is what the entities say (refused entities are reported, but
        their contributions count, so they alone do not make a difference)."""
        return not (
            self.cells_differing
            or self.stale_contributions
            or self.ranges_missing
            or self.ranges_extra
        )

    def as_json(self) -> dict[str, Any]:
        def ranges(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
            names = ("unit_id", "target_unit_id", "valid_from", "valid_to", "depth")
            return [
                {
                    n: v if isinstance(v, str | int) else str(v)
                    for n, v in zip(names, r, strict=True)
                }
                for r in rows
            ]

        return {
            "equal": self.equal,
            "entities": self.entities,
            "cells_compared": self.cells_compared,
            "cells_differing": self.cells_differing,
            "differences": [d.as_json() for d in self.differences],
            "stale_contributions": self.stale_contributions,
            "stale_examples": self.stale_examples,
            "refused": [r.as_json() for r in self.refused],
            "attribution_ranges": {
                "missing": ranges(self.ranges_missing),
                "extra": ranges(self.ranges_extra),
            },
            "not_derivable": list(self.not_derivable),
            "seconds": round(self.seconds, 1),
            "timings": self.timings,
        }


async def verify(
    url: str,
    zone: ZoneInfo,
    schema_dirs: tuple[Path, ...],
    progress: Progress | None = None,
    keep: int = 50,
    jobs: int = 1,
) -> Verdict:
    """Recompute (in ``jobs`` processes, vanphong/rebuild/scan.py) and compare in one snapshot
    (module docstring). Raises what asyncpg raises when the database cannot be reached."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            live: dict[Cell, int] = {}

            async def read_live() -> None:  # on conn, while the processes recompute
                await stream_cells(conn, live.__setitem__)
                timings["live_cells"] = time.monotonic() - started

            blank = Tally(zone, schema_dirs=schema_dirs)
            tally = await recompute_snapshot(
                conn, url, blank, jobs, progress=progress, meanwhile=read_live
            )
            timings["recompute"] = time.monotonic() - started
            if progress is not None:
                progress(tally.entities, tally.entities)
            comparison = CellComparison(tally.cells, keep)
            for cell, value in live.items():
                comparison.see(cell, value)
            live.clear()
            differences = comparison.finish()
            timings["compare"] = time.monotonic() - started
            missing, extra = await ranges_difference(conn)
    finally:
        await conn.close()
    return Verdict(
        entities=tally.entities,
        cells_compared=comparison.compared,
        cells_differing=comparison.count,
        differences=differences,
        stale_contributions=tally.stale,
        stale_examples=[f"{r.entity_type} {r.entity_id}" for r in tally.stale_examples],
        refused=tally.refused,
        ranges_missing=missing,
        ranges_extra=extra,
        seconds=time.monotonic() - started,
        timings={k: round(v, 1) for k, v in timings.items()},
    )
