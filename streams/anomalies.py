"""The worker's record of offset anomalies: made loud once, then listed until it exits.

Apart from the monitor (streams/monitor.py) because anomalies are rare events with a life of
their own, not per-batch counts: vanphong/core/positions.py detects them (a recreated topic,
messages lost to retention, added partitions, a database that went back in time), and each one
is logged with its numbers, counted (``vanphong_offset_anomalies_total``,
``vanphong_messages_lost_total``, ``vanphong_messages_reread_total``) and kept for
``/healthz``'s body and the page (streams/health.py, streams/overview.py), which stay 200: a
restart would not undo them (docs/operations.md).
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

from vanphong.core.positions import ANOMALIES_SHOWN, Anomaly
from vanphong.ground.logs import get_logger
from vanphong.streams.metrics import Metrics

log = get_logger("vanphong.monitor")


class OffsetAnomalies:
    """The last :data:`ANOMALIES_SHOWN` anomalies (``shown``) and how many there were (``seen``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.shown: deque[dict[str, Any]] = deque(maxlen=ANOMALIES_SHOWN)
        self.seen = 0

    def record(self, anomaly: Anomaly) -> None:
        """Make a detection loud: a log line with its numbers, the metrics, ``/healthz``."""
        self.metrics.anomalies.labels(anomaly.topic, anomaly.kind).inc()
        if anomaly.lost:
            self.metrics.lost.labels(anomaly.topic).inc(anomaly.lost)
        if anomaly.reread:
            self.metrics.reread.labels(anomaly.topic).inc(anomaly.reread)
        self.seen += 1
        detected_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.shown.append({**anomaly.as_json(), "detected_at": detected_at})
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
            reread=anomaly.reread,
            old_topic_id=anomaly.old_topic_id,
            new_topic_id=anomaly.new_topic_id,
            partitions=anomaly.partitions,
            contract_partitions=anomaly.contract_partitions,
        )
