"""``vanphong dlq list`` and ``dlq replay``: inspect the dead-letter topic, and re-publish dead
letters to their source topic, each at most once (docs/operations.md, "Dead letters").

The dead-letter topic is the interface (CONTRACT.md §6): both commands read its messages and
headers, not PostgreSQL's outbox. PostgreSQL records the replays (``core.dlq_replays``).

Never twice, even if interrupted: a replay row is committed *before* its message is produced
("in doubt": ``new_offset`` NULL), the message is produced (acks=all, idempotent producer) to a
partition fixed in advance (the source partition), with a header ``vanphong.replay.of`` naming
the dead letter, and its offset is recorded afterwards. A later replay first resolves in-doubt
rows by reading the target partition from ``scan_from`` (its end offset before producing): a
message carrying the header is the earlier replay, so it is recorded, not sent again. One replay
at a time holds a PostgreSQL advisory lock, so no replay can be in flight while another reads.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from rich.table import Table
from rich.text import Text

from schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES
from streams.deadletters import DETAIL, FAILED_AT, REASON, Source, source_of
from vanphong.kafka import admin_client, partition_counts, standalone_consumer
from vanphong.settings import Settings
from vanphong.status import (
    DATABASE_ERRORS,
    KAFKA_ERRORS,
    PG_TIMEOUT_S,
    database_error,
    kafka_error,
)

REPLAY_OF = "vanphong.replay.of"  # header on a replayed message: "<dlq topic>:<partition>:<offset>"
CHUNK = 500  # dead letters recorded, produced and confirmed per round
_LOCK_CLASS = 0x5650_5250  # "VPRP": the advisory-lock namespace of `dlq replay`

Place = tuple[int, int]  # (dead-letter partition, offset): the identity of a dead letter


class ReplayBusyError(RuntimeError):
    """Another ``dlq replay`` holds the lock on this database."""


# --------------------------------------------------------------------------------------------
# Reading the dead-letter topic
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    partition: int  # on the dead-letter topic
    offset: int
    timestamp: datetime  # when it reached the dead-letter topic
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def place(self) -> Place:
        return (self.partition, self.offset)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", errors="replace")
        return None

    @property
    def reason(self) -> str:
        return self.header(REASON) or "?"

    @property
    def detail(self) -> str:
        return self.header(DETAIL) or ""

    @property
    def source(self) -> Source | None:
        return source_of(list(self.headers))

    @property
    def failed_at(self) -> datetime:
        """The ``vanphong.failed_at`` header, or the message timestamp if it is unusable."""
        raw = self.header(FAILED_AT)
        if raw:
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                pass
            else:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return self.timestamp

    @property
    def key_text(self) -> str | None:
        return show_bytes(self.key)

    def as_json(self) -> dict[str, Any]:
        source = self.source
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "key": self.key_text,
            "reason": self.reason,
            "detail": self.detail,
            "source": None
            if source is None
            else {"topic": source[0], "partition": source[1], "offset": source[2]},
            "failed_at": self.failed_at.isoformat(),
            "value_bytes": None if self.value is None else len(self.value),
        }


def show_bytes(data: bytes | None) -> str | None:
    """A key as text: UTF-8 if it is, else ``0x`` + hex; None stays None."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()


