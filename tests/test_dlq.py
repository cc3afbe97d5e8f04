"""``vanphong dlq list`` / ``dlq replay``: planning without Kafka, then the real commands on the
real broker and database, including the acceptance test of the issue: a replay after the
missing schema version is registered brings the replayed events into the aggregates exactly
once."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from testkit.history import History, Message, to_message
from tests.conftest import VANPHONG, Env, wait_for
from vanphong.core.deadletter import dead_letter_headers
from vanphong.dlq import (
    REPLAY_OF,
    DeadLetter,
    MostRecent,
    Replay,
    annotate,
    plan,
    render_list,
    replay_marker,
    select,
    show_bytes,
)
from vanphong.dlq.execute import _LOCK_CLASS
from vanphong.ground.kafka import standalone_consumer
from vanphong.schemas.catalog import BY_TYPE
from vanphong.schemas.codec import KnownSchemas, extra_schema_dirs, shipped_schemas

T0 = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)
DOCS = "vp.document-issued.v1"
INPUTS = [DOCS, "vp.meeting-held.v1"]


def letter(
    partition: int,
    offset: int,
    reason: str,
    source: tuple[str, int, int] | None = (DOCS, 0, 5),
    minute: int = 0,
) -> DeadLetter:
    headers = (
        dead_letter_headers(source, reason, "why", T0.replace(minute=minute))
        if source is not None
        else [("vanphong.error.reason", reason.encode())]
    )
    return DeadLetter(partition, offset, T0, b"k", b"v", tuple(headers))


# --------------------------------------------------------------------------------------------
# Pure pieces
# --------------------------------------------------------------------------------------------


def test_a_dead_letter_reads_its_headers() -> None:
    d = letter(2, 9, "unknown_schema", (DOCS, 4, 17), minute=3)
    assert (d.reason, d.detail, d.source) == ("unknown_schema", "why", (DOCS, 4, 17))
    assert d.failed_at == T0.replace(minute=3)
    doc = d.as_json()
    assert doc["source"] == {"topic": DOCS, "partition": 4, "offset": 17}
    assert (doc["dlq_partition"], doc["dlq_offset"], doc["key"]) == (2, 9, "k")


def test_keys_show_as_text_or_hex() -> None:
    assert show_bytes(b"d-1") == "d-1"
    assert show_bytes(b"\xff\x00") == "0xff00"
    assert show_bytes(None) is None


def test_select_filters_by_reason_and_keeps_the_most_recent() -> None:
    letters = [
        letter(0, i, "undecodable" if i % 2 else "invalid_field", minute=i) for i in range(6)
    ]
    assert [d.offset for d in select(letters, "undecodable")] == [1, 3, 5]
    assert [d.offset for d in select(letters, limit=2)] == [4, 5]
    assert len(select(letters, limit=0)) == 6


@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 59)), max_size=60),
    st.integers(1, 10),
    st.integers(1, 7),
)
def test_the_most_recent_of_a_stream_are_what_select_keeps_of_the_whole_list(
    spec: list[tuple[int, int]], limit: int, chunk: int
) -> None:
    letters = [letter(p, i, "undecodable", minute=m) for i, (p, m) in enumerate(spec)]
    recent = MostRecent(limit)
    for start in range(0, len(letters), chunk):
        recent.add(letters[start : start + chunk])
        assert len(recent.oldest_first()) <= limit  # never holds more
    assert recent.oldest_first() == select(letters, limit=limit)


def test_plan_skips_what_was_replayed_and_explains_what_cannot_be() -> None:
    letters = [
        letter(0, 0, "unknown_schema", (DOCS, 0, 1)),
        letter(0, 1, "unknown_schema", (DOCS, 1, 1)),  # replayed before
        letter(1, 0, "undecodable", (DOCS, 2, 1)),
        letter(1, 1, "unknown_schema", ("vp.retired.v1", 0, 1)),
        letter(2, 0, "unknown_schema", (DOCS, 9, 1)),  # the topic has 6 partitions
        letter(2, 1, "unknown_schema", None),
        letter(2, 2, "unknown_schema", ("other.document-issued.v1", 0, 1)),
    ]
    done = Replay((0, 1), "unknown_schema", (DOCS, 1, 1), 1, 0, T0, 40)
    partitions = {DOCS: 6, "other.document-issued.v1": 6}
    result = plan(letters, {(0, 1): done}, partitions, INPUTS, "unknown_schema")
    assert [p.letter.place for p in result.planned] == [(0, 0)]
    assert result.planned[0].topic == DOCS and result.planned[0].partition == 0
    assert result.already == 1
    problems = {what.place: why for what, why in result.errors}
    assert set(problems) == {(1, 1), (2, 0), (2, 1), (2, 2)}
    assert "vp.retired.v1 does not exist" in problems[(1, 1)]
    assert "partition 9 does not exist" in problems[(2, 0)]
    assert "no source headers" in problems[(2, 1)]
    assert "not an input topic" in problems[(2, 2)]
    everything = plan(letters, {(0, 1): done}, partitions, INPUTS, None)
    assert {p.letter.place for p in everything.planned} == {(0, 0), (1, 0)}


def test_plan_finishes_an_interrupted_replay_whatever_the_reason_filter() -> None:
    letters = [letter(0, 0, "undecodable", (DOCS, 3, 1)), letter(0, 1, "unknown_schema")]
    doubtful = Replay((0, 0), "undecodable", (DOCS, 3, 1), 3, 12, None, None)
    gone = Replay((1, 7), "undecodable", (DOCS, 3, 2), 3, 12, None, None)
    result = plan(
        letters, {(0, 0): doubtful}, {DOCS: 6}, INPUTS, "unknown_schema", [doubtful, gone]
    )
    assert {p.letter.place: p.in_doubt for p in result.planned} == {
        (0, 0): doubtful,
        (0, 1): None,
    }
    assert [(what.place, "no longer" in why) for what, why in result.errors] == [((1, 7), True)]


def test_a_replayed_message_rejected_again_is_left_alone_unless_asked() -> None:
    first = letter(0, 0, "unknown_schema", (DOCS, 3, 1))
    again = letter(0, 5, "unknown_schema", (DOCS, 3, 40))  # the replay of 0@0, rejected again
    replays = {(0, 0): Replay((0, 0), "unknown_schema", (DOCS, 3, 1), 3, 30, T0, 40)}
    default = plan([first, again], replays, {DOCS: 6}, INPUTS, None)
    assert (default.planned, default.already, default.rejected_again) == ([], 1, 1)
    forced = plan([first, again], replays, {DOCS: 6}, INPUTS, None, again=True)
    assert [p.letter.place for p in forced.planned] == [(0, 5)]


def test_a_reused_place_is_an_error_not_a_skip() -> None:
    old = Replay((0, 0), "unknown_schema", (DOCS, 5, 5), 5, 0, T0, 3)
    result = plan(
        [letter(0, 0, "unknown_schema", (DOCS, 0, 1))], {(0, 0): old}, {DOCS: 6}, INPUTS, None
    )
    assert not result.planned and result.already == 0
    assert "recreated" in result.errors[0][1]


def test_list_annotations_name_replays_and_their_rejections() -> None:
    first = letter(0, 0, "undecodable", (DOCS, 3, 1))
    again = letter(0, 5, "undecodable", (DOCS, 3, 40))
    replays = {(0, 0): Replay((0, 0), "undecodable", (DOCS, 3, 1), 3, 30, T0, 40)}
    assert annotate(first, replays)["replay"]["new_offset"] == 40
    assert annotate(again, replays)["replay"] is None
    assert annotate(again, replays)["replay_of"] == {"dlq_partition": 0, "dlq_offset": 0}


def test_the_list_table_shows_place_source_reason_and_replay() -> None:
    from rich.console import Console

    first = letter(0, 0, "undecodable", (DOCS, 3, 1))
    again = letter(0, 5, "undecodable", (DOCS, 3, 40))
    replays = {(0, 0): Replay((0, 0), "undecodable", (DOCS, 3, 1), 3, 30, T0, 40)}
    table = render_list([annotate(d, replays) for d in (first, again)], "Dead letters", "vp.")
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    text = console.export_text()
    lines = text.splitlines()[1:]  # below the title
    assert all(line.rstrip()[-1] in "┓┃┩│┼┤┘" for line in lines), text  # nothing cut off
    for needle in ["0@0", "0@5", "document-issued.v1", "[3]@1", "undecodable", "why", "key k"]:
        assert needle in text, needle
    assert "→ [3]@40" in text and "replay of 0@0" in text
    assert "vp.document-issued" not in text  # the prefix is left out


def test_extra_schema_dirs_add_versions_and_refuse_contradictions(tmp_path: Path) -> None:
    extra = v2_schemas(tmp_path / "extra")
    registry = KnownSchemas(extra_roots=extra_schema_dirs(str(extra)))
    assert registry.current("document.issued").version == NEXT
    assert registry.current("meeting.held").version == 1
    clash = tmp_path / "clash" / "v1"
    clash.mkdir(parents=True)
    (clash / "DocumentIssued.avsc").write_text(
        (extra / f"v{NEXT}" / "DocumentIssued.avsc").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    try:
        KnownSchemas(extra_roots=[clash.parent])
    except RuntimeError as exc:
        assert "two different schemas" in str(exc)
    else:
        raise AssertionError("a second, different v1 DocumentIssued was accepted")
    try:
        extra_schema_dirs(str(tmp_path / "missing"))
    except RuntimeError as exc:
        assert "VANPHONG_EXTRA_SCHEMAS_DIR" in str(exc)
    else:
        raise AssertionError("a missing directory was accepted")


# --------------------------------------------------------------------------------------------
# The real commands
# --------------------------------------------------------------------------------------------


#: The version after the shipped current DocumentIssued (schemas/v2 ships one since issue 12).
NEXT = shipped_schemas().current("document.issued").version + 1


def v2_schemas(root: Path) -> Path:
    """A schema root holding only v<NEXT>/DocumentIssued.avsc: the shipped current schema plus
    an optional ``note`` (a version that is not shipped yet)."""
    schema = json.loads(shipped_schemas().current("document.issued").path.read_text("utf-8"))
    schema["fields"].append(
        {"name": "note", "type": ["null", "string"], "default": None, "doc": "test only"}
    )
    (root / f"v{NEXT}").mkdir(parents=True)
    (root / f"v{NEXT}" / "DocumentIssued.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return root


def vanphong(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), *args],
        env={**env.workers.env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def dlq_json(env: Env, *args: str) -> dict[str, Any]:
    done = vanphong(env, "dlq", "list", "--json", "--limit", "0", *args)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def end_offsets(env: Env) -> dict[tuple[str, int], int]:
    async def go() -> dict[tuple[str, int], int]:
        tps = [
            TopicPartition(env.topic(e.topic), p)
            for e in BY_TYPE.values()
            for p in range(e.partitions)
        ]
        async with standalone_consumer(env.settings) as consumer:
            ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): o for tp, o in ends.items()}

    return asyncio.run(go())


def documents_per_unit(env: Env) -> dict[str, int]:
    rows = env.fetch(
        "SELECT unit_id, sum(documents_issued) AS n FROM reporting.unit_activity_daily"
        " GROUP BY unit_id"
    )
    return {r["unit_id"]: r["n"] for r in rows if r["n"]}


def document(i: int, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "document_id": f"doc-{i}",
        "unit_id": unit,
        "number": f"{i}-KH/TU",
        "doc_type": "KE_HOACH",
        "issuing_organ": "BTV Tỉnh ủy",
        "title": f"Kế hoạch {i}",
        "appraised": True,
        "secrecy": "NONE",
        "urgency": "NONE",
        "event_id": f"doc-{i}-r1",
        "occurred_at": f"2024-03-{1 + i % 20:02d}T03:00:00Z",
        "source": "test",
        "revision": 1,
        "voided": False,
        **extra,
    }


def as_datum(event: dict[str, Any]) -> dict[str, Any]:
    """The JSON form's timestamp as the codec wants it."""
    return {**event, "occurred_at": datetime.fromisoformat(event["occurred_at"])}


