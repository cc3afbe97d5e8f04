"""The Schema Registry of the local stack and the Confluent wire format end to end (issue 12).

Upstream producers write ``00`` + a schema id + the Avro body through their usual serializers;
the worker looks the id up in the registry (``VANPHONG_SCHEMA_REGISTRY_URL``) and counts them.
These tests use the stack's Apicurio Registry (``vanphong stack up`` starts it); each test's
topic prefix gives it subjects of its own (``<prefix>.<topic>-value``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer

from testkit.history import Message, documents_and_meetings
from tests.conftest import VANPHONG, Env, get, wait_for
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
)
from vanphong.core.rejection import TransientError
from vanphong.deploy.local import apicurio as stack_registry
from vanphong.deploy.local.config import StackConfig
from vanphong.deploy.local.errors import StackError
from vanphong.ground.schema_registry import RegistryError, SchemaRegistryClient
from vanphong.ground.settings import Settings
from vanphong.registry_sync import breaking_changes, register_all, shipped_versions, subject
from vanphong.schemas.catalog import BY_TOPIC, EventType
from vanphong.schemas.codec import (
    SchemaVersion,
    confluent_frame,
    decode,
    shipped_schemas,
)

DOCS = EventType.DOCUMENT_ISSUED
MEETINGS = EventType.MEETING_HELD


def registry_url() -> str:
    """The registry the tests use: ``VANPHONG_SCHEMA_REGISTRY_URL``, else the local stack's."""
    settings = Settings()
    if settings.schema_registry_url:
        return settings.schema_registry_url
    cfg = stack_registry.RegistryConfig.from_settings(
        settings, StackConfig.from_settings(settings).paths
    )
    return cfg.url


def with_registry(env: Env) -> Settings:
    """The test's settings with the registry set, for the workers too."""
    url = registry_url()
    env.workers.extra_env["VANPHONG_SCHEMA_REGISTRY_URL"] = url
    return env.settings.model_copy(update={"schema_registry_url": url})


def register(settings: Settings) -> dict[str, tuple[int, ...]]:
    """``vanphong init``'s registration for the test's prefix: subject → ids, oldest first."""

    async def go() -> dict[str, tuple[int, ...]]:
        async with SchemaRegistryClient(registry_url()) as client:
            return {r.subject: r.ids for r in await register_all(client, settings)}

    return asyncio.run(go())


def avro_body(sv: SchemaVersion, record: dict[str, Any]) -> bytes:
    """The plain Avro body of ``record`` written with ``sv`` (fields it lacks are dropped)."""
    names = {f["name"] for f in sv.schema["fields"]}
    out = BytesIO()
    fastavro.schemaless_writer(out, sv.parsed, {k: v for k, v in record.items() if k in names})
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# The stack's registry
# ---------------------------------------------------------------------------------------------


def test_a_missing_java_21_is_a_clear_error_naming_the_jdk_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.setattr(stack_registry, "KNOWN_JDK", tmp_path / "temurin-25-jdk-amd64")
    monkeypatch.setattr(stack_registry, "JVM_DIR", tmp_path / "jvm")
    monkeypatch.setattr(stack_registry.shutil, "which", lambda _name: None)
    with pytest.raises(StackError) as info:
        stack_registry.find_registry_java()
    message = info.value.render()
    assert "needs Java 21 or newer" in message
    assert str(tmp_path / "temurin-25-jdk-amd64") in message
    assert "VANPHONG_STACK_REGISTRY=false" in message


def test_java_17_alone_is_not_enough_for_the_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "java-17-openjdk-amd64"
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'openjdk version \"17.0.15\" 2025-04-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setattr(stack_registry, "KNOWN_JDK", tmp_path / "none")
    monkeypatch.setattr(stack_registry, "JVM_DIR", tmp_path / "jvm")
    monkeypatch.setattr(stack_registry.shutil, "which", lambda _name: None)
    with pytest.raises(StackError, match=r"java-17-openjdk-amd64/bin/java \(Java 17\)"):
        stack_registry.find_registry_java()