async def read_dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every message now on the dead-letter topic, in (partition, offset) order."""
    topic = settings.topic(DEAD_LETTER_TOPIC)
    async with admin_client(settings.kafka_bootstrap) as admin:
        counts = await partition_counts(admin, [topic])
    if topic not in counts:
        raise LookupError(f"topic {topic} does not exist (run `vanphong init`)")
    tps = [TopicPartition(topic, p) for p in range(counts[topic])]
    out: list[DeadLetter] = []
    async with standalone_consumer(settings.kafka_bootstrap) as consumer:
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        todo = [tp for tp in tps if starts[tp] < ends[tp]]
        if not todo:
            return out
        consumer.assign(todo)
        for tp in todo:
            consumer.seek(tp, starts[tp])
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000)
            for tp, messages in batches.items():
                for m in messages:
                    if m.offset < ends[tp]:
                        out.append(
                            DeadLetter(
                                partition=tp.partition,
                                offset=m.offset,
                                timestamp=datetime.fromtimestamp(m.timestamp / 1000, UTC),
                                key=m.key,
                                value=m.value,
                                headers=tuple(m.headers),
                            )
                        )
            todo = [tp for tp in todo if await consumer.position(tp) < ends[tp]]
    out.sort(key=lambda d: d.place)
    return out


def select(
    letters: Iterable[DeadLetter], reason: str | None = None, limit: int | None = None
) -> list[DeadLetter]:
    """Those with ``reason`` (all if None), oldest first; with ``limit``, the most recent N."""
    chosen = sorted(
        (d for d in letters if reason is None or d.reason == reason),
        key=lambda d: (d.failed_at, d.partition, d.offset),
    )
    if limit is not None and limit > 0:
        chosen = chosen[-limit:]
    return chosen


# --------------------------------------------------------------------------------------------
# What PostgreSQL knows about replays
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """A row of ``core.dlq_replays``."""

    place: Place
    reason: str
    source: Source
    target_partition: int
    scan_from: int
    replayed_at: datetime | None
    new_offset: int | None

    @property
    def in_doubt(self) -> bool:
        return self.new_offset is None

    @property
    def new_place(self) -> tuple[str, int, int] | None:
        """Where the replayed message is (a dead letter naming it there was rejected again)."""
        if self.new_offset is None:
            return None
        return (self.source[0], self.target_partition, self.new_offset)


async def _connect(settings: Settings) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(settings.database_url, timeout=PG_TIMEOUT_S)
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc


async def _replays(conn: asyncpg.Connection, settings: Settings) -> dict[Place, Replay]:
    try:
        rows = await conn.fetch(
            "SELECT dlq_partition, dlq_offset, reason, source_topic, source_partition,"
            " source_offset, target_partition, scan_from, replayed_at, new_offset"
            " FROM core.dlq_replays"
        )
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    return {
        (r["dlq_partition"], r["dlq_offset"]): Replay(
            place=(r["dlq_partition"], r["dlq_offset"]),
            reason=r["reason"],
            source=(r["source_topic"], r["source_partition"], r["source_offset"]),
            target_partition=r["target_partition"],
            scan_from=r["scan_from"],
            replayed_at=r["replayed_at"],
            new_offset=r["new_offset"],
        )
        for r in rows
    }


async def replays_of(settings: Settings) -> dict[Place, Replay]:
    """``core.dlq_replays`` by dead letter (for ``dlq list``)."""
    conn = await _connect(settings)
    try:
        return await _replays(conn, settings)
    finally:
        await conn.close()


def annotate(letter: DeadLetter, replays: dict[Place, Replay]) -> dict[str, Any]:
    """``as_json`` plus what the replays say: replayed when and where, and whether this dead
    letter is a replayed message that was rejected again."""
    out = letter.as_json()
    replay = replays.get(letter.place)
    out["replay"] = (
        None
        if replay is None or replay.source != letter.source
        else {
            "state": "in_doubt" if replay.in_doubt else "replayed",
            "replayed_at": None if replay.replayed_at is None else replay.replayed_at.isoformat(),
            "new_offset": replay.new_offset,
            "target_partition": replay.target_partition,
        }
    )
    again = {r.new_place: r.place for r in replays.values() if r.new_place is not None}
    origin = again.get(letter.source) if letter.source is not None else None
    out["replay_of"] = (
        None if origin is None else {"dlq_partition": origin[0], "dlq_offset": origin[1]}
    )
    return out


def render_list(rows: Sequence[dict[str, Any]], title: str, prefix: str) -> Table:
    """The table of ``dlq list`` from :func:`annotate`'d rows; source topics lose ``prefix``."""
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("dead letter\nfailed at", no_wrap=True)
    table.add_column("source\nkey", overflow="fold")
    table.add_column("reason\ndetail", overflow="fold", min_width=16)
    table.add_column("replayed", overflow="fold")
    for row in rows:
        src = row["source"]
        source = (
            "–"
            if src is None
            else f"{src['topic'].removeprefix(prefix)}\n[{src['partition']}]@{src['offset']}"
        )
        key = "no key" if row["key"] is None else f"key {row['key']}"
        replay = row["replay"]
        state = Text("–")
        if replay is not None and replay["state"] == "in_doubt":
            state = Text("in doubt", style="yellow")
        elif replay is not None:
            state = Text(f"→ [{replay['target_partition']}]@{replay['new_offset']}", style="green")
        if row["replay_of"] is not None:
            origin = row["replay_of"]
            state.append(f"\nrejected again:\nreplay of {origin['dlq_partition']}@")
            state.append(f"{origin['dlq_offset']}")
        failed_at = row["failed_at"][5:19].replace("T", " ")  # MM-DD hh:mm:ss
        table.add_row(
            f"{row['dlq_partition']}@{row['dlq_offset']}\n{failed_at}",
            Text(f"{source}\n{key}"),
            Text.assemble((row["reason"], "bold"), "\n", (row["detail"], "dim")),
            state,
        )
    return table


