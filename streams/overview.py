"""The operator page's view-model: ``/api/overview`` as JSON-ready data, and the history behind
its charts.

Apart from the monitor (streams/monitor.py) because it is rendering: it reads the monitor's
counts and partitions and shapes them for streams/static/operator.html (per-topic rows, rates,
the charts' series), and changes with the page, not with the bookkeeping. It reads them through
:class:`Books`, what it needs of the monitor, and imports nothing of the monitor's: the monitor
imports this module (for :class:`Sample` and :class:`TopicTotals`), never the other way round.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from vanphong.core.lag import PartitionStatus
from vanphong.ground.settings import Settings
from vanphong.streams.anomalies import OffsetAnomalies

#: The operator page's history: one sample per tick, five minutes.
HISTORY_SAMPLES = 300
#: The page's charts use one point per this many samples.
SERIES_STEP = 5
#: The "now" rate is measured over this many samples.
RATE_WINDOW = 10


@dataclass
class TopicTotals:
    consumed: int = 0
    applied: int = 0
    unchanged: int = 0
    dead_lettered: int = 0
    redelivered: int = 0


@dataclass(frozen=True)
class Sample:
    """One tick of history for the operator page."""

    at: float  # wall-clock seconds
    consumed: tuple[int, ...]  # cumulative, per topic in Monitor.topics order
    dead_letters: int  # cumulative
    lag: int | None  # total over assigned partitions with a known lag


class Books(Protocol):
    """What the page reads of the monitor (streams/monitor.py's :class:`Monitor` is one)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def worker_id(self) -> str: ...
    @property
    def topics(self) -> Sequence[str]: ...
    @property
    def short_names(self) -> Mapping[str, str]: ...
    @property
    def partition_counts(self) -> Mapping[str, int]: ...
    @property
    def totals(self) -> Mapping[str, TopicTotals]: ...
    @property
    def partitions(self) -> Sequence[PartitionStatus]: ...
    @property
    def history(self) -> Sequence[Sample]: ...
    @property
    def dead_letters_by_reason(self) -> Mapping[str, int]: ...
    @property
    def anomalies(self) -> OffsetAnomalies: ...
    @property
    def last_commit_wall(self) -> float | None: ...
    def health(self) -> tuple[bool, dict[str, Any]]: ...
    def readiness(self) -> tuple[bool, dict[str, Any]]: ...
    def seconds_since_last_commit(self) -> float: ...


def overview(monitor: Books, *, now: float, uptime_s: float, tick_s: float) -> dict[str, Any]:
    """Everything the operator page shows, as JSON-ready data (``now``: wall-clock seconds)."""
    healthy, health = monitor.health()
    by_topic: dict[str, list[PartitionStatus]] = {t: [] for t in monitor.topics}
    for s in monitor.partitions:
        by_topic.setdefault(s.topic, []).append(s)
    rates = recent_rates(monitor.history, len(monitor.topics))
    topics = []
    for i, topic in enumerate(monitor.topics):
        lags = [s.lag for s in by_topic[topic] if s.lag is not None]
        topics.append(
            {
                "topic": topic,
                "name": monitor.short_names.get(topic, topic),
                "partitions": monitor.partition_counts.get(topic),
                "assigned": len(by_topic[topic]),
                "rate": rates[i],
                "lag": sum(lags) if lags else None,
                **asdict(monitor.totals[topic]),
            }
        )
    settings = monitor.settings
    return {
        "worker": monitor.worker_id,
        "prefix": settings.topic_prefix,
        "group": settings.consumer_group,
        "now": now,
        "uptime_s": round(uptime_s, 1),
        "ready": monitor.readiness()[0],  # as /readyz and vanphong_ready say
        "healthy": healthy,
        "health": health,
        "stall_seconds": settings.stall_seconds,
        "seconds_since_last_commit": round(monitor.seconds_since_last_commit(), 1),
        "last_commit_at": monitor.last_commit_wall,
        "topics": topics,
        "partitions": [
            {**asdict(s), "name": monitor.short_names.get(s.topic, s.topic)}
            for s in monitor.partitions
        ],
        "dead_letters": [
            {"reason": r, "count": n}
            for r, n in sorted(monitor.dead_letters_by_reason.items(), key=lambda x: -x[1])
        ],
        "offset_anomalies": list(monitor.anomalies.shown),
        "series": series(monitor.history, [monitor.short_names[t] for t in monitor.topics], tick_s),
    }


def recent_rates(history: Sequence[Sample], topics: int) -> list[float]:
    """Events per second per topic over the last :data:`RATE_WINDOW` samples."""
    if len(history) < 2:
        return [0.0] * topics
    last = history[-1]
    first = history[max(0, len(history) - 1 - RATE_WINDOW)]
    span = max(last.at - first.at, 1e-9)
    return [round((b - a) / span, 1) for a, b in zip(first.consumed, last.consumed, strict=True)]


def series(history: Sequence[Sample], names: Sequence[str], tick_s: float) -> dict[str, Any]:
    """The history, one point per :data:`SERIES_STEP` samples, newest last; ``names``: the
    topics' short names, in the samples' order."""
    samples = list(history)[::-1][::SERIES_STEP][::-1]
    times, dead, lag = [], [], []
    rates: dict[str, list[float]] = {name: [] for name in names}
    for before, after in itertools.pairwise(samples):
        span = max(after.at - before.at, 1e-9)
        times.append(round(after.at, 3))
        for name, a, b in zip(rates, before.consumed, after.consumed, strict=True):
            rates[name].append(round((b - a) / span, 2))
        dead.append(round((after.dead_letters - before.dead_letters) / span, 3))
        lag.append(after.lag)
    return {
        "step_s": SERIES_STEP * tick_s,
        "t": times,
        "rates": rates,
        "dead_letters": dead,
        "lag": lag,
    }
