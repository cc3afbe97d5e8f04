"""``vanphong status``: how far the sink is behind each input partition, what was dead-lettered,
and when the sink last committed (CONTRACT.md §8; docs/operations.md, "Status").

Two offsets per partition are reported. ``applied_offset`` is PostgreSQL's truth
(``core.sink_offsets``: the next offset to apply, committed with the batch that applied the
ones before), and ``lag`` = ``end_offset`` − ``applied_offset``. ``committed_offset`` is what
the consumer group ``<prefix>-worker`` committed to Kafka; faust commits after PostgreSQL does,
so it may trail ``applied_offset`` and is shown for operators who watch the group with Kafka's
own tools.

Lag and the stall rule are vanphong/core/lag.py's, the same as the worker's ``/healthz`` and page
apply: lag counts neither offsets without a record (transaction markers, aborted records: the
end offsets are read ``read_committed``) nor messages that retention deleted before they were
applied. A partition is *stalled* when it has lag and nothing was applied from it for
``VANPHONG_STALL_SECONDS`` while work was waiting: see :func:`is_stalled`.

Offsets that went backwards or jumped (vanphong/core/positions.py) are shown twice: what workers
detected and recorded (``core.offset_anomalies``), and what Kafka and PostgreSQL disagree on now
and no worker has handled yet (a topic created again, messages lost, more partitions than the
contract's). And per topic, how far back in time the database may go (a failover, a restored
backup) before Kafka can no longer refill it (``retention``).

The package keeps the jobs apart: ``model`` (the data, pure), ``database`` and ``kafka_state``
(what each one says), ``collecting`` (:func:`collect`, joining the two), ``retention`` and
``rendering`` (:func:`render`), both pure; ``caught_up`` is the shorter question ``vanphong
wait``, ``make run`` and the tests ask (is every published message applied?). The errors for a
service that does not answer live in vanphong/ground/unreachable.py, which ``vanphong dlq``
shares: neither command borrows from the other.
"""

from vanphong.core.positions import ANOMALIES_SHOWN
from vanphong.status.collecting import collect
from vanphong.status.model import (
    PartitionStatus,
    RecordedAnomaly,
    SinkStatus,
    Status,
    TopicCounters,
    is_stalled,
)
from vanphong.status.rendering import ago, render

__all__ = [
    "ANOMALIES_SHOWN",
    "PartitionStatus",
    "RecordedAnomaly",
    "SinkStatus",
    "Status",
    "TopicCounters",
    "ago",
    "collect",
    "is_stalled",
    "render",
]
