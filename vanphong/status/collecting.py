"""``vanphong status``'s one I/O step: ask PostgreSQL and Kafka at the same time, and join what
they say into a :class:`~vanphong.status.model.Status`, partition by partition (lag, the stall
verdict, offsets that went backwards or jumped and no worker handled yet, and per topic how far
back a restore may go: vanphong/status/retention.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from vanphong.core import lag as lag_rule
from vanphong.core.positions import Anomaly, Seen, applied_offset, pending, recreated
from vanphong.ground.settings import Settings
from vanphong.ground.unreachable import KAFKA_TIMEOUT_S, Unreachable
from vanphong.schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC, EVENT_TYPES
from vanphong.status.database import DatabaseState, read_database
from vanphong.status.kafka_state import (
    PENDING_FETCH_TIMEOUT_S,
    KafkaState,
    ask_kafka,
    pending_since,
    read_kafka,
)
from vanphong.status.model import PartitionStatus, Status, is_stalled
from vanphong.status.retention import windows


async def collect(settings: Settings) -> Status:
    """Ask PostgreSQL and Kafka; raise :class:`Unreachable` naming the one that did not answer."""
    inputs = [settings.topic(e.topic) for e in EVENT_TYPES]
    dlq_topic = settings.topic(DEAD_LETTER_TOPIC)
    db_result, kafka_result = await asyncio.gather(
        read_database(settings, inputs),
        ask_kafka(settings, read_kafka(settings, [*inputs, dlq_topic]), KAFKA_TIMEOUT_S),
        return_exceptions=True,
    )
    if isinstance(db_result, Unreachable) and isinstance(kafka_result, Unreachable):
        raise Unreachable.both(kafka_result, db_result)
    for result in (db_result, kafka_result):
        if isinstance(result, BaseException):
            raise result
    assert isinstance(db_result, DatabaseState) and isinstance(kafka_result, KafkaState)
    db, kafka = db_result, kafka_result
    contract = {settings.topic(e.topic): e.partitions for e in EVENT_TYPES}
    seen: dict[tuple[str, int], Seen] = {}
    for tp, end in kafka.ends.items():
        if tp[0] != dlq_topic:
            info = kafka.topics.get(tp[0])
            seen[tp] = Seen(
                log_start=kafka.starts.get(tp, 0),
                log_end=end,
                topic_id=info.topic_id if info is not None else None,
                partitions=kafka.counts.get(tp[0]),
                contract_partitions=contract.get(tp[0]),
            )
    # Where a waiting partition's next message to apply is, to read when it was published.
    lagging = {
        tp: max(applied_offset(db.stored.get(tp), s), kafka.starts.get(tp, 0))
        for tp, s in seen.items()
        if lag_rule.lag(s.log_end or 0, applied_offset(db.stored.get(tp), s), s.log_start or 0)
    }
    # And the oldest message each partition still holds: how far back a restore may go.
    held = {tp: s.log_start or 0 for tp, s in seen.items() if (s.log_end or 0) > (s.log_start or 0)}
    pending_at, oldest_at = await asyncio.gather(
        *(
            ask_kafka(
                settings, pending_since(settings, at), PENDING_FETCH_TIMEOUT_S + KAFKA_TIMEOUT_S
            )
            for at in (lagging, held)
        )
    )

    partitions = []
    pending_anomalies: list[Anomaly] = []
    for topic in inputs:
        for partition in range(kafka.counts.get(topic, 0)):
            tp = (topic, partition)
            applied, applied_at = db.applied.get(tp, (0, None))
            stored = db.stored.get(tp)
            now_seen = seen.get(tp, Seen())
            row = PartitionStatus(
                topic=topic,
                partition=partition,
                end_offset=kafka.ends.get(tp, 0),
                committed_offset=kafka.committed.get(tp),
                applied_offset=applied,
                applied_at=applied_at,
                pending_since=pending_at.get(tp),
                stalled=False,
                start_offset=kafka.starts.get(tp, 0),
                recreated=stored is not None and recreated(stored, now_seen),
            )
            stalled = is_stalled(
                row.lag, applied_at, pending_at.get(tp), db.now, settings.stall_seconds
            )
            partitions.append(replace(row, stalled=stalled))
            pending_anomalies.extend(pending(topic, partition, stored, now_seen))
    dlq_messages = sum(
        kafka.ends.get((dlq_topic, p), 0) - kafka.starts.get((dlq_topic, p), 0)
        for p in range(kafka.counts.get(dlq_topic, DEAD_LETTER_PARTITIONS))
    )
    return Status(
        generated_at=db.now,
        consumer_group=settings.consumer_group,
        stall_seconds=settings.stall_seconds,
        partitions=partitions,
        dead_letters=db.dead_letters,
        dead_letters_unrelayed=db.unrelayed,
        dead_letter_topic=dlq_topic,
        dead_letter_messages=dlq_messages,
        counters=db.counters,
        sink=db.sink,
        missing_topics=[t for t in [*inputs, dlq_topic] if t not in kafka.counts],
        topic_prefix=settings.topic_prefix,
        offset_anomalies=db.anomalies,
        offset_anomalies_total=db.anomalies_total,
        pending_anomalies=pending_anomalies,
        retention=windows(
            inputs,
            kafka.counts,
            kafka.starts,
            kafka.ends,
            oldest_at,
            {tp: applied for tp, (applied, _at) in db.applied.items()},
        ),
        partitions_differ={
            t: (n, contract[t])
            for t, n in kafka.counts.items()
            if t in contract and n != contract[t]
        },
    )
