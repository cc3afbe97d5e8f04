"""Producers that publish inside Kafka transactions (issue 9 §1): only committed records count,
and transaction markers (offsets without a record) are no backlog and no stall.

The unit tests guard the aiokafka and faust internals that streams/transport.py relies on to
read ``read_committed`` and to see the consumer's position move past markers; the integration
test runs a real transactional producer against a real worker.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import uuid
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer.fetcher import Fetcher, FetchResult, PartitionRecords
from aiokafka.consumer.subscription_state import TopicPartitionState
from faust.transport.drivers import aiokafka as faust_aiokafka

from testkit.history import Message, to_message
from tests.conftest import VANPHONG, Env, get, wait_for
from tests.test_observability import all_lags_known_and_zero
from tests.verify import assert_counts_add_up, assert_views_match, model_of
from vanphong.core.batch import passed, resumed
from vanphong.core.positions import Seen
from vanphong.streams.checkpoint import settled_offsets as _settled
from vanphong.streams.transport import BatchConsumer, BatchConsumerThread

# --- the internals the transport leans on (pinned aiokafka 0.14.0, faust-streaming 0.15.3) ------


def test_the_consumer_internals_that_position_marks_read_are_still_there() -> None:
    """If one of these moves, streams/transport.py must be revisited, not patched blindly."""
    assert "isolation_level" in inspect.signature(AIOKafkaConsumer).parameters
    source = inspect.getsource(AIOKafkaConsumer.__init__)
    assert "self._isolation_level = isolation_level" in source
    assert "isolation_level=self._isolation_level" in inspect.getsource(AIOKafkaConsumer.start)
    for name in ("fetched_records", "_create_fetch_waiter"):
        assert callable(getattr(Fetcher, name)), name
    assert inspect.iscoroutinefunction(Fetcher.fetched_records)
    assert list(inspect.signature(Fetcher.fetched_records).parameters) == [
        "self",
        "partitions",
        "timeout",
        "max_records",
    ]
    # control batches and aborted batches move the position without yielding a record
    unpack = inspect.getsource(PartitionRecords._unpack_records)
    assert "is_control_batch" in unpack and "self.next_fetch_offset = next_batch.next_offset" in (
        unpack
    )
    assert "consumed_to" in inspect.getsource(FetchResult._update_position)
    assert isinstance(TopicPartitionState.position, property)
    assert isinstance(TopicPartitionState.has_valid_position, property)
    # faust's thread: the consumer factory and the fetch we override
    thread = faust_aiokafka.AIOKafkaConsumerThread
    assert list(inspect.signature(thread._fetch_records).parameters) == [
        "self",
        "consumer",
        "active_partitions",
        "timeout",
        "max_records",
    ]
    assert 'isolation_level: str = "read_uncommitted"' in inspect.getsource(
        thread._create_worker_consumer
    )
    assert BatchConsumer._new_consumer_thread is not faust_aiokafka.Consumer._new_consumer_thread
    assert issubclass(BatchConsumerThread, thread)


def test_a_mark_settles_up_to_the_consumers_position_where_it_stands() -> None:
    t = "p.document-issued.v1"
    assert _settled([resumed(t, 0, 5, Seen()), passed(t, 0, 9)]) == {(t, 0): 9}
    assert _settled([resumed(t, 1, 5, Seen())]) == {(t, 1): 5}  # resumed at 5: nothing beyond
    assert _settled([passed(t, 2, 3)]) == {(t, 2): 3}


# --- a transactional producer against a worker ------------------------------------------------


def document(tag: str, i: int) -> Message:
    return to_message(
        {
            "type": "document.issued",
            "document_id": f"{tag}-{i}",
            "unit_id": ["vptu", "btctu", "btgtu"][i % 3],
            "number": f"{i + 1}-CV/TU",
            "doc_type": "CONG_VAN",
            "issuing_organ": "BTV Tỉnh ủy",
            "title": f"Văn bản {tag} {i}",
            "appraised": i % 2 == 0,
            "secrecy": "NONE",
            "urgency": "NONE",
            "event_id": f"{tag}-{i}",
            "occurred_at": f"2024-03-{1 + i % 28:02d}T03:00:00Z",
            "source": "giao-dich",
        }
    )


async def publish_transactions(
    env: Env, transactions: list[tuple[list[Message], bool]], open_at_end: list[Message]
) -> AIOKafkaProducer:
    """Each (messages, commit?) in one transaction of one producer; then ``open_at_end`` sent
    in a transaction left open. Returns the producer (still started)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=env.settings.kafka_bootstrap,
        transactional_id=f"{env.settings.topic_prefix}-tx-{uuid.uuid4().hex[:6]}",
        enable_idempotence=True,
        acks="all",
    )
    await producer.start()
    for messages, commit in [*transactions, (open_at_end, None)]:
        await producer.begin_transaction()
        for m in messages:
            await producer.send(env.topic(m.topic), m.value, key=m.key)
        if commit is True:
            await producer.commit_transaction()
        elif commit is False:
            await producer.abort_transaction()
    await producer.flush()
    return producer


