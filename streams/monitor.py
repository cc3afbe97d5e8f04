"""What the worker is doing: Prometheus metrics, stall detection, and the operator page's data.

Lifecycle: :class:`Monitor` is a :class:`mode.Service` that the worker starts before the faust
app and stops after it, so ``/healthz`` answers while the app joins the group or waits for
Kafka. It learns from three sources:

* **Batches.** ``Runtime.write`` calls :meth:`Monitor.on_batch_committed` once per committed
  batch (never per event; a batch spans topics, the series are per topic): counters,
  histograms, the last commit time, and the next offset per partition that the batch settled.
  That is the worker's *applied* offset, in memory.
* **Assignment.** Once a second, :meth:`Monitor.update` reads the partitions this worker owns
  (from faust's consumer, through the ``assignment`` callable the app installs).
* **Kafka offsets.** Every :data:`OFFSETS_EVERY_S`, a standalone aiokafka consumer and admin
  client (outside the group) read the end offsets, the beginning offsets and the group's
  committed offsets of the assigned partitions. End offsets, not faust's
  ``consumer.highwater(tp)``: that one is only the highwater of the last fetch response, unknown
  for a partition not fetched yet and frozen while faust pauses a partition whose stream buffer
  is full, which is what a hanging worker looks like. The committed offset (or the beginning
  offset when the group has none) is a floor under the applied offset: it makes a partition
  that was just assigned, and has applied nothing yet, measurable. Commits trail PostgreSQL by
  at most ``broker_commit_interval``, because the worker commits to Kafka only what the sink
  has committed.

The stall rule and lag are the pure ones of vanphong/lag.py (:func:`~vanphong.lag.assess`),
the same as ``vanphong status`` applies; everything else here is bookkeeping around them. End
offsets are read ``read_committed``: last stable offsets, so an open transaction is no lag.

**Offset anomalies.** A committed batch's plan carries what its position marks detected
(vanphong/positions.py: a recreated topic, messages lost to retention, added partitions): each
is logged with its numbers, counted (``vanphong_offset_anomalies_total``,
``vanphong_messages_lost_total``) and listed in ``/healthz``'s body and on the page, and
``/healthz`` stays 200 (docs/operations.md says why). A plan that asks for a rewind is passed on
to the consumer (``rewind``, installed by the app).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from schemas.catalog import EVENT_TYPES
from vanphong.batch import Plan
from vanphong.kafka import ISOLATION_LEVEL
from vanphong.lag import PartitionStatus, Track, assess  # shared with `vanphong status`
from vanphong.logs import get_logger
from vanphong.positions import KINDS, Anomaly
from vanphong.rejection import Reason
from vanphong.settings import Settings

log = get_logger("vanphong.monitor")

TP = tuple[str, int]

#: How often the assignment is read and the stall rule applied.
TICK_S = 1.0
#: How often end, beginning and committed offsets are read from Kafka.
OFFSETS_EVERY_S = 2.0
#: A Kafka offsets request that takes longer than this counts as a failure.
OFFSETS_TIMEOUT_S = 10.0
#: The operator page's history: one sample per tick, five minutes.
HISTORY_SAMPLES = 300
#: The page's charts use one point per this many samples.
SERIES_STEP = 5
#: The "now" rate is measured over this many samples.
RATE_WINDOW = 10
#: Offset anomalies kept for ``/healthz`` and the page (the database keeps them all).
ANOMALIES_SHOWN = 20

OUTCOMES = ("applied", "unchanged", "dead_lettered")
TRANSIENT_KINDS = ("database", "kafka", "dead_letter_relay")
#: Retries of a batch's write, by kind (streams/app.py): the database unavailable (retried
#: without end), two writers racing (within VANPHONG_CONTENTION_RETRIES), a deterministic
#: failure that is the system's (within VANPHONG_FAULT_RETRIES, then the worker exits); and
#: batches split to find a message the database refuses (vanphong/safetynet.py).
RETRY_KINDS = ("unavailable", "contention", "fault", "bisect")


# --- metrics --------------------------------------------------------------------------------


class Metrics:
    """The worker's Prometheus metrics, in a registry of their own (``/metrics`` shows these)."""

    def __init__(self, topics: Iterable[str]) -> None:
        # No "<name>_created" series: they double /metrics and no dashboard here uses them.
        # (A process-wide switch; the worker's process has no other metrics.)
        disable_created_metrics()
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.consumed = Counter(
            "vanphong_events_consumed_total",
            "Input messages settled by this worker: applied, unchanged, dead-lettered, or"
            " redelivered (already applied before).",
            ["topic"],
            registry=r,
        )
        self.events = Counter(
            "vanphong_events_total",
            "Input messages by outcome (applied, unchanged, dead_lettered); per topic they add up"
            " to the messages consumed, redeliveries aside (CONTRACT.md §6).",
            ["topic", "outcome"],
            registry=r,
        )
        self.redelivered = Counter(
            "vanphong_events_redelivered_total",
            "Messages redelivered after a crash or rebalance, already applied: the sink drops"
            " them.",
            ["topic"],
            registry=r,
        )
        self.dead_letters = Counter(
            "vanphong_dead_letters_total",
            "Messages dead-lettered, by source topic and reason.",
            ["topic", "reason"],
            registry=r,
        )
        self.batch_size = Histogram(
            "vanphong_batch_size",
            "Messages per committed batch.",
            ["topic"],
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "vanphong_commit_seconds",
            "Time to write and commit one batch in PostgreSQL (the attempt that succeeded).",
            ["topic"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.lag = Gauge(
            "vanphong_lag",
            "Messages not yet applied, per partition assigned to this worker"
            " (end offset − applied next offset).",
            ["topic", "partition"],
            registry=r,
        )
        self.waiting = Gauge(
            "vanphong_partition_waiting_seconds",
            "How long a partition with lag has made no progress (0 without lag).",
            ["topic", "partition"],
            registry=r,
        )
        self.stalled = Gauge(
            "vanphong_partition_stalled",
            "1 when the partition has lag and no progress for VANPHONG_STALL_SECONDS, else 0.",
            ["topic", "partition"],
            registry=r,
        )
        self.since_commit = Gauge(
            "vanphong_seconds_since_last_commit",
            "Seconds since this worker last committed a batch (since it started, before that).",
            registry=r,
        )
        self.assigned = Gauge(
            "vanphong_assigned_partitions",
            "Input partitions assigned to this worker.",
            registry=r,
        )
        self.ready = Gauge(
            "vanphong_ready", "1 once the sink is connected and the group joined.", registry=r
        )
        self.transient = Counter(
            "vanphong_transient_failures_total",
            "Transient failures, retried: database (a batch or the sink's start), kafka (offsets"
            " for the lag), dead_letter_relay (sending the dead-letter outbox).",
            ["kind"],
            registry=r,
        )
        for topic in topics:  # every series from the start, so rate() sees the first events
            self.consumed.labels(topic)
            self.redelivered.labels(topic)
            for outcome in OUTCOMES:
                self.events.labels(topic, outcome)
            for reason in Reason:
                self.dead_letters.labels(topic, str(reason))
        for kind in TRANSIENT_KINDS:
            self.transient.labels(kind)
        self.anomalies = Counter(
            "vanphong_offset_anomalies_total",
            "Offsets that went backwards or jumped, detected by this worker, by topic and kind:"
            " topic_recreated (read again from its beginning), messages_lost (deleted by"
            " retention before they were applied), partitions_added (beyond the contract).",
            ["topic", "kind"],
            registry=r,
        )
        self.lost = Counter(
            "vanphong_messages_lost_total",
            "Messages deleted from Kafka (retention) before they were applied, per topic.",
            ["topic"],
            registry=r,
        )
        for topic in topics:
            self.lost.labels(topic)
            for kind in KINDS:
                self.anomalies.labels(topic, kind)
        self.retries = Counter(
            "vanphong_write_retries_total",
            "Batch writes tried again, by kind: unavailable (database down, retried without end),"
            " contention (two writers raced, within a budget), fault (a deterministic failure of"
            " the system's, within a budget, then the worker exits), bisect (a batch split to"
            " find the message the database refuses).",
            ["kind"],
            registry=r,
        )
        for kind in RETRY_KINDS:
            self.retries.labels(kind)
        self.failed = Gauge(
            "vanphong_failed",
            "1 while a writer retries a deterministic failure of the system's, or once the"
            " worker gave up on one and is exiting.",
            registry=r,
        )

    def show_partitions(self, statuses: Iterable[PartitionStatus], shown: set[TP]) -> set[TP]:
        """Set the per-partition gauges; drop those of partitions no longer assigned."""
        now_shown: set[TP] = set()
        for s in statuses:
            labels = (s.topic, str(s.partition))
            if s.lag is not None:
                self.lag.labels(*labels).set(s.lag)
            self.waiting.labels(*labels).set(s.waiting_s)
            self.stalled.labels(*labels).set(1 if s.stalled else 0)
            now_shown.add((s.topic, s.partition))
        for topic, partition in shown - now_shown:
            for gauge in (self.lag, self.waiting, self.stalled):
                with contextlib.suppress(KeyError):
                    gauge.remove(topic, str(partition))
        return now_shown


# --- the monitor ----------------------------------------------------------------------------


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


@dataclass
class _KafkaClients:
    consumer: AIOKafkaConsumer
    admin: AIOKafkaAdminClient


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
        #: Installed by the app: seek the consumer to these offsets (vanphong/positions.py).
        self.rewind: Callable[[Mapping[TP, int]], None] = _no_rewind
        self.anomalies: deque[dict[str, Any]] = deque(maxlen=ANOMALIES_SHOWN)
        self.anomalies_seen = 0
        self.sink_ready = False
        self.totals = {t: TopicTotals() for t in self.topics}
        self.dead_letters_by_reason: dict[str, int] = {}
        self.partitions: list[PartitionStatus] = []
        self.history: deque[Sample] = deque(maxlen=HISTORY_SAMPLES)
        self._started_mono = time.monotonic()
        self._last_commit_mono: float | None = None
        self._last_commit_wall: float | None = None
        self._applied: dict[TP, int] = {}  # next offsets after committed batches
        self._received: dict[TP, int] = {}  # next offsets after batches taken, maybe not written
        self._offsets = _Offsets()
        self._assigned: set[TP] = set()
        self._assignment_changed = asyncio.Event()
        self._tracks: dict[TP, Track] = {}
        self._shown: set[TP] = set()
        self._kafka: _KafkaClients | None = None
        self._kafka_failing = False
        self._batch_series_of: dict[str, tuple[Any, ...]] = {}
        self._failing: dict[int, dict[str, Any]] = {}  # writer → the failure it retries
        self._fatal: dict[str, Any] | None = None  # the failure the worker exits on
        self.metrics.since_commit.set_function(self.seconds_since_last_commit)

    # --- hooks from the worker (cheap: once per batch) ---

    def on_sink_ready(self, worker_id: str) -> None:
        self.sink_ready = True
        self.worker_id = worker_id
        self.metrics.ready.set(1)

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
        marks (vanphong/batch.py) are not messages: ``plan.marks`` are taken off ``consumed``."""
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
        self._last_commit_wall = time.time()

    def _count_topic(self, topic: str, consumed: int, plan: Plan, seconds: float) -> None:
        (c_consumed, c_applied, c_unchanged, c_dead, c_redelivered, h_size, h_commit) = (
            self._batch_series(topic)
        )
        applied, unchanged = plan.applied.get(topic, 0), plan.unchanged.get(topic, 0)
        rejected, redelivered = plan.rejected.get(topic, 0), plan.redelivered.get(topic, 0)
        totals = self.totals.setdefault(topic, TopicTotals())
        totals.consumed += consumed
        totals.applied += applied
        totals.unchanged += unchanged
        totals.dead_lettered += rejected
        totals.redelivered += redelivered
        c_consumed.inc(consumed)
        c_applied.inc(applied)
        c_unchanged.inc(unchanged)
        c_dead.inc(rejected)
        c_redelivered.inc(redelivered)
        h_size.observe(consumed)
        h_commit.observe(seconds)

    def _on_positions(self, plan: Plan) -> None:
        """Offset anomalies and rewinds of a committed batch (module docstring). A topic that
        was read again from its beginning has a lower applied offset now than before."""
        for anomaly in plan.anomalies:
            self.on_anomaly(anomaly)
            if anomaly.kind == "topic_recreated":
                tp = (anomaly.topic, anomaly.partition)
                row = plan.positions.get(tp)
                self._applied[tp] = self._received[tp] = 0 if row is None else row.next_offset
                self._offsets.floor.pop(tp, None)
                self._offsets.highwater.pop(tp, None)
        if plan.rewinds:
            self.rewind(plan.rewinds)

    def on_anomaly(self, anomaly: Anomaly) -> None:
        """Make a detection loud: a log line with its numbers, the metrics, ``/healthz``."""
        self.metrics.anomalies.labels(anomaly.topic, anomaly.kind).inc()
        if anomaly.lost:
            self.metrics.lost.labels(anomaly.topic).inc(anomaly.lost)
        self.anomalies_seen += 1
        detected_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.anomalies.append({**anomaly.as_json(), "detected_at": detected_at})
        log.warning(
            f"offset anomaly: {anomaly.describe()}",
            kind=anomaly.kind,
            topic=anomaly.topic,
            partition=anomaly.partition,
            stored_offset=anomaly.stored_offset,
            resumed_at=anomaly.resumed_at,
            log_start=anomaly.log_start,
            log_end=anomaly.log_end,
            lost=anomaly.lost,
            old_topic_id=anomaly.old_topic_id,
            new_topic_id=anomaly.new_topic_id,
            partitions=anomaly.partitions,
            contract_partitions=anomaly.contract_partitions,
        )

    def on_transient_failure(self, kind: str) -> None:
        self.metrics.transient.labels(kind).inc()

    def on_retry(self, kind: str) -> None:
        """A batch's write is tried again (``RETRY_KINDS``)."""
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

    def _batch_series(self, topic: str) -> tuple[Any, ...]:
        children = self._batch_series_of.get(topic)
        if children is None:
            m = self.metrics
            children = self._batch_series_of[topic] = (
                m.consumed.labels(topic),
                *(m.events.labels(topic, outcome) for outcome in OUTCOMES),
                m.redelivered.labels(topic),
                m.batch_size.labels(topic),
                m.commit_seconds.labels(topic),
            )
        return children

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
                try:
                    await asyncio.wait_for(
                        self.read_offsets(sorted(self._assigned)), OFFSETS_TIMEOUT_S
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._on_kafka_failure(exc)
                    await self._close_kafka()
                else:
                    if self._kafka_failing:
                        log.info("kafka offsets readable again")
                    self._kafka_failing = False
            await self.wait_first(self._assignment_changed.wait(), timeout=OFFSETS_EVERY_S)

    async def read_offsets(self, assigned: list[TP]) -> None:
        """Read end, beginning and the group's committed offsets of ``assigned``."""
        kafka = await self._kafka_clients()
        tps = [TopicPartition(t, p) for t, p in assigned]
        ends = await kafka.consumer.end_offsets(tps)
        begins = await kafka.consumer.beginning_offsets(tps)
        committed = await kafka.admin.list_consumer_group_offsets(
            self.settings.consumer_group, partitions=tps
        )
        floor: dict[TP, int] = {}
        for tp in tps:
            meta = committed.get(tp)
            start = begins[tp]
            floor[(tp.topic, tp.partition)] = (
                max(meta.offset, start) if meta is not None and meta.offset >= 0 else start
            )
        self.on_offsets_read({(tp.topic, tp.partition): o for tp, o in ends.items()}, floor)

    def on_offsets_read(self, highwater: Mapping[TP, int], floor: Mapping[TP, int]) -> None:
        """Record end offsets and applied-offset floors (committed or beginning offsets)."""
        self._offsets = _Offsets(
            {**self._offsets.highwater, **highwater}, {**self._offsets.floor, **floor}
        )

    def _on_kafka_failure(self, exc: BaseException) -> None:
        self.on_transient_failure("kafka")
        if not self._kafka_failing:  # once per outage, not every two seconds
            log.warning("kafka offsets not readable, lag is stale", error=_describe(exc))
        self._kafka_failing = True

    async def _kafka_clients(self) -> _KafkaClients:
        if self._kafka is None:
            bootstrap = self.settings.kafka_bootstrap
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=None,
                enable_auto_commit=False,
                isolation_level=ISOLATION_LEVEL,  # end offsets: the last stable offsets
            )
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            self._kafka = _KafkaClients(consumer, admin)
            await consumer.start()
            await asyncio.sleep(0)  # aiokafka 0.14: let start()'s task run (see vanphong.kafka)
            await admin.start()
        return self._kafka

    async def _close_kafka(self) -> None:
        kafka, self._kafka = self._kafka, None
        if kafka is None:
            return
        for close in (kafka.consumer.stop, kafka.admin.close):
            try:
                await close()
            except (Exception, asyncio.CancelledError) as exc:  # closing half-open clients
                log.debug("closing a kafka client failed", error=_describe(exc))

    async def on_stop(self) -> None:
        await self._close_kafka()

    # --- what the endpoints show ---

    def seconds_since_last_commit(self) -> float:
        since = self._last_commit_mono if self._last_commit_mono is not None else None
        return time.monotonic() - (self._started_mono if since is None else since)

    def stalled(self) -> list[PartitionStatus]:
        return [s for s in self.partitions if s.stalled]

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``/healthz``: healthy unless a partition is stalled, or a writer fails
        deterministically (retrying within its budget, or giving up)."""
        stalled = self.stalled()
        body: dict[str, Any] = {
            "status": "stalled" if stalled else "ok",
            "stall_seconds": self.settings.stall_seconds,
            "assigned_partitions": len(self._assigned),
            "seconds_since_last_commit": round(self.seconds_since_last_commit(), 1),
        }
        if self.anomalies:  # reported, not red: a restart would not undo them (module docstring)
            body["offset_anomalies"] = list(self.anomalies)
            body["warning"] = (
                f"{self.anomalies_seen} offset anomal{'y' if self.anomalies_seen == 1 else 'ies'}"
                " detected since the worker started (recreated topics, lost messages, added"
                " partitions); see offset_anomalies and `vanphong status`"
            )
        if stalled:
            body["reason"] = (
                f"{len(stalled)} partition(s) with lag and no progress for at least"
                f" {self.settings.stall_seconds:g} s: "
                + ", ".join(f"{s.topic}[{s.partition}]" for s in stalled)
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
        failure = (
            self._fatal if self._fatal is not None else next(iter(self._failing.values()), None)
        )
        if failure is not None:  # a deterministic failure (streams/app.py): red at once
            body["status"] = "failed" if self._fatal is not None else "failing"
            body["failure"] = failure
            said = (
                "the worker gives up and exits"
                if self._fatal is not None
                else "a write fails and is retried within VANPHONG_FAULT_RETRIES"
            )
            body["reason"] = f"{said}: {failure.get('error', '?')}" + (
                f"; {body['reason']}" if stalled else ""
            )
        return not stalled and failure is None, body

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """``/readyz``: ready once the sink is connected (which the app only starts after its
        first rebalance, so the group is joined by then); the assignment may be empty."""
        body: dict[str, Any] = {
            "status": "ready" if self.sink_ready else "starting",
            "sink_connected": self.sink_ready,
            "assigned_partitions": len(self._assigned),
        }
        if not self.sink_ready:
            body["reason"] = "waiting for the consumer group and the PostgreSQL sink"
        return self.sink_ready, body

    def overview(self) -> dict[str, Any]:
        """Everything the operator page shows, as JSON-ready data."""
        healthy, health = self.health()
        by_topic: dict[str, list[PartitionStatus]] = {t: [] for t in self.topics}
        for s in self.partitions:
            by_topic.setdefault(s.topic, []).append(s)
        rates = self._recent_rates()
        topics = []
        for i, topic in enumerate(self.topics):
            lags = [s.lag for s in by_topic[topic] if s.lag is not None]
            topics.append(
                {
                    "topic": topic,
                    "name": self.short_names.get(topic, topic),
                    "partitions": self.partition_counts.get(topic),
                    "assigned": len(by_topic[topic]),
                    "rate": rates[i],
                    "lag": sum(lags) if lags else None,
                    **asdict(self.totals[topic]),
                }
            )
        return {
            "worker": self.worker_id,
            "prefix": self.settings.topic_prefix,
            "group": self.settings.consumer_group,
            "now": time.time(),
            "uptime_s": round(time.monotonic() - self._started_mono, 1),
            "ready": self.sink_ready,
            "healthy": healthy,
            "health": health,
            "stall_seconds": self.settings.stall_seconds,
            "seconds_since_last_commit": round(self.seconds_since_last_commit(), 1),
            "last_commit_at": self._last_commit_wall,
            "topics": topics,
            "partitions": [
                {**asdict(s), "name": self.short_names.get(s.topic, s.topic)}
                for s in self.partitions
            ],
            "dead_letters": [
                {"reason": r, "count": n}
                for r, n in sorted(self.dead_letters_by_reason.items(), key=lambda x: -x[1])
            ],
            "offset_anomalies": list(self.anomalies),
            "series": self._series(),
        }

    def _recent_rates(self) -> list[float]:
        """Events per second per topic over the last :data:`RATE_WINDOW` samples."""
        if len(self.history) < 2:
            return [0.0] * len(self.topics)
        last = self.history[-1]
        first = self.history[max(0, len(self.history) - 1 - RATE_WINDOW)]
        span = max(last.at - first.at, 1e-9)
        return [
            round((b - a) / span, 1) for a, b in zip(first.consumed, last.consumed, strict=True)
        ]

    def _series(self) -> dict[str, Any]:
        """The history, one point per :data:`SERIES_STEP` samples, newest last."""
        samples = list(self.history)[::-1][::SERIES_STEP][::-1]
        times, dead, lag = [], [], []
        rates: dict[str, list[float]] = {self.short_names[t]: [] for t in self.topics}
        for before, after in itertools.pairwise(samples):
            span = max(after.at - before.at, 1e-9)
            times.append(round(after.at, 3))
            for name, a, b in zip(rates, before.consumed, after.consumed, strict=True):
                rates[name].append(round((b - a) / span, 2))
            dead.append(round((after.dead_letters - before.dead_letters) / span, 3))
            lag.append(after.lag)
        return {
            "step_s": SERIES_STEP * TICK_S,
            "t": times,
            "rates": rates,
            "dead_letters": dead,
            "lag": lag,
        }


def _highest(*offsets: Mapping[TP, int]) -> dict[TP, int]:
    """Per partition, the highest of the offsets known for it."""
    out: dict[TP, int] = {}
    for known in offsets:
        for tp, offset in known.items():
            if offset > out.get(tp, -1):
                out[tp] = offset
    return out


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