def send(env: Env, messages: list[Message]) -> None:
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])


def test_dlq_list_shows_each_dead_letter_with_its_reason(env: Env) -> None:
    history = History(31)
    history.units()
    history.invalid()
    messages = history.messages
    send(env, messages)
    env.workers.start()
    env.wait_caught_up()
    invalid = [m for m in messages if m.reason]
    wait_for(lambda: len(env.dead_letters()) == len(invalid), 60, "the dead letters relayed")

    doc = dlq_json(env)
    assert doc["total"] == doc["matching"] == len(invalid)
    assert Counter(d["reason"] for d in doc["dead_letters"]) == Counter(m.reason for m in invalid)
    for d in doc["dead_letters"]:
        assert d["detail"] and d["failed_at"] and d["replay"] is None
        assert d["source"]["topic"] in {env.topic(m.topic) for m in invalid}
    assert {d["key"] for d in doc["dead_letters"]} == {
        None if m.key is None else m.key.decode() for m in invalid
    }

    only = dlq_json(env, "--reason", "undecodable")
    assert {d["reason"] for d in only["dead_letters"]} == {"undecodable"}
    assert only["matching"] == sum(1 for m in invalid if m.reason == "undecodable")

    limited = vanphong(env, "dlq", "list", "--json", "--limit", "2")
    assert len(json.loads(limited.stdout)["dead_letters"]) == 2

    table = vanphong(env, "dlq", "list")
    assert table.returncode == 0, table.stderr
    for reason in {m.reason for m in invalid}:
        assert reason in table.stdout
    assert f"{len(invalid)} shown of {len(invalid)} matching" in table.stdout


