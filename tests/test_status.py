"""``vanphong status``: the stall rule and the rendering without Kafka, then the real command on
the real broker and database."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from testkit.history import documents_and_meetings, to_message
from tests.conftest import VANPHONG, Env, wait_for
from vanphong.ground.unreachable import Unreachable, database_error, redact
from vanphong.status import (
    PartitionStatus,
    SinkStatus,
    Status,
    TopicCounters,
    ago,
    is_stalled,
    render,
)

NOW = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)


def seconds_ago(s: float) -> datetime:
    return NOW - timedelta(seconds=s)


# --------------------------------------------------------------------------------------------
# Pure pieces
# --------------------------------------------------------------------------------------------


def test_a_partition_without_lag_is_never_stalled() -> None:
    assert not is_stalled(0, seconds_ago(3600), None, NOW, 60)
    assert not is_stalled(0, None, None, NOW, 60)


def test_lag_with_no_progress_for_the_stall_time_is_stalled() -> None:
    assert is_stalled(5, seconds_ago(61), seconds_ago(120), NOW, 60)
    assert not is_stalled(5, seconds_ago(10), seconds_ago(120), NOW, 60)  # still moving


def test_an_idle_partition_that_just_got_a_message_is_not_stalled_yet() -> None:
    assert not is_stalled(1, seconds_ago(86400), seconds_ago(2), NOW, 60)
    assert is_stalled(1, seconds_ago(86400), seconds_ago(60), NOW, 60)


def test_a_partition_never_applied_counts_from_its_oldest_pending_message() -> None:
    assert not is_stalled(3, None, seconds_ago(30), NOW, 60)
    assert is_stalled(3, None, seconds_ago(90), NOW, 60)
    assert is_stalled(3, None, None, NOW, 60)  # nothing shows it ever moved


def test_ago_is_short() -> None:
    assert ago(None, NOW) == "never"
    assert ago(seconds_ago(5), NOW) == "5 s ago"
    assert ago(seconds_ago(600), NOW) == "10 min ago"
    assert ago(seconds_ago(3 * 3600), NOW) == "3 h ago"
    assert ago(seconds_ago(5 * 86400), NOW) == "5 d ago"
    assert ago(NOW + timedelta(seconds=1), NOW) == "just now"


def test_passwords_stay_out_of_messages() -> None:
    assert redact("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://h/db") == "postgresql://h/db"
    error = database_error(
        ConnectionRefusedError(111, "Connect call failed"), "postgresql://u:pw@h/d"
    )
    assert "pw" not in str(error) and "PostgreSQL" in str(error) and "stack up" in str(error)


def test_both_unreachable_are_named() -> None:
    both = Unreachable.both(
        Unreachable("Kafka", "h:9092", "no broker accepts connections"),
        Unreachable("PostgreSQL", "postgresql://h/d", "connection refused"),
    )
    assert both.components == ["Kafka", "PostgreSQL"]
    assert "VANPHONG_KAFKA_BOOTSTRAP" in str(both) and "VANPHONG_DATABASE_URL" in str(both)


def sample_status() -> Status:
    def part(topic: str, p: int, end: int, applied: int, stalled: bool = False) -> PartitionStatus:
        return PartitionStatus(
            topic, p, end, applied - 1 if applied else None, applied, seconds_ago(90), None, stalled
        )

    return Status(
        generated_at=NOW,
        consumer_group="vp-worker",
        stall_seconds=60,
        partitions=[
            part("vp.document-issued.v1", 0, 10, 10),
            part("vp.document-issued.v1", 1, 12, 7, stalled=True),
            part("vp.meeting-held.v1", 0, 0, 0),
        ],
        dead_letters={"undecodable": 2, "unknown_schema": 1},
        dead_letters_unrelayed=1,
        dead_letter_topic="vp.dead-letter.v1",
        dead_letter_messages=2,
        counters=[TopicCounters("vp.document-issued.v1", 12, 2, 3)],
        sink=SinkStatus(seconds_ago(90), 2, 0, 4, 17),
        topic_prefix="vp",
    )


def test_json_has_the_documented_shape() -> None:
    doc = sample_status().as_json()
    assert {"topics", "dead_letters", "sink", "stalled"} <= set(doc)
    first = doc["topics"][1]
    assert {k: first[k] for k in ("topic", "partition", "end_offset", "applied_offset", "lag")} == {
        "topic": "vp.document-issued.v1",
        "partition": 1,
        "end_offset": 12,
        "applied_offset": 7,
        "lag": 5,
    }
    assert first["committed_offset"] == 6
    assert doc["topics"][2]["committed_offset"] is None
    assert doc["dead_letters"] == {"undecodable": 2, "unknown_schema": 1}
    assert doc["sink"]["last_commit_at"] == seconds_ago(90).isoformat()
    assert doc["stalled"] == [
        {
            "topic": "vp.document-issued.v1",
            "partition": 1,
            "lag": 5,
            "applied_at": seconds_ago(90).isoformat(),
            "pending_since": None,
        }
    ]
    assert doc["counters"][0]["consumed"] == 17
    json.dumps(doc)  # serialisable as is


def text_of(renderable: Any, width: int = 80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_the_table_fits_80_columns_and_names_what_matters() -> None:
    text = text_of(render(sample_status()))
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    tables = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in tables), text  # nothing cut off
    for needle in [
        "vp.document-issued.v1",
        "vp.meeting-held.v1",
        "document-issued.v1[1]",  # the lagging partition
        "5 stalled",
        "undecodable",
        "unknown_schema",
        "1 dead letter(s) not yet on vp.dead-letter.v1",
        "STALLED (1)",
        "last commit 90 s ago",
    ]:
        assert needle in text, needle
    assert "document-issued.v1[0]" not in text  # caught-up partitions only with --partitions
    assert "document-issued.v1[0]" in text_of(render(sample_status(), all_partitions=True))


def test_a_caught_up_status_says_so() -> None:
    status = sample_status()
    status.partitions[:] = [p for p in status.partitions if not p.lag]
    text = text_of(render(status))
    assert "Every partition is caught up" in text and "STALLED" not in text


# --------------------------------------------------------------------------------------------
# The real command
# --------------------------------------------------------------------------------------------


def vanphong(
    env: Env, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), *args],
        env={**env.workers.env(), "COLUMNS": "100", **(extra or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def status_json(env: Env, extra: dict[str, str] | None = None) -> dict[str, Any]:
    done = vanphong(env, "status", "--json", extra=extra)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def by_topic(doc: dict[str, Any], field: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for row in doc["topics"]:
        totals[row["topic"]] += row[field]
    return totals


def test_status_reports_offsets_lag_dead_letters_and_counters(env: Env) -> None:
    messages = documents_and_meetings(seed=21, documents=120, meetings=40)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()

    sent = Counter(env.topic(m.topic) for m in messages)
    # faust commits to Kafka about every second, after PostgreSQL: wait for it to catch up
    wait_for(
        lambda: all(
            r["committed_offset"] == r["end_offset"]
            for r in status_json(env)["topics"]
            if r["end_offset"]
        ),
        60,
        "the consumer group's Kafka commits to reach the end offsets",
        poll_s=0.5,
    )
    doc = status_json(env)
    inputs = {env.topic(t) for t in ("unit-registered.v1", "document-issued.v1")}
    assert inputs <= {r["topic"] for r in doc["topics"]}
    assert all(r["lag"] == 0 and r["applied_offset"] == r["end_offset"] for r in doc["topics"])
    assert {t: n for t, n in by_topic(doc, "end_offset").items() if n} == sent
    assert doc["dead_letters"] == dict(Counter(m.reason for m in messages if m.reason))
    counters = {c["topic"]: c for c in doc["counters"]}
    for topic, n in sent.items():
        c = counters[topic]
        assert c["applied"] + c["unchanged"] + c["dead_lettered"] == c["consumed"] == n
        assert c["dead_lettered"] == sum(
            1 for m in messages if m.reason and env.topic(m.topic) == topic
        )
    assert doc["stalled"] == []
    assert doc["sink"]["last_commit_at"] is not None
    assert doc["sink"]["events"] == len(messages) and doc["sink"]["workers_seen"] == 1
    assert doc["consumer_group"] == f"{env.settings.topic_prefix}-worker"

    table = vanphong(env, "status")
    assert table.returncode == 0, table.stderr
    for topic in doc["topics"]:
        assert topic["topic"] in table.stdout
    assert "Every partition is caught up" in table.stdout
    assert "invalid_field" in table.stdout

    # the worker stops; new documents wait: lag shows, and after the stall time, a stall
    env.workers.stop_all()
    more = [
        to_message(
            {
                "type": "document.issued",
                "document_id": f"late-{i}",
                "unit_id": "vptu",
                "number": f"{900 + i}-CV/TU",
                "doc_type": "CONG_VAN",
                "issuing_organ": "BTV Tỉnh ủy",
                "title": "Muộn",
                "appraised": False,
                "secrecy": "NONE",
                "urgency": "NONE",
                "event_id": f"late-{i}",
                "occurred_at": "2024-05-05T03:00:00Z",
                "source": "test",
            }
        )
        for i in range(7)
    ]
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in more])
    doc = status_json(env)
    documents = env.topic("document-issued.v1")
    assert {t: n for t, n in by_topic(doc, "lag").items() if n} == {documents: 7}
    assert doc["stalled"] == []  # waiting for seconds, not for the stall time (60 s)

    quick = {"VANPHONG_STALL_SECONDS": "0.5"}
    wait_for(lambda: status_json(env, quick)["stalled"], 30, "a stall to be reported", poll_s=0.2)
    doc = status_json(env, quick)
    lagging = {(r["topic"], r["partition"]) for r in doc["topics"] if r["lag"]}
    assert {(s["topic"], s["partition"]) for s in doc["stalled"]} == lagging
    assert all(s["pending_since"] for s in doc["stalled"])
    table = vanphong(env, "status", extra=quick)
    assert table.returncode == 0 and "STALLED" in table.stdout


def test_status_names_both_when_neither_answers() -> None:
    done = subprocess.run(
        [str(VANPHONG), "status"],
        env={
            **os.environ,
            "VANPHONG_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "VANPHONG_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Kafka at 127.0.0.1:1 is unreachable" in done.stderr
    assert "PostgreSQL at postgresql://u:***@127.0.0.1:1/x is unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_names_what_is_unreachable_and_exits_2(env: Env) -> None:
    done = vanphong(env, "status", extra={"VANPHONG_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    assert done.returncode == 2
    assert "Kafka at 127.0.0.1:1 is unreachable" in done.stderr
    assert "vanphong stack up" in done.stderr and "VANPHONG_KAFKA_BOOTSTRAP" in done.stderr
    assert "Traceback" not in done.stderr

    bad_db = env.settings.database_url.rsplit("/", 1)[0] + "/no_such_database"
    done = vanphong(env, "status", "--json", extra={"VANPHONG_DATABASE_URL": bad_db})
    assert done.returncode == 2 and done.stdout == ""
    assert "PostgreSQL at" in done.stderr and "VANPHONG_DATABASE_URL" in done.stderr


# --------------------------------------------------------------------------------------------
# Offsets that went backwards or jumped (vanphong/core/positions.py)
# --------------------------------------------------------------------------------------------


def status_with_anomalies() -> Status:
    from vanphong.core.positions import MESSAGES_LOST, PARTITIONS_ADDED, TOPIC_RECREATED, Anomaly
    from vanphong.status import RecordedAnomaly

    docs = "vp.document-issued.v1"
    status = sample_status()
    recorded = [
        Anomaly(TOPIC_RECREATED, docs, 0, 89, 0, 0, 1, 0, "id-old", "id-new", 6, 6),
        Anomaly(PARTITIONS_ADDED, docs, 6, 0, 0, 0, 5, 0, None, None, 8, 6),
        Anomaly(MESSAGES_LOST, docs, 0, 39, 50, 50, 89, 11, None, None, 6, 6),
    ]
    return Status(
        **{
            **status.__dict__,
            "offset_anomalies": [
                RecordedAnomaly(a, seconds_ago(10 * i), "host-1") for i, a in enumerate(recorded)
            ],
            "offset_anomalies_total": 3,
            "pending_anomalies": [Anomaly(MESSAGES_LOST, docs, 1, 7, 12, 12, 12, 5)],
            "partitions_differ": {docs: (8, 6)},
        }
    )


def test_offset_anomalies_are_listed_with_their_numbers_in_both_forms() -> None:
    status = status_with_anomalies()
    doc = status.as_json()
    json.dumps(doc)
    assert [(a["kind"], a["partition"], a["lost"]) for a in doc["offset_anomalies"]] == [
        ("topic_recreated", 0, 0),
        ("partitions_added", 6, 0),
        ("messages_lost", 0, 11),
    ]
    assert doc["offset_anomalies"][0]["detected_at"] == NOW.isoformat()
    assert doc["offset_anomalies_total"] == 3
    [pending] = doc["offset_anomalies_pending"]
    assert (pending["stored_offset"], pending["log_start"], pending["lost"]) == (7, 12, 5)
    assert doc["partitions_differ"] == {
        "vp.document-issued.v1": {"partitions": 8, "contract_partitions": 6}
    }
    text = text_of(render(status))
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    for needle in [
        "Offset anomalies (3 recorded)",
        "topic recreated",
        "partitions added",
        "messages lost",
        "50–89",
        "NOT HANDLED YET: vp.document-issued.v1[1]: 5 message(s) deleted",
        "vp.document-issued.v1 has 8 partitions, the contract 6",
    ]:
        assert needle in text, needle


def test_a_recreated_topics_old_offsets_count_as_nothing_applied_and_retention_as_no_lag() -> None:
    part = sample_status().partitions[0]
    assert part.lag == 0
    assert replace(part, recreated=True).lag == part.end_offset
    assert replace(part, applied_offset=2, start_offset=6).lag == part.end_offset - 6
