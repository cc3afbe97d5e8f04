"""Each dead letter is on the dead-letter topic once, also when PostgreSQL goes back in time
(CONTRACT.md §6, v1.2; streams/deadletters.py, streams/landed.py).

PostgreSQL "goes back in time" here without a standby: the rows are put back from a copy taken
earlier in the test, as a restored backup would put them back (the fault tests of
tests/test_failover.py do it with a real standby). The relay runs in this process on the real
broker and database; the outbox rows are written as the sink writes them.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from testkit.history import History
from tests.conftest import Env, _create_database, _drop_database, wait_for
from tests.test_dlq import end_offsets, put_dead_letters, replays_of_partition, send, vanphong
from vanphong.core.deadletter import dead_letter_headers, source_of, topic_id_of
from vanphong.dlq import replay_marker
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC
from vanphong.streams.deadletters import DeadLetterRelay

OLD_ID = "0b6a1f2e-1111-4111-8111-000000000001"
NEW_ID = "0b6a1f2e-2222-4222-8222-000000000002"
T0 = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)


async def outbox(conn: asyncpg.Connection, topic: str, sources: list[tuple[int, int]]) -> None:
    """Dead letters of ``topic`` at (partition, offset), written as the sink writes them."""
    await conn.executemany(
        'INSERT INTO core.dead_letters (topic, partition, "offset", key, value, reason, detail,'
        " failed_at, dlq_partition) VALUES ($1, $2, $3, $4, $5, 'undecodable', 'test', $6, $7)",
        [
            (topic, p, o, b"k", b"bad %d/%d" % (p, o), T0.replace(second=i % 60), p % 3)
            for i, (p, o) in enumerate(sources)
        ],
    )


async def topic_id_of_partitions(conn: asyncpg.Connection, topic: str, topic_id: str) -> None:
    await conn.execute(
        "INSERT INTO core.sink_offsets (topic, partition, next_offset, topic_id)"
        " SELECT $1, p, 0, $2::uuid FROM generate_series(0, 5) AS p"
        " ON CONFLICT (topic, partition) DO UPDATE SET topic_id = excluded.topic_id",
        topic,
        topic_id,
    )


def on_topic(env: Env) -> Counter[tuple[Any, ...]]:
    """Each dead letter on the topic: (source, source topic id) → how many times."""
    return Counter((source_of(m.headers), topic_id_of(m.headers)) for m in env.dead_letters())


def test_a_dead_letter_already_on_the_topic_is_not_sent_again_when_postgresql_forgot_it(
    env: Env,
) -> None:
    docs = env.topic("document-issued.v1")
    settings = env.settings.model_copy(update={"relay_timeout_s": 5.0})
    first = [(p, 10 + p) for p in range(6)]  # a dead letter in each source partition
    later = [(p, o) for p in range(6) for o in (20 + p, 30 + p)]
    fresh = [(p, 40 + p) for p in range(6)]

    async def scenario() -> None:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
        assert pool is not None
        try:
            async with pool.acquire() as conn:
                await topic_id_of_partitions(conn, docs, OLD_ID)
                await outbox(conn, docs, first)
                relay = DeadLetterRelay(pool, settings)
                assert (await relay.relay()).sent == 6
                # the backup: taken here
                await conn.execute("CREATE TABLE backup AS SELECT * FROM core.dead_letters")
                await outbox(conn, docs, later)
                assert (await relay.relay()).sent == 12
                await relay.stop()

                # restored: the rows of `later` are gone, and the worker (a new process) reads
                # their messages again; it writes their dead letters back in two batches, the
                # last-sent first, so that the first round's findings lie past the others'
                await conn.execute(
                    "DELETE FROM core.dead_letters;"
                    " INSERT INTO core.dead_letters SELECT * FROM backup"
                )
                relay = DeadLetterRelay(pool, settings)
                await outbox(conn, docs, [s for s in later if s[1] >= 30])
                done = await relay.relay()
                assert (done.sent, done.recovered) == (0, 6)
                await outbox(conn, docs, [s for s in later if s[1] < 30] + fresh)
                done = await relay.relay()
                assert (done.sent, done.recovered) == (6, 6)
                await relay.stop()
        finally:
            await pool.close()

    asyncio.run(scenario())
    letters = on_topic(env)
    assert set(letters.values()) == {1}  # each once
    assert {s for s, _ in letters} == {(docs, p, o) for p, o in first + later + fresh}
    rows = env.fetch(
        'SELECT topic, partition, "offset", dlq_partition, dlq_offset FROM core.dead_letters'
        " WHERE sent_at IS NOT NULL"
    )
    assert len(rows) == 6 + 12 + 6
    places = {(m.partition, m.offset): source_of(m.headers) for m in env.dead_letters()}
    for r in rows:  # each row records where its dead letter is
        source = (r["topic"], r["partition"], r["offset"])
        assert places[(r["dlq_partition"], r["dlq_offset"])] == source


def put_legacy_letter(env: Env, source: tuple[str, int, int]) -> int:
    """A dead letter as workers wrote them before the topic-id header; returns its offset."""

    async def go() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=env.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                env.topic(DEAD_LETTER_TOPIC),
                b"legacy",
                key=b"k",
                partition=source[1] % 3,
                headers=dead_letter_headers(source, "undecodable", "old", T0),
            )
            offset: int = sent.offset
            return offset
        finally:
            await producer.stop()

    return asyncio.run(go())


def test_a_recreated_source_topic_gets_dead_letters_for_its_new_messages_at_old_coordinates(
    env: Env,
) -> None:
    docs = env.topic("document-issued.v1")
    settings = env.settings.model_copy(update={"relay_timeout_s": 5.0})
    renamed_legacy = put_legacy_letter(env, (docs, 1, 5))  # its row is known: renamed below
    put_legacy_letter(env, (docs, 4, 6))  # its row is not known any more

    async def scenario() -> None:
        conn = await asyncpg.connect(settings.database_url)
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            await conn.execute(
                'INSERT INTO core.dead_letters (topic, partition, "offset", reason, detail,'
                " failed_at, dlq_partition, dlq_offset, sent_at)"
                " VALUES ($1, 1, 5, 'undecodable', 'old', now(), 1, $2, now())",
                docs,
                renamed_legacy,
            )
            await topic_id_of_partitions(conn, docs, OLD_ID)
            await outbox(conn, docs, [(2, 7)])
            relay = DeadLetterRelay(pool, settings)
            assert (await relay.relay()).sent == 1
            # the topic is deleted and created again: the sink renames the sent rows and
            # stores the new id (sinks/postgres.py); offsets restart at 0
            await conn.execute(
                "UPDATE core.dead_letters SET topic = topic || '@' || $2"
                " WHERE topic = $1 AND sent_at IS NOT NULL",
                docs,
                OLD_ID,
            )
            # a dead letter of the old topic not sent yet, its row renamed too: it is sent as
            # the old topic's (the name it had, the old id)
            await outbox(conn, docs, [(5, 9)])
            await conn.execute(
                "UPDATE core.dead_letters SET topic = topic || '@' || $2"
                ' WHERE topic = $1 AND partition = 5 AND "offset" = 9',
                docs,
                OLD_ID,
            )
            await topic_id_of_partitions(conn, docs, NEW_ID)
            await outbox(conn, docs, [(1, 5), (2, 7), (4, 6), (5, 9)])
            done = await relay.relay()
            # (1, 5), (2, 7) and (5, 9) are new messages; (4, 6)'s legacy letter has no known
            # life, so the relay errs towards never sending twice
            assert (done.sent, done.recovered) == (4, 1)
            await relay.stop()
        finally:
            await pool.close()
            await conn.close()

    asyncio.run(scenario())
    assert on_topic(env) == Counter(
        {
            ((docs, 1, 5), None): 1,
            ((docs, 4, 6), None): 1,
            ((docs, 2, 7), OLD_ID): 1,
            ((docs, 1, 5), NEW_ID): 1,
            ((docs, 2, 7), NEW_ID): 1,
            ((docs, 5, 9), OLD_ID): 1,
            ((docs, 5, 9), NEW_ID): 1,
        }
    )


def test_a_replay_the_ledger_forgot_is_found_on_its_target_and_not_published_again(
    env: Env,
) -> None:
    docs = env.topic("document-issued.v1")
    dlq = env.topic(DEAD_LETTER_TOPIC)
    put_dead_letters(
        env,
        [
            ((docs, 1, 100), b"a", "unknown_schema"),  # dlq 0@0
            ((docs, 2, 101), b"b", "unknown_schema"),  # dlq 0@1
            ((docs, 1, 102), b"c", "undecodable"),  # dlq 0@2
            ((docs, 3, 103), b"d", "undecodable"),  # dlq 0@3
        ],
    )
    first = vanphong(env, "dlq", "replay", "--reason", "unknown_schema")
    assert first.returncode == 0 and "replayed 2" in first.stdout, first.stderr
    env.fetch("CREATE TABLE ledger_backup AS SELECT * FROM core.dlq_replays")  # the backup
    second = vanphong(env, "dlq", "replay", "--reason", "undecodable")
    assert second.returncode == 0 and "replayed 2" in second.stdout, second.stderr

    def markers() -> list[bytes]:
        return sorted(m for p in (1, 2, 3) for m in replays_of_partition(env, docs, p))

    published = markers()
    assert published == sorted(replay_marker(dlq, (0, o)) for o in range(4))
    # the replay of c was rejected again, as a worker would: a dead letter naming the replay
    bounced = env.fetch("SELECT new_offset FROM core.dlq_replays WHERE dlq_offset = 2")
    put_dead_letters(env, [((docs, 1, bounced[0]["new_offset"]), b"c", "undecodable")])  # 0@4
    rows = env.fetch("SELECT dlq_offset, new_offset FROM core.dlq_replays ORDER BY 1")

    # restored: the ledger forgets the second replay
    env.fetch("DELETE FROM core.dlq_replays")
    env.fetch("INSERT INTO core.dlq_replays SELECT * FROM ledger_backup")
    dry = vanphong(env, "dlq", "replay", "--dry-run")
    assert dry.returncode == 0 and "would replay 0" in dry.stdout, dry.stdout + dry.stderr
    again = vanphong(env, "dlq", "replay")
    assert again.returncode == 0, again.stderr
    assert "replayed 0, skipped 4 already replayed (2 found on the topic" in again.stdout
    assert "left 1 rejected again" in again.stdout
    assert markers() == published  # nothing published twice
    assert env.fetch("SELECT dlq_offset, new_offset FROM core.dlq_replays ORDER BY 1") == rows

    # the ledger lost altogether; a new dead letter meanwhile is replayed, once
    env.fetch("DELETE FROM core.dlq_replays")
    put_dead_letters(env, [((docs, 2, 104), b"e", "undecodable")])  # dlq 0@5
    last = vanphong(env, "dlq", "replay")
    assert last.returncode == 0, last.stderr
    assert "replayed 1, skipped 4 already replayed (4 found on the topic" in last.stdout
    assert "left 1 rejected again" in last.stdout
    assert markers() == sorted([*published, replay_marker(dlq, (0, 5))])


def test_after_a_backup_is_restored_every_rejected_message_is_on_the_topic_once(
    env: Env, tmp_path: Path
) -> None:
    """A worker on bad input; a backup (pg_dump) mid-stream; more bad input, dead-lettered; the
    backup restored (pg_restore) while the worker is stopped, so PostgreSQL forgot the later dead
    letters and the offsets that read them; more bad input; a worker again."""
    env.workers.extra_env.update(
        {"VANPHONG_BATCH_MAX_EVENTS": "4", "VANPHONG_RELAY_INTERVAL_S": "0.2"}
    )
    rejected = 0

    def stream(seed: int) -> None:
        nonlocal rejected
        history = History(seed)
        history.units()
        for i in range(12):
            history.document(seed * 100 + i)
        history.invalid()
        send(env, history.messages)
        rejected += sum(1 for m in history.messages if m.reason)

    def relayed() -> None:
        def done() -> bool:
            unsent = env.fetch("SELECT count(*) AS n FROM core.dead_letters WHERE sent_at IS NULL")
            return unsent[0]["n"] == 0 and len(env.dead_letters()) >= rejected

        env.wait_caught_up()
        wait_for(done, 120, "every dead letter relayed")

    stream(1)
    env.workers.start()
    relayed()
    backup = tmp_path / "backup.dump"
    dump = subprocess.run(
        ["pg_dump", "-Fc", "-f", str(backup), "-d", env.settings.database_url],
        capture_output=True,
        text=True,
    )
    assert dump.returncode == 0, dump.stderr
    stream(2)
    relayed()
    env.workers.stop_all()

    restore(env, backup)
    stream(3)
    worker = env.workers.start()
    relayed()

    letters = Counter(source_of(m.headers) for m in env.dead_letters())
    assert len(letters) == rejected and set(letters.values()) == {1}, letters.most_common(3)
    rows = env.fetch("SELECT count(*) AS n FROM core.dead_letters WHERE sent_at IS NOT NULL")
    assert rows[0]["n"] == rejected
    # CONTRACT.md §6: consumed = applied + unchanged + dead-lettered, for every input topic
    ends: Counter[str] = Counter()
    for (topic, _), end in end_offsets(env).items():
        ends[topic] += end
    counted = env.fetch(
        "SELECT topic, applied + unchanged + dead_lettered AS n, dead_lettered FROM"
        " core.topic_counters"
    )
    assert {r["topic"]: r["n"] for r in counted} == {t: n for t, n in ends.items() if n}
    assert sum(r["dead_lettered"] for r in counted) == rejected
    assert worker.poll() is None


def restore(env: Env, backup: Path) -> None:
    """Put the test's database back as ``backup`` has it (no worker connected)."""
    admin = Settings().database_url
    name = env.settings.database_url.rsplit("/", 1)[1]

    async def recreate() -> None:
        await _drop_database(admin, name)
        await _create_database(admin, name)

    asyncio.run(recreate())
    done = subprocess.run(
        ["pg_restore", "--exit-on-error", "-d", env.settings.database_url, str(backup)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
