"""The verdicts of ``/healthz`` and ``/readyz``, from what the monitor knows (streams/monitor.py).

Apart from the monitor because they are the rule a load balancer or an orchestrator acts on, and
pure: the monitor hands over its state, these decide and explain. ``/healthz`` is red when a
partition is stalled (vanphong/core/lag.py's rule) or a writer fails deterministically (retrying
within VANPHONG_FAULT_RETRIES: "failing"; given up, the worker exits: "failed"). Offset anomalies
(a recreated topic, lost messages, added partitions) are listed and leave it 200: a restart would
not undo them (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from vanphong.core.lag import PartitionStatus


def health(
    *,
    stalled: list[PartitionStatus],
    stall_seconds: float,
    assigned_partitions: int,
    seconds_since_last_commit: float,
    anomalies: Collection[dict[str, Any]],
    anomalies_seen: int,
    failing: Mapping[int, dict[str, Any]],
    fatal: dict[str, Any] | None,
) -> tuple[bool, dict[str, Any]]:
    """``/healthz``: healthy unless a partition is stalled, or a writer fails
    deterministically (``failing``: retrying within its budget; ``fatal``: giving up)."""
    body: dict[str, Any] = {
        "status": "stalled" if stalled else "ok",
        "stall_seconds": stall_seconds,
        "assigned_partitions": assigned_partitions,
        "seconds_since_last_commit": round(seconds_since_last_commit, 1),
    }
    if anomalies:  # reported, not red: a restart would not undo them (module docstring)
        body["offset_anomalies"] = list(anomalies)
        body["warning"] = (
            f"{anomalies_seen} offset anomal{'y' if anomalies_seen == 1 else 'ies'}"
            " detected since the worker started (recreated topics, lost messages, added"
            " partitions); see offset_anomalies and `vanphong status`"
        )
    if stalled:
        body["reason"] = (
            f"{len(stalled)} partition(s) with lag and no progress for at least"
            f" {stall_seconds:g} s: " + ", ".join(f"{s.topic}[{s.partition}]" for s in stalled)
        )
        body["stalled"] = [
            {
                "topic": s.topic,
                "partition": s.partition,
                "lag": s.lag,
                "seconds_without_progress": round(s.waiting_s, 1),
            }
            for s in stalled
        ]
    failure = fatal if fatal is not None else next(iter(failing.values()), None)
    if failure is not None:  # a deterministic failure (streams/write_policy.py): red at once
        body["status"] = "failed" if fatal is not None else "failing"
        body["failure"] = failure
        said = (
            "the worker gives up and exits"
            if fatal is not None
            else "a write fails and is retried within VANPHONG_FAULT_RETRIES"
        )
        body["reason"] = f"{said}: {failure.get('error', '?')}" + (
            f"; {body['reason']}" if stalled else ""
        )
    return not stalled and failure is None, body


def readiness(
    *, sink_ready: bool, assigned_partitions: int, exiting: bool = False, stopping: bool = False
) -> tuple[bool, dict[str, Any]]:
    """``/readyz``: ready once the sink is connected (which the app only starts after its
    first rebalance, so the group is joined by then); the assignment may be empty. Not ready
    again once the worker gives up on a failure (``exiting``) or is ``stopping``: a load
    balancer or an orchestrator stops sending it work, and ``vanphong_ready`` drops to 0."""
    ready = sink_ready and not exiting and not stopping
    status = "stopping" if stopping else "failed" if exiting else "ready" if ready else "starting"
    body: dict[str, Any] = {
        "status": status,
        "sink_connected": sink_ready,
        "assigned_partitions": assigned_partitions,
    }
    if stopping:
        body["reason"] = "the worker is stopping"
    elif exiting:
        body["reason"] = "the worker gave up on a failure and exits (/healthz says which)"
    elif not sink_ready:
        body["reason"] = "waiting for the consumer group and the PostgreSQL sink"
    return ready, body