# --------------------------------------------------------------------------------------------
# Replaying
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    letter: DeadLetter
    topic: str
    partition: int
    in_doubt: Replay | None = None  # set: a row exists, not found on the topic: send it now


@dataclass
class ReplayResult:
    planned: list[Planned] = field(default_factory=list)
    already: int = 0  # matching dead letters replayed before: skipped
    rejected_again: int = 0  # dead letters of replayed messages, left alone (without --again)
    in_doubt: list[Replay] = field(default_factory=list)  # rows found in doubt at the start
    recovered: int = 0  # in-doubt rows whose message was on the topic: recorded, not re-sent
    sent: list[tuple[Planned, int]] = field(default_factory=list)  # (what, new offset)
    errors: list[tuple[DeadLetter | Replay, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def plan(
    letters: Sequence[DeadLetter],
    replays: dict[Place, Replay],
    partitions: dict[str, int],
    input_topics: Sequence[str],
    reason: str | None,
    unresolved: Sequence[Replay] = (),
    again: bool = False,
) -> ReplayResult:
    """What to replay: pure, so ``--dry-run`` and the real thing decide alike.

    ``partitions`` are the existing topics' partition counts; ``unresolved`` are in-doubt rows
    whose message is not on the topic (they are sent whatever ``reason`` says, to finish an
    earlier replay). A dead letter of a message that a replay re-published (rejected again) is
    left alone unless ``again``: replaying it would only dead-letter it once more, unless what
    rejected it has been fixed since.
    """
    result = ReplayResult()
    replayed_to = {r.new_place: r.place for r in replays.values() if r.new_place is not None}
    by_place = {d.place: d for d in letters}
    for row in unresolved:
        letter = by_place.get(row.place)
        if letter is None:
            result.errors.append((row, "the dead letter is no longer on the dead-letter topic"))
            continue
        result.planned.append(Planned(letter, row.source[0], row.target_partition, row))
    pending = {r.place for r in unresolved}
    for letter in select(letters, reason):
        if letter.place in pending:
            continue
        replay = replays.get(letter.place)
        if replay is not None:
            if replay.source == letter.source:
                result.already += 1
            else:  # the place was reused: the dead-letter topic was deleted and recreated
                result.errors.append(
                    (
                        letter,
                        f"a replay of {replay.source} is recorded for this dead letter's place; "
                        "was the dead-letter topic recreated? (see docs/operations.md)",
                    )
                )
            continue
        if not again and letter.source in replayed_to:
            result.rejected_again += 1
            continue
        problem, target = _target(letter, partitions, input_topics)
        if problem is not None:
            result.errors.append((letter, problem))
            continue
        assert target is not None
        result.planned.append(Planned(letter, *target))
    result.planned.sort(key=lambda p: (p.topic, p.partition, p.letter.source or ()))
    return result


def _target(
    letter: DeadLetter, partitions: dict[str, int], input_topics: Sequence[str]
) -> tuple[str | None, tuple[str, int] | None]:
    source = letter.source
    if source is None:
        return "no source headers (vanphong.source.*): cannot tell where it came from", None
    topic, partition, _ = source
    if topic not in partitions:
        return f"source topic {topic} does not exist (any more)", None
    if topic not in input_topics:
        return f"source topic {topic} is not an input topic of this prefix", None
    if partition >= partitions[topic]:
        return (
            f"source partition {partition} does not exist ({topic} has {partitions[topic]})",
            None,
        )
    return None, (topic, partition)


def replay_marker(topic: str, place: Place) -> bytes:
    return f"{topic}:{place[0]}:{place[1]}".encode()


async def _find_replayed(
    settings: Settings, rows: Sequence[Replay], dlq_topic: str
) -> dict[Place, int]:
    """For in-doubt rows: where their message already is, if it is (read from scan_from)."""
    wanted: dict[tuple[str, int], dict[bytes, Place]] = defaultdict(dict)
    start: dict[tuple[str, int], int] = {}
    for row in rows:
        tp = (row.source[0], row.target_partition)
        wanted[tp][replay_marker(dlq_topic, row.place)] = row.place
        start[tp] = min(start.get(tp, row.scan_from), row.scan_from)
    found: dict[Place, int] = {}
    if not wanted:
        return found
    async with admin_client(settings.kafka_bootstrap) as admin:
        counts = await partition_counts(admin, sorted({t for t, _ in wanted}))
    tps = [TopicPartition(t, p) for t, p in wanted if p < counts.get(t, 0)]
    if not tps:
        return found
    async with standalone_consumer(settings.kafka_bootstrap) as consumer:
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        todo = [tp for tp in tps if max(start[(tp.topic, tp.partition)], begins[tp]) < ends[tp]]
        if not todo:
            return found
        consumer.assign(todo)
        for tp in todo:
            consumer.seek(tp, max(start[(tp.topic, tp.partition)], begins[tp]))
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000)
            for tp, messages in batches.items():
                markers = wanted[(tp.topic, tp.partition)]
                for m in messages:
                    for key, value in m.headers:
                        if key == REPLAY_OF and value in markers:
                            found[markers[value]] = m.offset
            todo = [tp for tp in todo if await consumer.position(tp) < ends[tp]]
    return found


async def replay(
    settings: Settings,
    reason: str | None = None,
    dry_run: bool = False,
    again: bool = False,
    on_planned: Callable[[int], None] | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay the dead letters with ``reason`` (all if None) that were never replayed (and,
    with ``again``, those of replayed messages that were rejected again).

    ``on_planned(n)`` is called once the number to send is known, ``on_sent(k)`` as messages are
    confirmed. With ``dry_run`` nothing is locked, sent or written.
    """
    dlq_topic = settings.topic(DEAD_LETTER_TOPIC)
    inputs = [settings.topic(e.topic) for e in EVENT_TYPES]
    conn = await _connect(settings)
    try:
        if not dry_run:
            locked = await conn.fetchval("SELECT pg_try_advisory_lock($1, 0)", _LOCK_CLASS)
            if not locked:
                raise ReplayBusyError(
                    "another `vanphong dlq replay` is running against this database; "
                    "wait for it to finish"
                )
        replays = await _replays(conn, settings)
        try:
            letters = await read_dead_letters(settings)
            async with admin_client(settings.kafka_bootstrap) as admin:
                named = {d.source[0] for d in letters if d.source is not None}
                partitions = await partition_counts(admin, sorted({*inputs, *named}))
            doubtful = [r for r in replays.values() if r.in_doubt]
            found = {} if dry_run else await _find_replayed(settings, doubtful, dlq_topic)
        except KAFKA_ERRORS as exc:
            raise kafka_error(exc, settings.kafka_bootstrap) from exc

        if found:
            await _record(conn, [(place, offset) for place, offset in found.items()])
        unresolved = [r for r in doubtful if r.place not in found]
        result = plan(letters, replays, partitions, inputs, reason, unresolved, again)
        result.in_doubt = doubtful
        result.recovered = len(found)
        if on_planned is not None:
            on_planned(len(result.planned))
        if dry_run or not result.planned:
            return result
        try:
            await _send(conn, settings, dlq_topic, result, on_sent)
        except KAFKA_ERRORS as exc:
            raise kafka_error(exc, settings.kafka_bootstrap) from exc
        return result
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    finally:
        await conn.close()  # also releases the advisory lock


async def _record(conn: asyncpg.Connection, done: Sequence[tuple[Place, int]]) -> None:
    await conn.executemany(
        "UPDATE core.dlq_replays SET new_offset = $3, replayed_at = now()"
        " WHERE dlq_partition = $1 AND dlq_offset = $2 AND new_offset IS NULL",
        [(p, o, offset) for (p, o), offset in done],
    )


async def _send(
    conn: asyncpg.Connection,
    settings: Settings,
    dlq_topic: str,
    result: ReplayResult,
    on_sent: Callable[[int], None] | None,
) -> None:
    targets = sorted({TopicPartition(p.topic, p.partition) for p in result.planned})
    async with standalone_consumer(settings.kafka_bootstrap) as consumer:
        ends = await consumer.end_offsets(targets)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for start in range(0, len(result.planned), CHUNK):
            chunk = result.planned[start : start + CHUNK]
            # 1. commit "in doubt" rows before anything is produced
            fresh = [p for p in chunk if p.in_doubt is None]
            async with conn.transaction():
                inserted = await conn.fetch(
                    "INSERT INTO core.dlq_replays (dlq_partition, dlq_offset, reason,"
                    " source_topic, source_partition, source_offset, target_partition, scan_from)"
                    " SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[],"
                    " $5::int[], $6::bigint[], $7::int[], $8::bigint[])"
                    " ON CONFLICT DO NOTHING RETURNING dlq_partition, dlq_offset",
                    [p.letter.partition for p in fresh],
                    [p.letter.offset for p in fresh],
                    [p.letter.reason for p in fresh],
                    [_source(p)[0] for p in fresh],
                    [_source(p)[1] for p in fresh],
                    [_source(p)[2] for p in fresh],
                    [p.partition for p in fresh],
                    [ends[TopicPartition(p.topic, p.partition)] for p in fresh],
                )
            mine = {(r["dlq_partition"], r["dlq_offset"]) for r in inserted}
            go = [p for p in chunk if p.in_doubt is not None or p.letter.place in mine]
            result.already += len(chunk) - len(go)
            # 2. produce, each to its fixed partition, marked with the dead letter it replays
            futures = []
            for p in go:
                future = await producer.send(
                    p.topic,
                    p.letter.value,
                    key=p.letter.key,
                    partition=p.partition,
                    headers=[(REPLAY_OF, replay_marker(dlq_topic, p.letter.place))],
                )
                if on_sent is not None:
                    future.add_done_callback(lambda _f: on_sent(1))
                futures.append(future)
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            # 3. record where each landed; failures stay in doubt for the next replay
            done: list[tuple[Place, int]] = []
            for p, outcome in zip(go, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    result.errors.append(
                        (p.letter, f"not sent: {type(outcome).__name__}: {outcome}")
                    )
                else:
                    done.append((p.letter.place, outcome.offset))
                    result.sent.append((p, outcome.offset))
            async with conn.transaction():
                await _record(conn, done)
            if len(done) < len(go):
                return  # Kafka refuses: stop; the rest stays for the next replay
    finally:
        await producer.stop()


def _source(p: Planned) -> Source:
    source = p.letter.source
    assert source is not None  # plan() only keeps dead letters that name their source
    return source