def test_dlq_replay_after_registering_the_missing_schema_applies_it_exactly_once(
    env: Env, tmp_path: Path
) -> None:
    extra = v2_schemas(tmp_path / "schemas")
    newer = KnownSchemas(extra_roots=[extra])
    documents = BY_TYPE["document.issued"]
    future = [  # written with v2, which the shipped registry does not know
        Message(
            documents.topic,
            f"doc-{i}".encode(),
            newer.encode(documents, as_datum(document(i, "u-new", note=f"ghi chú {i}"))),
            None,
            "unknown_schema",
        )
        for i in range(12)
    ]
    today = [
        to_message({"type": "document.issued", **document(100 + i, "u-old")}) for i in range(5)
    ]
    garbage = Message(documents.topic, b"junk", b"not avro at all", None, "undecodable")
    send(env, [*future[:6], *today, garbage, *future[6:]])
    env.workers.start()
    env.wait_caught_up()
    wait_for(lambda: len(env.dead_letters()) == 13, 60, "13 dead letters relayed")
    assert documents_per_unit(env) == {"u-old": 5}

    # --dry-run lists them and changes nothing
    before = end_offsets(env)
    dry = vanphong(env, "dlq", "replay", "--reason", "unknown_schema", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would replay 12" in dry.stdout
    assert end_offsets(env) == before
    assert env.fetch("SELECT count(*) AS n FROM core.dlq_replays")[0]["n"] == 0

    # the worker learns v2; the replay re-publishes the 12, each once
    env.workers.stop_all()
    env.workers.extra_env["VANPHONG_EXTRA_SCHEMAS_DIR"] = str(extra)
    env.workers.start()
    done = vanphong(env, "dlq", "replay", "--reason", "unknown_schema")
    assert done.returncode == 0, done.stderr
    assert "replayed 12" in done.stdout
    env.wait_caught_up()
    after_first = end_offsets(env)
    assert sum(after_first.values()) - sum(before.values()) == 12
    assert documents_per_unit(env) == {"u-old": 5, "u-new": 12}
    aggregates = env.fetch("SELECT * FROM reporting.unit_activity_daily ORDER BY 1, 2")
    rows = env.fetch("SELECT * FROM core.dlq_replays WHERE new_offset IS NOT NULL")
    assert len(rows) == 12 and all(r["replayed_at"] for r in rows)
    listed = dlq_json(env, "--reason", "unknown_schema")["dead_letters"]
    assert all(d["replay"]["state"] == "replayed" for d in listed)

    # a second replay sends nothing and changes nothing
    again = vanphong(env, "dlq", "replay", "--reason", "unknown_schema")
    assert again.returncode == 0, again.stderr
    assert "replayed 0, skipped 12 already replayed" in again.stdout
    assert end_offsets(env) == after_first
    env.wait_caught_up()
    assert env.fetch("SELECT * FROM reporting.unit_activity_daily ORDER BY 1, 2") == aggregates

    # replaying everything left sends the undecodable one once; it is dead-lettered again
    rest = vanphong(env, "dlq", "replay")
    assert rest.returncode == 0, rest.stderr
    assert "replayed 1, skipped 12" in rest.stdout
    env.wait_caught_up()
    wait_for(lambda: len(env.dead_letters()) == 14, 60, "the replayed garbage dead-lettered")
    garbage_letters = dlq_json(env, "--reason", "undecodable")["dead_letters"]
    assert sorted(d["replay_of"] is not None for d in garbage_letters) == [False, True]
    assert env.fetch("SELECT * FROM reporting.unit_activity_daily ORDER BY 1, 2") == aggregates

    # its new dead letter is not replayed by default (it would only bounce), but --again does
    before = end_offsets(env)
    left = vanphong(env, "dlq", "replay")
    assert "replayed 0, skipped 13 already replayed, left 1 rejected again" in left.stdout
    assert end_offsets(env) == before
    forced = vanphong(env, "dlq", "replay", "--again")
    assert forced.returncode == 0 and "replayed 1, skipped 13" in forced.stdout
    assert sum(end_offsets(env).values()) == sum(before.values()) + 1


def put_dead_letters(env: Env, letters: list[tuple[tuple[str, int, int], bytes, str]]) -> None:
    """Dead letters written straight to the dead-letter topic (partition 0), as a worker would."""

    async def go() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=env.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for source, value, reason in letters:
                await producer.send_and_wait(
                    env.topic("dead-letter.v1"),
                    value,
                    key=b"k",
                    partition=0,
                    headers=dead_letter_headers(source, reason, "test", T0),
                )
        finally:
            await producer.stop()

    asyncio.run(go())


def replays_of_partition(env: Env, topic: str, partition: int) -> list[bytes]:
    """The replay-of header of every message of a partition that has one."""

    async def go() -> list[bytes]:
        tp = TopicPartition(topic, partition)
        found = []
        async with standalone_consumer(env.settings) as consumer:
            end = (await consumer.end_offsets([tp]))[tp]
            consumer.assign([tp])
            consumer.seek(tp, 0)
            while await consumer.position(tp) < end:
                for m in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    found += [v for k, v in m.headers if k == REPLAY_OF]
        return found

    return asyncio.run(go())


def test_an_interrupted_replay_is_finished_without_sending_anything_twice(env: Env) -> None:
    docs = env.topic("document-issued.v1")
    dlq = env.topic("dead-letter.v1")
    put_dead_letters(
        env,
        [
            ((docs, 1, 100), b"sent-before-the-crash", "unknown_schema"),  # dlq 0@0
            ((docs, 1, 101), b"never-sent", "unknown_schema"),  # dlq 0@1
            ((env.topic("retired.v1"), 0, 7), b"topic-gone", "unknown_schema"),  # dlq 0@2
            ((docs, 2, 102), b"fresh", "unknown_schema"),  # dlq 0@3
        ],
    )
    # a replay that crashed: both rows committed in doubt, only the first message produced
    env.fetch(
        "INSERT INTO core.dlq_replays (dlq_partition, dlq_offset, reason, source_topic,"
        " source_partition, source_offset, target_partition, scan_from) VALUES"
        " (0, 0, 'unknown_schema', $1, 1, 100, 1, 0), (0, 1, 'unknown_schema', $1, 1, 101, 1, 0)",
        docs,
    )

    async def crashed_replay() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=env.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                docs,
                b"sent-before-the-crash",
                key=b"k",
                partition=1,
                headers=[(REPLAY_OF, replay_marker(dlq, (0, 0)))],
            )
        finally:
            await producer.stop()

    asyncio.run(crashed_replay())

    with psycopg.connect(env.settings.database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, 0)", (_LOCK_CLASS,))  # a replay in progress
        busy = vanphong(env, "dlq", "replay")
    assert busy.returncode == 1 and "another `vanphong dlq replay` is running" in busy.stderr
    assert env.fetch("SELECT count(*) AS n FROM core.dlq_replays")[0]["n"] == 2

    dry = vanphong(env, "dlq", "replay", "--dry-run")
    assert dry.returncode == 1  # the retired topic is an error
    assert "(in doubt)" in dry.stdout and "retired.v1 does not exist" in dry.stderr

    done = vanphong(env, "dlq", "replay")
    assert done.returncode == 1, done.stderr  # one error, the rest replayed
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert "recorded 1 interrupted replay(s)" in done.stdout
    assert "replayed 2" in done.stdout  # the never-sent one and the fresh one
    markers = replays_of_partition(env, docs, 1) + replays_of_partition(env, docs, 2)
    assert sorted(markers) == sorted(replay_marker(dlq, p) for p in [(0, 0), (0, 1), (0, 3)])
    rows = env.fetch("SELECT dlq_offset, new_offset FROM core.dlq_replays ORDER BY 1")
    assert [r["dlq_offset"] for r in rows] == [0, 1, 3]
    assert all(r["new_offset"] is not None for r in rows)

    again = vanphong(env, "dlq", "replay")
    assert "replayed 0, skipped 3 already replayed" in again.stdout
    assert replays_of_partition(env, docs, 1) + replays_of_partition(env, docs, 2) == markers
