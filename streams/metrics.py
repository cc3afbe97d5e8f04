"""The worker's Prometheus metrics: every series ``/metrics`` shows, defined in one place.

Apart from the monitor (streams/monitor.py) because the definitions are long and change for their
own reasons (a new series, a bucket, a help text), while the monitor's bookkeeping stays put. The
label values are fixed here too, so that every series exists from the start and ``rate()`` sees
the first events.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from vanphong.core.lag import TP, PartitionStatus
from vanphong.core.positions import KINDS
from vanphong.core.rejection import Reason

OUTCOMES = ("applied", "unchanged", "dead_lettered")
TRANSIENT_KINDS = ("database", "kafka", "dead_letter_relay", "schema_registry")
#: Retries of a batch's write, by kind (streams/write_policy.py): the database unavailable (retried
#: without end), two writers racing (within VANPHONG_CONTENTION_RETRIES), a deterministic
#: failure that is the system's (within VANPHONG_FAULT_RETRIES, then the worker exits); and
#: batches split to find a message the database refuses (vanphong/core/safetynet.py).
RETRY_KINDS = ("unavailable", "contention", "fault", "bisect")


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
            "vanphong_ready",
            "1 while /readyz is 200: the sink connected and the group joined, the worker neither"
            " giving up on a failure nor stopping; 0 otherwise (it follows readiness both ways).",
            registry=r,
        )
        self.start_time = Gauge(
            "vanphong_start_time_seconds",
            "When this worker's process started, in seconds since the Unix epoch: changes() over"
            " it counts restarts (deploy/production/prometheus/alerts.yml's VanphongBatchFailing).",
            registry=r,
        )
        self.start_time.set(time.time())
        self.transient = Counter(
            "vanphong_transient_failures_total",
            "Transient failures, retried: database (a batch or the sink's start), kafka (offsets"
            " for the lag), dead_letter_relay (sending the dead-letter outbox), schema_registry"
            " (looking up the writer schema of a Confluent-framed message).",
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
            " retention before they were applied), partitions_added (beyond the contract),"
            " database_behind (PostgreSQL went back in time: failover, restore; read again).",
            ["topic", "kind"],
            registry=r,
        )
        self.lost = Counter(
            "vanphong_messages_lost_total",
            "Messages deleted from Kafka (retention) before they were applied, per topic.",
            ["topic"],
            registry=r,
        )
        self.reread = Counter(
            "vanphong_messages_reread_total",
            "Messages read again from Kafka because PostgreSQL had lost them (it went back in"
            " time: a failover to a standby that lacked the last commits, a restore), per topic.",
            ["topic"],
            registry=r,
        )
        for topic in topics:
            self.lost.labels(topic)
            self.reread.labels(topic)
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
        self._batch_series_of: dict[str, tuple[Any, ...]] = {}
        self.failed = Gauge(
            "vanphong_failed",
            "1 while a writer retries a deterministic failure of the system's, or once the"
            " worker gave up on one and is exiting.",
            registry=r,
        )

    def count_batch(
        self,
        topic: str,
        consumed: int,
        outcomes: tuple[int, int, int],
        redelivered: int,
        seconds: float,
    ) -> None:
        """One committed batch's messages of ``topic``: ``outcomes`` in :data:`OUTCOMES` order,
        ``seconds`` its write and commit."""
        (c_consumed, c_applied, c_unchanged, c_dead, c_redelivered, h_size, h_commit) = (
            self._batch_series(topic)
        )
        applied, unchanged, rejected = outcomes
        c_consumed.inc(consumed)
        c_applied.inc(applied)
        c_unchanged.inc(unchanged)
        c_dead.inc(rejected)
        c_redelivered.inc(redelivered)
        h_size.observe(consumed)
        h_commit.observe(seconds)

    def _batch_series(self, topic: str) -> tuple[Any, ...]:
        """The series a batch of ``topic`` touches, looked up once (``labels()`` is not free)."""
        children = self._batch_series_of.get(topic)
        if children is None:
            children = self._batch_series_of[topic] = (
                self.consumed.labels(topic),
                *(self.events.labels(topic, outcome) for outcome in OUTCOMES),
                self.redelivered.labels(topic),
                self.batch_size.labels(topic),
                self.commit_seconds.labels(topic),
            )
        return children

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
