"""``vanphong publish`` for publishers (issue 20): a line missing several fields names them all,
with its line number, in one go; ``--wire confluent`` frames the bodies as Confluent's
serializers do (00 + the registry's id of the topic's subject), for upstream teams trying the
framing before they write their own serializer."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from aiokafka import TopicPartition

from testkit.history import documents_and_meetings
from tests.conftest import VANPHONG, Env
from tests.test_schema_registry import register, with_registry
from tests.verify import assert_views_match, model_of
from vanphong.ground.kafka import standalone_consumer
from vanphong.schemas.catalog import BY_TYPE

MEETING = {
    "type": "meeting.held",
    "meeting_id": "m1",
    "unit_id": "vptu",
    "kind": "GIAO_BAN",
    "title": "Giao ban",
    "attendees": 12,
    "mode": "IN_PERSON",
    "event_id": "e1",
    "occurred_at": "2024-09-30T18:30:00Z",
    "source": "lich-hop",
}


def publish(env: Env, *args: str, stdin: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), "publish", *args, "-"],
        env={**env.workers.env(), "COLUMNS": "80", **environ},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.integration
def test_a_line_missing_several_fields_names_them_all_with_its_line_number(env: Env) -> None:
    lacking = {k: v for k, v in MEETING.items() if k not in ("unit_id", "title", "mode")}
    lines = [json.dumps(MEETING), json.dumps(lacking)]
    done = publish(env, stdin="\n".join(lines) + "\n")
    assert done.returncode == 1, done.stdout + done.stderr
    (invalid,) = [line for line in done.stderr.splitlines() if line.startswith("invalid")]
    # one line even at 80 columns, the line number first, every missing field named
    assert invalid == "invalid <stdin>:2: missing fields 'unit_id', 'title', 'mode'"
    assert "nothing published" in done.stderr


def _values(env: Env, topic: str, partitions: int) -> list[bytes]:
    """Every message value now on ``topic``."""

    async def go() -> list[bytes]:
        async with standalone_consumer(env.settings) as consumer:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            ends = await consumer.end_offsets(tps)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            out: list[bytes] = []
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    out.extend(m.value for m in batch)
            return out

    return asyncio.run(go())


@pytest.mark.integration
def test_publish_wire_confluent_sends_confluent_framed_messages_the_worker_applies(
    env: Env,
) -> None:
    settings = with_registry(env)
    registry = {"VANPHONG_SCHEMA_REGISTRY_URL": settings.schema_registry_url or ""}
    history = [m for m in documents_and_meetings(seed=4, documents=30, meetings=10) if m.event]
    lines = "\n".join(json.dumps(m.event, ensure_ascii=False) for m in history) + "\n"

    unregistered = publish(env, "--wire", "confluent", stdin=lines, **registry)
    assert unregistered.returncode == 2, unregistered.stdout + unregistered.stderr
    said = " ".join(unregistered.stderr.split())
    assert "schema registry:" in said and "run `vanphong init`" in said
    assert "Traceback" not in unregistered.stderr

    ids = register(settings)
    done = publish(env, "--wire", "confluent", stdin=lines, **registry)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published {len(history)} event(s)" in done.stdout
    docs = BY_TYPE["document.issued"]
    documents = _values(env, env.topic(docs.topic), docs.partitions)
    assert len(documents) == sum(1 for m in history if m.topic == docs.topic)
    expected_id = ids[f"{env.topic(docs.topic)}-value"][-1]
    assert {(v[0], int.from_bytes(v[1:5], "big")) for v in documents} == {(0, expected_id)}
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(history))
    assert env.dead_letters() == []


def test_an_unknown_wire_is_refused_by_name() -> None:
    done = subprocess.run(
        [str(VANPHONG), "publish", "--wire", "protobuf", "-"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "protobuf" in done.stderr and "single-object" in done.stderr
