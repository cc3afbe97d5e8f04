"""What the worker is doing: the :class:`Monitor` service that keeps the books behind
``/metrics``, ``/healthz``, ``/readyz`` and the operator page.

Lifecycle: :class:`Monitor` is a :class:`mode.Service` that the worker starts before the faust
app and stops after it, so ``/healthz`` answers while the app joins the group or waits for
Kafka. It learns from three sources:

* **Batches.** The batch writer (streams/batch_writer.py) calls
  :meth:`Monitor.on_batch_committed` once per committed batch (never per event; a batch spans
  topics, the series are per topic): counters, histograms, the last commit time, and the next
  offset per partition that the batch settled. That is the worker's *applied* offset, in memory.
* **Assignment.** Once a second, :meth:`Monitor.update` reads the partitions this worker owns
  (from faust's consumer, through the ``assignment`` callable the app installs).
* **Kafka offsets.** Every :data:`OFFSETS_EVERY_S`, streams/kafka_offsets.py reads the end
  offsets and the applied-offset floors (committed, or beginning) of the assigned partitions.
  Commits trail PostgreSQL by at most ``broker_commit_interval``, because the worker commits to
  Kafka only what the sink has committed.

The stall rule and lag are the pure ones of vanphong/core/lag.py
(:func:`~vanphong.core.lag.assess`), the same as ``vanphong status`` applies; everything else here
is bookkeeping around them. The rest lives next door, one job each: the Prometheus definitions
(streams/metrics.py), the verdicts of ``/healthz`` and ``/readyz`` (streams/health.py), the page's
view-model (streams/overview.py).

**Offset anomalies.** A committed batch's plan carries what its position marks detected
(vanphong/core/positions.py: a recreated topic, messages lost to retention, added partitions): each
is logged with its numbers, counted (``vanphong_offset_anomalies_total``,
``vanphong_messages_lost_total``) and listed in ``/healthz``'s body and on the page
(streams/anomalies.py), and ``/healthz`` stays 200 (docs/operations.md says why). A plan that
asks for a rewind is passed on to the consumer (``rewind``, installed by the app).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mode

from vanphong.core.batch import Plan
from vanphong.core.lag import TP, PartitionStatus, Track, assess  # shared with `vanphong status`
from vanphong.core.positions import DATABASE_BEHIND, TOPIC_RECREATED, Anomaly
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.streams import health as verdicts
from vanphong.streams import overview as page
from vanphong.streams.anomalies import OffsetAnomalies
from vanphong.streams.kafka_offsets import KafkaOffsets
from vanphong.streams.metrics import Metrics
from vanphong.streams.overview import HISTORY_SAMPLES, Sample, TopicTotals

__all__ = ["TP", "Monitor", "PartitionStatus", "Track", "assess"]

log = get_logger("vanphong.monitor")

#: How often the assignment is read and the stall rule applied.
TICK_S = 1.0
#: How often end, beginning and committed offsets are read from Kafka.
OFFSETS_EVERY_S = 2.0


def _no_assignment() -> set[TP]:
    return set()


def _no_rewind(offsets: Mapping[TP, int]) -> None:
    return None


@dataclass
class _Offsets:
    highwater: dict[TP, int] = field(default_factory=dict)
    floor: dict[TP, int] = field(default_factory=dict)  # committed (or beginning) offsets


class Monitor(mode.Service):
    """Counts batches, watches partitions, and answers ``/healthz``, ``/readyz`` and the page."""

    #: In faust's and mode's log lines; faust has a ``Monitor`` (sensor) of its own.
    label = shortlabel = "VanphongMonitor"

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.topics = [settings.topic(e.topic) for e in EVENT_TYPES]
        self.short_names = {settings.topic(e.topic): e.topic for e in EVENT_TYPES}
        self.partition_counts = {settings.topic(e.topic): e.partitions for e in EVENT_TYPES}
        self.metrics = Metrics(self.topics)
        self.worker_id = ""
        #: Installed by the app: the partitions this worker owns now (empty until it can tell).
        self.assignment: Callable[[], set[TP]] = _no_assignment
        #: Installed by the app: seek the consumer to these offsets (vanphong/core/positions.py).
        self.rewind: Callable[[Mapping[TP, int]], None] = _no_rewind
        self.anomalies = OffsetAnomalies(self.metrics)
        self.sink_ready = False
        self.totals = {t: TopicTotals() for t in self.topics}
        self.dead_letters_by_reason: dict[str, int] = {}
        self.partitions: list[PartitionStatus] = []
        self.history: deque[Sample] = deque(maxlen=HISTORY_SAMPLES)
        self._started_mono = time.monotonic()
        self._last_commit_mono: float | None = None
        #: Wall-clock time of the last committed batch (the page shows it).
        self.last_commit_wall: float | None = None
        self._applied: dict[TP, int] = {}  # next offsets after committed batches
        self._received: dict[TP, int] = {}  # next offsets after batches taken, maybe not written
        self._offsets = _Offsets()
        self._assigned: set[TP] = set()
        self._assignment_changed = asyncio.Event()
        self._tracks: dict[TP, Track] = {}
        self._shown: set[TP] = set()
        self._kafka = KafkaOffsets(settings)
        self._failing: dict[int, dict[str, Any]] = {}  # writer → the failure it retries
        self._fatal: dict[str, Any] | None = None  # the failure the worker exits on
        self.metrics.since_commit.set_function(self.seconds_since_last_commit)
        self._stopping = False
        # Read at each scrape, so that the gauge and /readyz never disagree (0 again on stop).
        self.metrics.ready.set_function(lambda: 1.0 if self.readiness()[0] else 0.0)

    # --- hooks from the worker (cheap: once per batch) ---

    def on_sink_ready(self, worker_id: str) -> None:
        self.sink_ready = True
        self.worker_id = worker_id

    def on_batch_received(self, settled: Mapping[TP, int]) -> None:
        """A batch reached the sink: its partitions' end offsets are at least ``settled``, so a
        batch that hangs in PostgreSQL shows as lag at once, before Kafka's offsets are read."""
        for tp, offset in settled.items():
            if offset > self._received.get(tp, -1):
                self._received[tp] = offset

    def on_batch_committed(
        self,
        consumed: Mapping[str, int],
        plan: Plan,
        settled: Mapping[TP, int],
        seconds: float,
    ) -> None:
        """Count one committed batch: ``consumed`` messages per topic (a batch spans topics);
        ``settled`` maps each partition in the batch to the next offset after it. Position
        marks (vanphong/core/batch.py) are not messages: ``plan.marks`` are taken off
        ``consumed``."""
        marks = plan.marks
        for topic, n in consumed.items():
            if marks:
                n -= marks.get(topic, 0)
            if n > 0:
                self._count_topic(topic, n, plan, seconds)
        for item, rejection in plan.dead_letters:
            reason = str(rejection.reason)
            self.metrics.dead_letters.labels(item.at.topic, reason).inc()
            self.dead_letters_by_reason[reason] = self.dead_letters_by_reason.get(reason, 0) + 1
        for tp, offset in settled.items():
            if offset > self._applied.get(tp, -1):
                self._applied[tp] = offset
        if plan.anomalies or plan.rewinds:
            self._on_positions(plan)
        self._last_commit_mono = time.monotonic()
        self.last_commit_wall = time.time()

    def _count_topic(self, topic: str, consumed: int, plan: Plan, seconds: float) -> None:
        applied, unchanged = plan.applied.get(topic, 0), plan.unchanged.get(topic, 0)
        rejected, redelivered = plan.rejected.get(topic, 0), plan.redelivered.get(topic, 0)
        totals = self.totals.setdefault(topic, TopicTotals())
        totals.consumed += consumed
        totals.applied += applied
        totals.unchanged += unchanged
        totals.dead_lettered += rejected
        totals.redelivered += redelivered
        self.metrics.count_batch(
            topic, consumed, (applied, unchanged, rejected), redelivered, seconds
        )

    def _on_positions(self, plan: Plan) -> None:
        """Offset anomalies and rewinds of a committed batch (module docstring). A topic that
        was read again from its beginning has a lower applied offset now than before."""
        for anomaly in plan.anomalies:
            self.on_anomaly(anomaly)
            tp = (anomaly.topic, anomaly.partition)
            if anomaly.kind == TOPIC_RECREATED:
                row = plan.positions.get(tp)
                self._applied[tp] = self._received[tp] = 0 if row is None else row.next_offset
                self._offsets.floor.pop(tp, None)
                self._offsets.highwater.pop(tp, None)
            elif anomaly.kind == DATABASE_BEHIND:  # what was applied is what PostgreSQL holds
                self._applied[tp] = self._received[tp] = plan.settled.get(tp, 0)
        if plan.rewinds:
            self.rewind(plan.rewinds)

    def on_anomaly(self, anomaly: Anomaly) -> None:
        """Make a detection loud: a log line with its numbers, the metrics, ``/healthz``."""
        self.anomalies.record(anomaly)

    def on_transient_failure(self, kind: str) -> None:
        self.metrics.transient.labels(kind).inc()

    def on_retry(self, kind: str) -> None:
        """A batch's write is tried again (streams/metrics.py's ``RETRY_KINDS``)."""
        self.metrics.retries.labels(kind).inc()

    def on_failing(self, writer: int, failure: Mapping[str, Any] | None) -> None:
        """Writer ``writer`` retries a deterministic failure of the system's (``failure``: the
        error and the batch's coordinates), or no longer (None). ``/healthz`` is red meanwhile."""
        if failure is None:
            self._failing.pop(writer, None)
        else:
            self._failing[writer] = dict(failure)
        self.metrics.failed.set(1 if self._failing or self._fatal else 0)

    def on_fatal(self, failure: Mapping[str, Any]) -> None:
        """The worker gave up on a failure (its error and the batch's coordinates) and exits:
        ``/healthz`` says so until the process ends."""
        self._fatal = dict(failure)
        self.metrics.failed.set(1)

    # --- the periodic look ---

    @mode.Service.timer(TICK_S)
    async def _tick(self) -> None:
        self.update()

    def update(self, now: float | None = None, wall: float | None = None) -> None:
        """Read the assignment, apply the stall rule, set the gauges, keep a history sample."""
        now = time.monotonic() if now is None else now
        wall = time.time() if wall is None else wall
        try:
            assigned = {tp for tp in self.assignment() if tp[0] in self.totals}
        except Exception as exc:  # the consumer is being rebuilt: keep the last view
            log.debug("assignment not readable", error=f"{type(exc).__name__}: {exc}")
            assigned = self._assigned
        if assigned != self._assigned:
            self._assignment_changed.set()  # read the new partitions' offsets now
        self._assigned = assigned
        self._tracks, self.partitions = assess(
            self._tracks,
            assigned,
            _highest(self._offsets.highwater, self._received),
            _highest(self._offsets.floor, self._applied),
            now,
            self.settings.stall_seconds,
        )
        self._shown = self.metrics.show_partitions(self.partitions, self._shown)
        self.metrics.assigned.set(len(assigned))
        lags = [s.lag for s in self.partitions if s.lag is not None]
        self.history.append(
            Sample(
                wall,
                tuple(self.totals[t].consumed for t in self.topics),
                sum(self.dead_letters_by_reason.values()),
                sum(lags) if lags else None,
            )
        )

    @mode.Service.task
    async def _read_offsets_periodically(self) -> None:
        while not self.should_stop:
            self._assignment_changed.clear()
            if self._assigned:
                offsets = await self._kafka.poll(sorted(self._assigned))
                if offsets is None:
                    self.on_transient_failure("kafka")
                else:
                    self.on_offsets_read(*offsets)
            await self.wait_first(self._assignment_changed.wait(), timeout=OFFSETS_EVERY_S)

    def on_offsets_read(self, highwater: Mapping[TP, int], floor: Mapping[TP, int]) -> None:
        """Record end offsets and applied-offset floors (committed or beginning offsets)."""
        self._offsets = _Offsets(
            {**self._offsets.highwater, **highwater}, {**self._offsets.floor, **floor}
        )

    async def on_stop(self) -> None:
        self._stopping = True  # /readyz 503 and vanphong_ready 0 from here on
        await self._kafka.close()

    # --- what the endpoints show ---

    def seconds_since_last_commit(self) -> float:
        since = self._last_commit_mono if self._last_commit_mono is not None else None
        return time.monotonic() - (self._started_mono if since is None else since)

    def stalled(self) -> list[PartitionStatus]:
        return [s for s in self.partitions if s.stalled]

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``/healthz`` (streams/health.py): red while a partition is stalled or a writer fails."""
        return verdicts.health(
            stalled=self.stalled(),
            stall_seconds=self.settings.stall_seconds,
            assigned_partitions=len(self._assigned),
            seconds_since_last_commit=self.seconds_since_last_commit(),
            anomalies=self.anomalies.shown,
            anomalies_seen=self.anomalies.seen,
            failing=self._failing,
            fatal=self._fatal,
        )

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """``/readyz`` (streams/health.py): ready once the sink is connected, until the worker
        gives up on a failure or stops."""
        return verdicts.readiness(
            sink_ready=self.sink_ready,
            assigned_partitions=len(self._assigned),
            exiting=self._fatal is not None,
            stopping=self._stopping,
        )

    def overview(self) -> dict[str, Any]:
        """Everything the operator page shows, as JSON-ready data (streams/overview.py)."""
        return page.overview(
            self,
            now=time.time(),
            uptime_s=time.monotonic() - self._started_mono,
            tick_s=TICK_S,
        )


def _highest(*offsets: Mapping[TP, int]) -> dict[TP, int]:
    """Per partition, the highest of the offsets known for it."""
    out: dict[TP, int] = {}
    for known in offsets:
        for tp, offset in known.items():
            if offset > out.get(tp, -1):
                out[tp] = offset
    return out
