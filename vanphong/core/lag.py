"""Lag and the stall rule: one definition of each, for the worker (streams/monitor.py, its
metrics, ``/healthz`` and the operator page) and the commands (``vanphong status`` and
``vanphong wait``). Pure: offsets and clocks in, verdicts out.

**Lag** is how many messages of a partition are still to be applied: the end offset (the last
stable offset: input topics are read ``read_committed``) minus the applied next offset, where the
applied offset is never taken below the log start offset (what retention deleted can no longer
be applied, and is reported as lost instead: vanphong/core/positions.py). Offsets that carry no
record (transaction markers, aborted records) count as applied once the worker has read past
them: the sink stores the consumer's position after them (vanphong/core/batch.py, position marks).

**Stalled** means: lag above zero, and nothing applied for ``stall_s`` seconds while work was
waiting. The clock runs from the later of two moments: when the applied offset last moved and
when the oldest waiting work appeared. So a partition that was idle for a day and just received
a message is not stalled at once, and neither is one that was just assigned. The worker watches
those moments itself, look after look (:func:`assess`); ``vanphong status`` reads them from
PostgreSQL (when the stored offset last moved) and Kafka (the timestamp of the first unapplied
message).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TP = tuple[str, int]


def lag(end: int, applied: int, log_start: int = 0) -> int:
    """Messages of a partition still to apply: ``end`` − the applied next offset, where nothing
    below ``log_start`` (deleted by retention) is still to apply; never negative (an applied
    offset read after a stale end offset is no lag)."""
    return max(0, end - max(applied, log_start))


def waiting_since(*moments: float | None) -> float | None:
    """The clock of the stall rule: the latest of the known moments (None: none known)."""
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def is_stalled(lag: int | None, since: float | None, now: float, stall_s: float) -> bool:
    """The stall rule (module docstring): lag above zero and ``stall_s`` seconds since
    ``since`` (:func:`waiting_since`). An unknown lag is not a stall; a lag whose clock is
    unknown is (nothing shows that the partition ever moved)."""
    if not lag:
        return False
    return since is None or now - since >= stall_s


# --- the worker's view, look after look -------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """What the stall rule remembers about one assigned partition between two looks."""

    applied: int | None  # the applied next offset seen last time
    since: float  # the stall clock (monotonic seconds): see assess
    caught_up: bool  # the last look saw no lag


@dataclass(frozen=True)
class PartitionStatus:
    topic: str
    partition: int
    highwater: int | None  # next offset to be written to the partition (None: not read yet)
    applied: int | None  # next offset to be applied (None: unknown yet)
    lag: int | None  # messages not applied yet (None: unknown)
    waiting_s: float  # how long it has had lag without progress; 0 without lag
    stalled: bool


def assess(
    tracks: Mapping[TP, Track],
    assigned: Iterable[TP],
    highwater: Mapping[TP, int],
    applied: Mapping[TP, int],
    now: float,
    stall_s: float,
) -> tuple[dict[TP, Track], list[PartitionStatus]]:
    """Apply the stall rule to every assigned partition; return the new tracks and the statuses.

    ``highwater`` holds end offsets, ``applied`` applied next offsets (their floor, the log
    start, already applied by the caller). The clock (:func:`is_stalled`'s ``since``) restarts
    at every look where the applied offset advanced (the last progress) and at the first look
    with lag after one without (the oldest waiting work), and it starts at the first look after
    assignment, so a partition that is assigned with lag and never applies anything is found
    too. A partition whose lag is unknown keeps its clock and is not reported stalled until the
    lag is known. Partitions no longer assigned are forgotten.
    """
    new_tracks: dict[TP, Track] = {}
    statuses: list[PartitionStatus] = []
    for tp in sorted(set(assigned)):
        high, done, before = highwater.get(tp), applied.get(tp), tracks.get(tp)
        behind = None if high is None or done is None else lag(high, done)
        advanced = (
            before is not None
            and before.applied is not None
            and done is not None
            and done > before.applied
        )
        restart = before is None or before.caught_up or advanced or behind == 0
        since = now if restart or before is None else before.since
        stalled = is_stalled(behind, since, now, stall_s)
        waiting = now - since if behind else 0.0
        new_tracks[tp] = Track(done, since, behind == 0)
        statuses.append(PartitionStatus(tp[0], tp[1], high, done, behind, waiting, stalled))
    return new_tracks, statuses
