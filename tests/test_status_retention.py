"""``vanphong status``: how far back in time the database may go before Kafka can no longer
refill it (vanphong/status/retention.py): the oldest message each partition still holds,
read from the record at its log start, against the offset PostgreSQL stores."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import RecordsToDelete

from testkit.history import to_message
from tests.conftest import VANPHONG, Env
from vanphong.ground.kafka import admin_client, kafka_client_kwargs
from vanphong.status.retention import PartitionRetention, TopicRetention, windows

T0 = datetime(2026, 11, 30, 8, 12, tzinfo=UTC)
DOCS = "vp.document-issued.v1"


def part(p: int, start: int, end: int, oldest: datetime | None, applied: int) -> PartitionRetention:
    return PartitionRetention(p, start, end, oldest, applied)


@pytest.mark.parametrize(
    ("partitions", "holds_from", "everything", "emptied", "says"),
    [
        (
            [part(0, 0, 10, T0, 10), part(1, 0, 0, None, 0)],
            None,
            True,
            (),
            "a restore of any age is refilled",
        ),
        (  # the partition whose retention deleted the most recent past limits the topic
            [part(0, 5, 10, T0, 10), part(1, 9, 12, T0 + timedelta(days=2), 12)],
            T0 + timedelta(days=2),
            False,
            (),
            "Kafka holds from 2026-12-02 08:12 UTC; a restore older than that loses messages",
        ),
        (
            [part(0, 0, 10, T0, 10), part(1, 7, 7, None, 7)],
            None,
            False,
            (1,),
            "retention emptied partition(s) 1",
        ),
    ],
)
def test_a_topic_says_how_far_back_a_restore_may_go(
    partitions: list[PartitionRetention],
    holds_from: datetime | None,
    everything: bool,
    emptied: tuple[int, ...],
    says: str,
) -> None:
    topic = TopicRetention(DOCS, tuple(partitions))
    assert topic.holds_from == holds_from
    assert topic.holds_everything is everything
    assert topic.emptied == emptied
    assert says in topic.describe()
    doc = topic.as_json()
    assert doc["kafka_holds_from"] == (holds_from.isoformat() if holds_from else None)
    json.dumps(doc)


def test_applied_messages_kafka_no_longer_holds_are_negative_refillable() -> None:
    [topic] = windows(
        [DOCS, "vp.missing.v1"],
        {DOCS: 1},
        {(DOCS, 0): 50},
        {(DOCS, 0): 80},
        {(DOCS, 0): T0},
        {(DOCS, 0): 30},
    )
    assert topic.partitions[0].refillable == -20


def test_status_reads_when_the_oldest_kept_message_was_published(env: Env) -> None:
    """Messages published an hour apart; retention (DeleteRecords) removes the first two of
    partition 0: Kafka then holds that partition from the third message's time on."""
    topic = env.topic("document-issued.v1")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=10)
    events = [
        {
            "type": "document.issued",
            "document_id": f"d{i}",
            "unit_id": "vptu",
            "number": f"{i + 1}-KH/TU",
            "doc_type": "KE_HOACH",
            "issuing_organ": "BTV Tỉnh ủy",
            "title": "Kế hoạch",
            "appraised": True,
            "secrecy": "NONE",
            "urgency": "NONE",
            "event_id": f"e{i}",
            "occurred_at": "2026-11-30T01:00:00Z",
            "source": "test",
        }
        for i in range(5)
    ]

    async def publish_and_delete() -> None:
        producer = AIOKafkaProducer(**kafka_client_kwargs(env.settings), acks="all")
        await producer.start()
        try:
            for i, e in enumerate(events):
                m = to_message(e)
                at = int((base + timedelta(hours=i)).timestamp() * 1000)
                await producer.send_and_wait(
                    topic, m.value, key=m.key, partition=0, timestamp_ms=at
                )
        finally:
            await producer.stop()
        async with admin_client(env.settings) as admin:
            await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(2)})

    asyncio.run(publish_and_delete())
    env.workers.start()
    env.wait_caught_up()

    result = subprocess.run(
        [str(VANPHONG), "status", "--json"],
        env=env.workers.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    [documents] = [r for r in json.loads(result.stdout)["retention"] if r["topic"] == topic]
    assert not documents["holds_everything"]
    assert documents["kafka_holds_from"] == (base + timedelta(hours=2)).isoformat()
    first = documents["partitions"][0]
    assert (first["log_start"], first["log_end"], first["applied_offset"]) == (2, 5, 5)
    assert first["refillable"] == 3
    text = subprocess.run(
        [str(VANPHONG), "status"],
        env=env.workers.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    when = (base + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    assert f"Kafka holds from {when} UTC" in " ".join(text.stdout.split())