@pytest.mark.integration
def test_the_stack_runs_the_registry_and_status_shows_it() -> None:
    from vanphong.deploy.local import stack

    st = stack.stack_status()
    assert st.registry is not None and st.registry.running, st.registry
    assert st.registry.address.endswith("/apis/ccompat/v7")
    assert st.exit_code == 0


@pytest.mark.integration
def test_with_the_registry_turned_off_status_leaves_it_out() -> None:
    from vanphong.deploy.local import stack

    st = stack.stack_status(Settings(stack_registry=False))
    assert st.registry is None
    assert not [c for c in st.components if "Registry" in c.name]


# ---------------------------------------------------------------------------------------------
# The client and the registration
# ---------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_client_knows_unknown_ids_from_an_unreachable_registry() -> None:
    async def go() -> None:
        async with SchemaRegistryClient(registry_url()) as client:
            assert await client.schema_by_id(2_000_000_000) is None
        async with SchemaRegistryClient("http://127.0.0.1:9/apis/ccompat/v7") as client:
            with pytest.raises(TransientError, match="unreachable"):
                await client.schema_by_id(1)
        # the registry's root without the Confluent API's path: never "unknown", always retried
        root = registry_url().split("/apis/")[0]
        async with SchemaRegistryClient(root) as client:
            with pytest.raises(TransientError, match="HTTP 404"):
                await client.schema_by_id(1)

    asyncio.run(go())


@pytest.mark.integration
def test_init_registers_every_version_in_order_backward_and_idempotent(env: Env) -> None:
    settings = with_registry(env)
    first = register(settings)
    assert register(settings) == first  # a second run registers nothing new
    docs = first[subject(settings, DOCS)]
    assert len(docs) == len(shipped_versions(shipped_schemas(), DOCS)) == 2
    assert len(first[subject(settings, MEETINGS)]) == 1

    async def go() -> None:
        async with SchemaRegistryClient(registry_url()) as client:
            name = subject(settings, DOCS)
            assert await client.versions(name) == [1, 2]
            assert await client.compatibility(name) == "BACKWARD"
            latest = await client.latest(name)
            assert latest is not None and latest["id"] == docs[-1]
            written = json.loads(str(await client.schema_by_id(docs[0])))
            assert "signed_by" not in {f["name"] for f in written["fields"]}

    asyncio.run(go())


