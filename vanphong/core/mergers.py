"""Validation of mergers at arrival (CONTRACT.md §5.4).

A unit is absorbed by at most one non-voided merger, and the "absorbed → into" graph has no
cycle. Attribution itself is decided at read time in SQL; this module only keeps the graph
sound, so that attribution is always a single chain per unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vanphong.core.rejection import Reason, Rejection


def edges_of(merges: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """absorbed unit → (into unit, merge_id) over the given non-voided mergers."""
    return {
        absorbed: (merge["into_unit_id"], merge["merge_id"])
        for merge in merges
        for absorbed in merge["absorbed_unit_ids"]
    }


def check_merge(merge: Mapping[str, Any], current: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise a :class:`Rejection` if ``merge`` may not join the ``current`` mergers.

    ``current`` maps merge_id → record of every stored non-voided merger; the merger's own
    earlier revision is ignored, so a correction is judged against the others only. A voided
    revision withdraws and is always acceptable.
    """
    if merge["voided"]:
        return
    others = [m for mid, m in current.items() if mid != merge["merge_id"]]
    edges = edges_of(others)
    for unit in merge["absorbed_unit_ids"]:
        if unit in edges:
            into, by = edges[unit]
            raise Rejection(
                Reason.UNIT_ALREADY_MERGED,
                f"unit {unit} was already merged into {into} by merger {by}",
            )
    absorbed = set(merge["absorbed_unit_ids"])
    path = [merge["into_unit_id"]]
    while path[-1] in edges and len(path) <= len(edges) + 1:
        path.append(edges[path[-1]][0])
        if path[-1] in absorbed:
            break
    if path[-1] in absorbed:
        cycle = " → ".join([path[-1], *path])
        raise Rejection(
            Reason.MERGE_CYCLE, f"merger {merge['merge_id']} would close the cycle {cycle}"
        )