def vanphong(env: Env, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), *args],
        env={**env.workers.env(), "COLUMNS": "120", **extra},
        capture_output=True,
        text=True,
        timeout=180,
    )


def status_json(env: Env, **extra: str) -> dict[str, Any]:
    done = vanphong(env, "status", "--json", **extra)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_only_committed_transactions_count_and_markers_are_no_backlog(
    env: Env,
) -> None:
    stall_s = 2.0
    env.workers.extra_env["VANPHONG_STALL_SECONDS"] = str(stall_s)
    first = [document("commit-1", i) for i in range(110)]
    aborted = [document("abort", i) for i in range(50)]
    second = [document("commit-2", i) for i in range(40)]
    still_open = [document("open", i) for i in range(10)]
    committed = first + second

    loop = asyncio.new_event_loop()
    try:
        producer = loop.run_until_complete(
            publish_transactions(env, [(first, True), (aborted, False), (second, True)], still_open)
        )
        web = env.workers.web_port(env.workers.start())

        done = vanphong(env, "wait", "--timeout", "180")
        assert done.returncode == 0, done.stderr + env.workers.log_tail()
        assert_views_match(env, model_of(committed))
        assert_counts_add_up(env, committed)
        documents = env.topic("document-issued.v1")
        counters = {r["topic"]: r for r in env.fetch("SELECT * FROM core.topic_counters")}
        assert counters[documents]["applied"] == len(committed)

        # Caught up: every stored offset reached the end offset (the last stable offset, past
        # the markers); nothing lags, nothing stalls, not even after the stall time.
        wait_for(lambda: all_lags_known_and_zero(web), 30, "every lag known and 0 on /metrics")
        doc = status_json(env, VANPHONG_STALL_SECONDS="1")
        docs_rows = [r for r in doc["topics"] if r["topic"] == documents]
        assert sum(r["end_offset"] for r in docs_rows) > len(committed)  # markers, aborted
        assert all(r["lag"] == 0 and r["applied_offset"] == r["end_offset"] for r in docs_rows)
        assert doc["stalled"] == [] and doc["offset_anomalies_pending"] == []
        stored = {
            r["partition"]: r["next_offset"]
            for r in env.fetch("SELECT * FROM core.sink_offsets WHERE topic = $1", documents)
        }
        assert stored == {r["partition"]: r["end_offset"] for r in docs_rows if r["end_offset"]}
        wait_for(
            lambda: (
                get(web, "/metrics")[0] == 200
                and float(_sample(get(web, "/metrics")[1], "vanphong_seconds_since_last_commit"))
                > 2 * stall_s
            ),
            60,
            "the stall time to pass without a commit",
            poll_s=0.5,
        )
        status, body = get(web, "/healthz")
        assert status == 200, body
        assert json.loads(body)["status"] == "ok"
        assert all_lags_known_and_zero(web)

        # The open transaction commits: its records count too, and the worker catches up again.
        loop.run_until_complete(producer.commit_transaction())
        done = vanphong(env, "wait", "--timeout", "180")
        assert done.returncode == 0, done.stderr
        assert_views_match(env, model_of(committed + still_open))
        assert_counts_add_up(env, committed + still_open)
        wait_for(lambda: all_lags_known_and_zero(web), 30, "every lag 0 again")
        assert get(web, "/healthz")[0] == 200
        consumed = Counter(
            {
                k: v
                for k, v in by_topic(scrape_text(web), "vanphong_events_consumed_total").items()
                if v
            }
        )
        assert consumed == {documents: len(committed) + len(still_open)}  # marks not counted
    finally:
        loop.run_until_complete(producer.stop())
        loop.close()


def _sample(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return line.split()[1]
    raise AssertionError(f"{name} not in /metrics")


def scrape_text(port: int) -> str:
    status, text = get(port, "/metrics")
    assert status == 200
    return text


def by_topic(text: str, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            topic = labels.split('topic="', 1)[1].split('"', 1)[0]
            out[topic] = float(value)
    return out