def vanphong(env: Env, *args: str, extra: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [str(VANPHONG), *args],
        env={**env.workers.env(), **(extra or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.integration
def test_schemas_check_passes_then_fails_naming_the_field_of_a_breaking_change(
    env: Env, tmp_path: Path
) -> None:
    with_registry(env)
    missing = vanphong(env, "schemas", "check")
    assert missing.returncode == 1 and "not registered" in missing.stderr
    register(env.settings)
    ok = vanphong(env, "schemas", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("ok ") == len(EventType)

    # a v3 that adds a field without a default and turns attendees into a string
    current = shipped_schemas().current(MEETINGS)
    schema = json.loads(current.path.read_text(encoding="utf-8"))
    schema["fields"].append({"name": "room", "type": "string", "doc": "test-only"})
    for field in schema["fields"]:
        if field["name"] == "attendees":
            field["type"] = "string"
    (tmp_path / "v3").mkdir()
    (tmp_path / "v3" / "MeetingHeld.avsc").write_text(json.dumps(schema), encoding="utf-8")
    bad = vanphong(env, "schemas", "check", extra={"VANPHONG_EXTRA_SCHEMAS_DIR": str(tmp_path)})
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "meeting-held.v1-value" in bad.stderr
    assert "field room is new and has no default" in bad.stderr
    assert "field attendees: type int → string" in bad.stderr


def test_breaking_changes_name_the_field() -> None:
    v1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    grows = {**v1, "fields": [*v1["fields"], {"name": "b", "type": ["null", "string"]}]}
    assert breaking_changes(v1, grows) == ["field b is new and has no default"]
    promoted = {**v1, "fields": [{"name": "a", "type": "long"}]}
    assert breaking_changes(v1, promoted) == []
    optional = {**v1, "fields": [*v1["fields"], {"name": "b", "type": "int", "default": 1}]}
    assert breaking_changes(v1, optional) == []
    enum = {"type": "enum", "name": "E", "symbols": ["X", "Y"]}
    fewer = {"type": "enum", "name": "E", "symbols": ["X"]}
    nested = {**v1, "fields": [{"name": "e", "type": enum}]}
    assert breaking_changes(nested, {**v1, "fields": [{"name": "e", "type": fewer}]}) == [
        "field e: enum symbols Y removed"
    ]


# ---------------------------------------------------------------------------------------------
# v1 and v2, single-object and Confluent, on one topic
# ---------------------------------------------------------------------------------------------


def four_ways(
    messages: list[Message], ids: dict[str, tuple[int, ...]], settings: Settings
) -> list[Message]:
    """Each valid document re-written in turn as v2 single-object (as generated), v1
    single-object, v1 Confluent and v2 Confluent; meetings alternately single-object and
    Confluent; invalid messages as they are; plus Confluent messages that must be
    dead-lettered (an unknown id, a meeting's schema on the documents topic)."""
    reg = shipped_schemas()
    v1, v2 = shipped_versions(reg, DOCS)
    doc_ids = ids[subject(settings, DOCS)]
    meeting_id = ids[subject(settings, MEETINGS)][-1]
    out: list[Message] = []
    n = 0
    for m in messages:
        if m.event is None or m.topic not in (DOCS.topic, MEETINGS.topic):
            out.append(m)
            continue
        record = decode(m.value).record
        n += 1
        if m.topic == DOCS.topic:
            assert record["signed_by"] is None  # so every way holds the same content
            value = [
                m.value,
                v1.header + avro_body(v1, record),
                confluent_frame(doc_ids[0], avro_body(v1, record)),
                confluent_frame(doc_ids[1], avro_body(v2, record)),
            ][n % 4]
        else:
            current = reg.current(MEETINGS)
            value = [m.value, confluent_frame(meeting_id, avro_body(current, record))][n % 2]
        out.append(Message(m.topic, m.key, value, m.event, m.reason))
    meeting = next(m for m in messages if m.topic == MEETINGS.topic and m.event is not None)
    body = decode(meeting.value).record
    out += [
        Message(
            DOCS.topic, b"x1", confluent_frame(1_999_999_999, b"\x02x"), None, "unknown_schema"
        ),
        Message(
            DOCS.topic,
            b"x2",
            confluent_frame(meeting_id, avro_body(shipped_schemas().current(MEETINGS), body)),
            None,
            "invalid_field",
        ),
    ]
    return out


def fastavro_reads(value: bytes, writers: dict[int, SchemaVersion]) -> dict[str, Any]:
    """fastavro alone: the body read with its writer schema, resolved to the current one."""
    if value[0] == 0:
        writer = writers[int.from_bytes(value[1:5], "big")]
        start = 5
    else:
        found = shipped_schemas().by_fingerprint(int.from_bytes(value[2:10], "little"))
        assert found is not None
        writer, start = found, 10
    body = BytesIO(value[start:])
    current = shipped_schemas().current(writer.event_type)
    record = fastavro.schemaless_reader(body, writer.parsed, current.parsed)
    assert body.tell() == len(value) - start
    return dict(record)  # type: ignore[arg-type]


@pytest.mark.integration
def test_v1_and_v2_single_object_and_confluent_on_one_topic_all_count(env: Env) -> None:
    settings = with_registry(env)
    ids = register(settings)
    messages = four_ways(
        documents_and_meetings(seed=12, documents=400, meetings=120), ids, settings
    )
    doc_values = [m.value for m in messages if m.topic == DOCS.topic and m.event is not None]
    assert {v[:2] for v in doc_values} >= {b"\xc3\x01"} and any(v[0] == 0 for v in doc_values)

    # the codec's fast path and fastavro give the same record for every valid message
    reg = shipped_schemas()
    v1, v2 = shipped_versions(reg, DOCS)
    doc_ids = ids[subject(settings, DOCS)]
    meetings = reg.current(MEETINGS)
    writers = {doc_ids[0]: v1, doc_ids[1]: v2, ids[subject(settings, MEETINGS)][-1]: meetings}
    by_id = {
        i: reg.registry_reader(json.dumps(sv.schema), f"schema id {i}") for i, sv in writers.items()
    }
    for m in messages:
        if m.event is not None and m.topic in (DOCS.topic, MEETINGS.topic):
            assert decode(m.value, by_id).record == fastavro_reads(m.value, writers)

    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(messages))
    assert_counts_add_up(env, messages)
    wait_for(
        lambda: len(env.dead_letters()) == sum(1 for m in messages if m.reason),
        60,
        "every dead letter relayed",
    )
    assert_dead_letters_once(env, messages)  # the original bytes, Confluent framing included
    details = {
        dict(d.headers)["vanphong.error.detail"].decode()
        for d in env.dead_letters()
        if d.key in (b"x1", b"x2")
    }
    assert any("schema id 1999999999" in d and "does not know it" in d for d in details)
    assert any("meeting.held record" in d for d in details)


@pytest.mark.integration
def test_without_a_registry_a_confluent_message_is_unknown_schema_naming_the_setting(
    env: Env,
) -> None:
    ids = register(env.settings.model_copy(update={"schema_registry_url": registry_url()}))
    doc = next(
        m
        for m in documents_and_meetings(seed=3, documents=5, meetings=0)
        if m.event is not None and m.topic == DOCS.topic
    )
    v2 = shipped_schemas().current(DOCS)
    value = confluent_frame(
        ids[subject(env.settings, DOCS)][-1], avro_body(v2, decode(doc.value).record)
    )
    env.send_raw([(env.topic(DOCS.topic), doc.key, value)])
    env.workers.start()  # no VANPHONG_SCHEMA_REGISTRY_URL
    env.wait_caught_up()
    wait_for(lambda: len(env.dead_letters()) == 1, 60, "the dead letter relayed")
    letter = env.dead_letters()[0]
    headers = {k: v.decode() for k, v in letter.headers}
    assert letter.value == value
    assert headers["vanphong.error.reason"] == "unknown_schema"
    assert "VANPHONG_SCHEMA_REGISTRY_URL" in headers["vanphong.error.detail"]


# ---------------------------------------------------------------------------------------------
# Real clients: confluent-kafka and python-schema-registry-client
# ---------------------------------------------------------------------------------------------


def valid_datums(messages: list[Message]) -> list[tuple[Message, dict[str, Any]]]:
    return [(m, decode(m.value).record) for m in messages if m.event is not None]


@pytest.mark.integration
def test_confluent_kafkas_avro_serializer_publishes_documents_and_meetings_the_worker_counts(
    env: Env,
) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistry
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    settings = with_registry(env)
    register(settings)
    messages = documents_and_meetings(seed=21, documents=200, meetings=60)
    registry = ConfluentRegistry({"url": registry_url()})
    # what an upstream team sets: never register, write with the subject's latest version
    serializer = AvroSerializer(
        registry, None, conf={"auto.register.schemas": False, "use.latest.version": True}
    )
    producer = Producer(
        {
            "bootstrap.servers": env.settings.kafka_bootstrap,
            "enable.idempotence": True,
            "partitioner": "murmur2_random",  # the Java client's partitioner, as aiokafka's
        }
    )
    sent: list[Message] = []
    for m in messages:
        topic = env.topic(m.topic)
        if m.event is None:  # the invalid ones as they are
            value = m.value
        else:
            record = decode(m.value).record
            value = serializer(record, SerializationContext(topic, MessageField.VALUE))
            assert value is not None and value[0] == 0
        producer.produce(topic, value=value, key=m.key)
        sent.append(Message(m.topic, m.key, value, m.event, m.reason))
    assert producer.flush(60) == 0
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(sent))
    assert_counts_add_up(env, sent)


@pytest.mark.integration
def test_python_schema_registry_client_publishes_with_the_topic_value_subject(env: Env) -> None:
    from schema_registry.client import SchemaRegistryClient as PythonRegistry
    from schema_registry.serializers import AvroMessageSerializer

    settings = with_registry(env)
    register(settings)
    messages = documents_and_meetings(seed=22, documents=100, meetings=40)
    client = PythonRegistry(url=registry_url())
    serializer = AvroMessageSerializer(client)
    # its serializer takes a subject or an id, with no naming of its own: look the subject
    # `<topic>-value` up (never register) and write with that id
    ids = {}
    for et in {BY_TOPIC[m.topic] for m in messages}:
        latest = client.get_schema(subject(settings, et))
        assert latest is not None
        ids[et.topic] = latest.schema_id
    sent = []
    for m in messages:
        value = m.value
        if m.event is not None:
            record = decode(m.value).record
            value = serializer.encode_record_with_schema_id(ids[m.topic], record)
            assert value[0] == 0
        sent.append(Message(m.topic, m.key, value, m.event, m.reason))
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in sent])
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(sent))
    assert_counts_add_up(env, sent)


