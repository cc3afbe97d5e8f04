"""Offsets that go backwards or jump (issue 9 §2), on the real broker and database: a topic
deleted and created again, messages deleted by retention before they were applied, partitions
added by an operator. Each must be handled safely (nothing skipped in silence) and reported
loudly: ``core.offset_anomalies``, ``vanphong status`` (table and JSON), ``/healthz``'s body,
the metrics and the worker's log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewPartitions, NewTopic, RecordsToDelete
from aiokafka.errors import TopicAlreadyExistsError

from testkit.history import Message
from tests.conftest import Env, get, wait_for
from tests.test_transactions import by_topic, document, status_json, vanphong
from tests.verify import assert_counts_add_up, assert_views_match, model_of
from vanphong.ground.kafka import admin_client
from vanphong.schemas.catalog import BY_TYPE, EVENT_TYPES

DOCS = "document-issued.v1"


def publish(env: Env, messages: Iterable[Message], partition: int | None = None) -> None:
    """Produce in order, to ``partition`` if given (else by key)."""

    async def go() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=env.settings.kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for m in messages:
                await producer.send_and_wait(
                    env.topic(m.topic), m.value, key=m.key, partition=partition
                )
        finally:
            await producer.stop()

    asyncio.run(go())


def anomalies(env: Env) -> list[Any]:
    return env.fetch("SELECT * FROM core.offset_anomalies ORDER BY id")


def healthz(port: int) -> dict[str, Any]:
    status, text = get(port, "/healthz")
    assert status == 200, text  # reported, not red (docs/operations.md)
    body: dict[str, Any] = json.loads(text)
    return body


def metric(port: int, name: str, kind: str | None = None) -> dict[str, float]:
    status, text = get(port, "/metrics")
    assert status == 200
    if kind is not None:
        text = "\n".join(line for line in text.splitlines() if f'kind="{kind}"' in line)
    return by_topic(text, name)


def metric_value(port: int, name: str) -> float | None:
    status, text = get(port, "/metrics")
    for line in text.splitlines() if status == 200 else []:
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def worker_log(env: Env) -> str:
    return "\n".join(p.read_text() for p in env.workers.logs.glob("worker-*.log"))


def docs(tag: str, n: int, first: int = 0) -> list[Message]:
    return [document(tag, i) for i in range(first, first + n)]


def test_a_topic_deleted_and_created_again_is_read_from_its_beginning(
    env: Env,
) -> None:
    topic = env.topic(DOCS)
    env.workers.extra_env["VANPHONG_METADATA_MAX_AGE_S"] = "3"  # the new topic seen sooner
    before = docs("old", 60)
    publish(env, before)
    web = env.workers.web_port(env.workers.start())
    env.wait_caught_up()
    stored = {
        r["partition"]: r["next_offset"]
        for r in env.fetch("SELECT * FROM core.sink_offsets WHERE topic = $1", topic)
    }
    assert sum(stored.values()) == 60

    partitions = BY_TYPE["document.issued"].partitions
    total = sum(e.partitions for e in EVENT_TYPES)

    async def delete() -> None:
        async with admin_client(env.settings) as admin:
            await admin.delete_topics([topic])

    async def create() -> None:
        async with admin_client(env.settings) as admin:
            for _ in range(200):  # deletion completes in the background
                try:
                    await admin.create_topics([NewTopic(topic, partitions, 1)])
                    return
                except TopicAlreadyExistsError:
                    await asyncio.sleep(0.1)
            raise AssertionError("the topic could not be created again")

    # As an operator would: delete, and the worker lets the partitions go; then create again.
    # (Created again before the worker noticed, the topic is caught by its id within
    # VANPHONG_METADATA_MAX_AGE_S: tests/test_position_marks.py.)
    asyncio.run(delete())
    wait_for(
        lambda: metric_value(web, "vanphong_assigned_partitions") == total - partitions,
        60,
        "the worker to drop the deleted topic's partitions",
        poll_s=0.5,
    )
    asyncio.run(create())
    after = docs("new", 40)
    publish(env, after)

    done = vanphong(env, "wait", "--timeout", "180")
    assert done.returncode == 0, done.stderr + env.workers.log_tail()
    assert_views_match(env, model_of(before + after))
    assert_counts_add_up(env, before + after)

    recorded = [a for a in anomalies(env) if a["kind"] == "topic_recreated"]
    assert {a["partition"] for a in recorded if a["stored_offset"]} == {
        p for p, n in stored.items() if n
    }
    assert all(a["topic"] == topic and a["old_topic_id"] != a["new_topic_id"] for a in recorded)
    assert {a["partition"]: a["stored_offset"] for a in recorded} == stored
    doc = status_json(env)
    assert doc["offset_anomalies_pending"] == []
    assert {(a["kind"], a["partition"], a["stored_offset"]) for a in doc["offset_anomalies"]} >= {
        ("topic_recreated", p, n) for p, n in stored.items() if n
    }
    assert all(r["lag"] == 0 for r in doc["topics"])
    table = vanphong(env, "status")
    assert "topic recreated" in table.stdout and "Offset anomalies" in table.stdout

    body = healthz(web)
    assert {a["partition"] for a in body["offset_anomalies"] if a["kind"] == "topic_recreated"}
    assert "warning" in body
    assert metric(web, "vanphong_offset_anomalies_total", "topic_recreated")[topic] == len(recorded)
    assert "offset anomaly" in worker_log(env) and "deleted and created again" in worker_log(env)


def test_messages_deleted_before_they_were_applied_are_counted_as_lost_and_the_rest_applied(
    env: Env,
) -> None:
    topic = env.topic(DOCS)
    applied = docs("kept", 30)
    publish(env, applied, partition=0)
    env.workers.start()
    env.wait_caught_up()
    env.workers.stop_all()

    later = docs("later", 50, first=30)  # offsets 30–79 of partition 0
    publish(env, later, partition=0)

    async def delete_records() -> None:
        async with admin_client(env.settings) as admin:
            await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(50)})

    asyncio.run(delete_records())  # offsets 30–49 are gone, never applied

    # No worker runs: status already sees the loss, and does not wait for what is gone.
    doc = status_json(env)
    assert [(a["kind"], a["partition"], a["lost"]) for a in doc["offset_anomalies_pending"]] == [
        ("messages_lost", 0, 20)
    ]
    row = next(r for r in doc["topics"] if r["topic"] == topic and r["partition"] == 0)
    assert (row["start_offset"], row["applied_offset"], row["end_offset"], row["lag"]) == (
        50,
        30,
        80,
        30,
    )
    table = vanphong(env, "status")
    assert "NOT HANDLED YET" in table.stdout and "20 message(s) deleted" in table.stdout

    web = env.workers.web_port(env.workers.start())
    done = vanphong(env, "wait", "--timeout", "180")
    assert done.returncode == 0, done.stderr + env.workers.log_tail()
    survivors = applied + later[20:]
    assert_views_match(env, model_of(survivors))
    assert_counts_add_up(env, survivors)

    [lost] = [a for a in anomalies(env) if a["kind"] == "messages_lost"]
    assert (lost["topic"], lost["partition"], lost["stored_offset"], lost["lost"]) == (
        topic,
        0,
        30,
        20,
    )
    assert (lost["log_start"], lost["log_end"], lost["resumed_at"]) == (50, 80, 50)
    doc = status_json(env)
    assert doc["offset_anomalies_pending"] == []
    assert [(a["kind"], a["lost"]) for a in doc["offset_anomalies"]] == [("messages_lost", 20)]
    assert all(r["lag"] == 0 for r in doc["topics"])
    stored = env.fetch(
        "SELECT next_offset FROM core.sink_offsets WHERE topic = $1 AND partition = 0", topic
    )
    assert stored[0]["next_offset"] == 80

    wait_for(lambda: bool(healthz(web).get("offset_anomalies")), 30, "/healthz to list it")
    [reported] = healthz(web)["offset_anomalies"]
    assert (reported["kind"], reported["lost"], reported["stored_offset"]) == (
        "messages_lost",
        20,
        30,
    )
    assert metric(web, "vanphong_messages_lost_total")[topic] == 20
    assert "20 message(s) deleted before they were applied" in worker_log(env)


def test_added_partitions_are_consumed_from_their_start_and_reported(
    env: Env,
) -> None:
    topic = env.topic(DOCS)
    contract = BY_TYPE["document.issued"].partitions
    env.workers.extra_env["VANPHONG_METADATA_MAX_AGE_S"] = "2"
    first = docs("before", 20)
    publish(env, first)
    web = env.workers.web_port(env.workers.start())
    env.wait_caught_up()

    async def add_partitions() -> None:
        async with admin_client(env.settings) as admin:
            await admin.create_partitions({topic: NewPartitions(contract + 2)})

    asyncio.run(add_partitions())
    on_new = {contract: docs("p6", 10), contract + 1: docs("p7", 10)}
    for partition, messages in on_new.items():
        publish(env, messages, partition=partition)

    done = vanphong(env, "wait", "--timeout", "180")
    assert done.returncode == 0, done.stderr + env.workers.log_tail()
    everything = first + on_new[contract] + on_new[contract + 1]
    assert_views_match(env, model_of(everything))
    assert_counts_add_up(env, everything)
    stored = {
        r["partition"]: r["next_offset"]
        for r in env.fetch("SELECT * FROM core.sink_offsets WHERE topic = $1", topic)
    }
    assert (stored[contract], stored[contract + 1]) == (10, 10)

    added = [a for a in anomalies(env) if a["kind"] == "partitions_added"]
    assert sorted((a["partition"], a["partitions"], a["contract_partitions"]) for a in added) == [
        (contract, contract + 2, contract),
        (contract + 1, contract + 2, contract),
    ]
    doc = status_json(env)
    assert doc["partitions_differ"] == {
        topic: {"partitions": contract + 2, "contract_partitions": contract}
    }
    assert {(a["kind"], a["partition"]) for a in doc["offset_anomalies"]} == {
        ("partitions_added", contract),
        ("partitions_added", contract + 1),
    }
    table = vanphong(env, "status")
    assert f"has {contract + 2} partitions, the contract {contract}" in table.stdout
    assert {a["partition"] for a in healthz(web)["offset_anomalies"]} == {contract, contract + 1}
    assert metric(web, "vanphong_offset_anomalies_total", "partitions_added")[topic] == 2


def test_a_consumer_group_moved_ahead_of_postgresql_goes_back_and_skips_nothing(
    env: Env,
) -> None:
    """Kafka's committed offsets are not the truth: moved forward by hand while no worker runs,
    they make the consumer resume past messages that were never applied; the worker seeks back
    to PostgreSQL's offset and applies them."""
    topic = env.topic(DOCS)
    first = docs("first", 20)
    publish(env, first)
    env.workers.start()
    env.wait_caught_up()
    env.workers.stop_all()
    later = docs("later", 30, first=20)
    publish(env, later)

    async def skip_to_the_end() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=env.settings.kafka_bootstrap,
            group_id=env.settings.consumer_group,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(BY_TYPE["document.issued"].partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.commit({tp: ends[tp] for tp in tps})
        finally:
            await consumer.stop()

    asyncio.run(skip_to_the_end())
    env.workers.start()
    done = vanphong(env, "wait", "--timeout", "180")
    assert done.returncode == 0, done.stderr + env.workers.log_tail()
    assert_views_match(env, model_of(first + later))
    assert_counts_add_up(env, first + later)
    assert "consumer ahead of PostgreSQL, going back" in worker_log(env)
    assert env.fetch("SELECT * FROM core.sink_offsets WHERE rewind_to IS NOT NULL") == []
    assert anomalies(env) == []  # a repair, not a loss