@pytest.mark.integration
def test_an_unreachable_registry_holds_the_message_back_and_dead_letters_nothing(
    env: Env,
) -> None:
    ids = register(env.settings.model_copy(update={"schema_registry_url": registry_url()}))
    history = documents_and_meetings(seed=5, documents=30, meetings=0)
    docs = [m for m in history if m.event is not None and m.topic == DOCS.topic]
    v2 = shipped_schemas().current(DOCS)
    first = docs[0]
    schema_id = ids[subject(env.settings, DOCS)][-1]
    framed = Message(
        first.topic,
        first.key,
        confluent_frame(schema_id, avro_body(v2, decode(first.value).record)),
        first.event,
    )
    messages = [framed, *docs[1:]]
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.extra_env["VANPHONG_SCHEMA_REGISTRY_URL"] = "http://127.0.0.1:9/apis/ccompat/v7"
    proc = env.workers.start()
    port = env.workers.web_port(proc)

    def retried() -> bool:
        _, body = get(port, "/metrics")
        line = 'vanphong_transient_failures_total{kind="schema_registry"}'
        return any(
            row.startswith(line) and float(row.split()[-1]) >= 2 for row in body.splitlines()
        )

    wait_for(retried, 60, "the worker retrying the unreachable registry")
    rows = env.fetch("SELECT sum(dead_lettered) AS n FROM core.topic_counters")
    assert not rows or not rows[0]["n"]
    env.workers.stop_all()

    env.workers.extra_env["VANPHONG_SCHEMA_REGISTRY_URL"] = registry_url()
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(messages))
    assert_counts_add_up(env, messages)
    assert env.dead_letters() == []


@pytest.mark.integration
def test_publish_wire_confluent_frames_with_the_registered_ids_and_is_counted(env: Env) -> None:
    from vanphong.publish import numbered_lines, prepare_all
    from vanphong.publish.confluent import confluent_framed

    settings = with_registry(env)
    history = documents_and_meetings(seed=9, documents=60, meetings=20)
    valid = [m for m in history if m.event is not None]
    lines = [json.dumps(m.event, ensure_ascii=False) for m in valid]
    messages, errors = prepare_all(numbered_lines([("history", lines)]), settings)
    assert errors == []
    with pytest.raises(RegistryError, match="run `vanphong init`"):
        confluent_framed(messages, settings)  # nothing registered under this prefix yet
    ids = register(settings)
    framed = confluent_framed(messages, settings)
    assert all(f.value[0] == 0 for f in framed)
    doc_topic = env.topic(DOCS.topic)
    assert {int.from_bytes(f.value[1:5], "big") for f in framed if f.topic == doc_topic} == {
        ids[subject(settings, DOCS)][-1]
    }
    env.send_raw([(f.topic, f.key, f.value) for f in framed])
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(valid))
    assert env.dead_letters() == []
