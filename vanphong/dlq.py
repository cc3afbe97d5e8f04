"""``vanphong dlq list`` and ``dlq replay``: inspect the dead-letter topic, and re-publish dead
letters to their source topic, each at most once (docs/operations.md, "Dead letters").

The dead-letter topic is the interface (CONTRACT.md §6): both commands read its messages and
headers, not PostgreSQL's outbox. PostgreSQL records the replays (``core.dlq_replays``).

Never twice, even if interrupted: a replay row is committed *before* its message is produced
("in doubt": ``new_offset`` NULL), the message is produced (acks=all, idempotent producer) to a
partition fixed in advance (the source partition), with a header ``vanphong.replay.of`` naming
the dead letter, and its offset is recorded afterwards. A later replay first resolves in-doubt
rows by reading the target partition from ``scan_from`` (its end offset before producing): a
message carrying the header is the earlier replay, so it is recorded, not sent again (the
recovery rule of vanphong/tail.py, the one the dead-letter relay follows too). One replay at a
time holds a PostgreSQL advisory lock, so no replay can be in flight while another reads.

Both commands stream the topic (:func:`dead_letter_chunks`): partition by partition, in chunks
of at most :data:`CHUNK` dead letters; ``list`` keeps only the ``--limit`` most recent, and
``replay`` plans, records and sends each chunk before it reads the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.table import Table
from rich.text import Text

from schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES
from streams.deadletters import DETAIL, FAILED_AT, REASON, Source, source_of
from vanphong.kafka import admin_client, partition_counts
from vanphong.settings import Settings
from vanphong.status import (
    DATABASE_ERRORS,
    KAFKA_ERRORS,
    PG_TIMEOUT_S,
    database_error,
    kafka_error,
)
from vanphong.tail import CHUNK as TAIL_CHUNK
from vanphong.tail import Record, end_offsets, read_range, reader, recover

REPLAY_OF = "vanphong.replay.of"  # header on a replayed message: "<dlq topic>:<partition>:<offset>"
CHUNK = TAIL_CHUNK  # dead letters read, then recorded, produced and confirmed, per round
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


def _letter(partition: int, m: Record) -> DeadLetter:
    return DeadLetter(
        partition=partition,
        offset=m.offset,
        timestamp=datetime.fromtimestamp(m.timestamp / 1000, UTC),
        key=m.key,
        value=m.value,
        headers=tuple(m.headers),
    )


async def dead_letter_chunks(
    settings: Settings, on_size: Callable[[int], None] | None = None
) -> AsyncGenerator[list[DeadLetter], None]:
    """The dead letters now on the dead-letter topic, partition by partition in offset order,
    in chunks of at most :data:`CHUNK`. ``on_size(n)`` is told first how many offsets there are
    to read (an upper bound on the dead letters). Raises ``LookupError`` without the topic."""
    topic = settings.topic(DEAD_LETTER_TOPIC)
    async with admin_client(settings.kafka_bootstrap) as admin:
        counts = await partition_counts(admin, [topic])
    if topic not in counts:
        raise LookupError(f"topic {topic} does not exist (run `vanphong init`)")
    tps = [TopicPartition(topic, p) for p in range(counts[topic])]
    async with reader(settings.kafka_bootstrap) as consumer:
        ends = await end_offsets(consumer, tps)
        if on_size is not None:
            starts = await consumer.beginning_offsets(tps)
            on_size(sum(ends[tp] - starts[tp] for tp in tps))
        for tp in tps:
            async for records in read_range(consumer, tp, 0, ends[tp]):
                yield [_letter(tp.partition, m) for m in records]


async def read_dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every dead letter now on the topic, in (partition, offset) order (for small topics and
    tests; the commands stream with :func:`dead_letter_chunks`)."""
    return [d async for chunk in dead_letter_chunks(settings) for d in chunk]


def _recency(d: DeadLetter) -> tuple[datetime, int, int]:
    return (d.failed_at, d.partition, d.offset)


@dataclass
class Listing:
    """What ``dlq list`` found: dead letters on the topic, those with the reason asked for, and
    the ones to show."""

    total: int = 0
    matching: int = 0
    shown: list[DeadLetter] = field(default_factory=list)


async def list_dead_letters(
    settings: Settings,
    reason: str | None,
    limit: int,
    on_size: Callable[[int], None] | None = None,
    on_read: Callable[[int], None] | None = None,
    on_rows: Callable[[list[DeadLetter]], None] | None = None,
) -> Listing:
    """Stream the topic for ``dlq list``. With ``limit`` > 0, keep the ``limit`` most recent
    dead letters with ``reason`` (at most that many are held at once) and return them oldest
    first, as :func:`select` would. With ``limit`` 0 keep none: each chunk's matching dead
    letters go to ``on_rows`` as they are read, in topic order."""
    listing = Listing()
    recent = MostRecent(limit)
    async for chunk in dead_letter_chunks(settings, on_size):
        listing.total += len(chunk)
        matching = [d for d in chunk if reason is None or d.reason == reason]
        listing.matching += len(matching)
        if limit > 0:
            recent.add(matching)
        elif on_rows is not None and matching:
            on_rows(matching)
        if on_read is not None:
            on_read(len(chunk))
    listing.shown = recent.oldest_first()
    return listing


class MostRecent:
    """The ``limit`` most recent dead letters of a stream, holding no more than that: what
    :func:`select` with ``limit`` returns from the whole list."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._heap: list[tuple[tuple[datetime, int, int], DeadLetter]] = []  # oldest on top

    def add(self, letters: Iterable[DeadLetter]) -> None:
        for d in letters:
            entry = (_recency(d), d)
            if len(self._heap) < self.limit:
                heapq.heappush(self._heap, entry)
            elif entry[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, entry)

    def oldest_first(self) -> list[DeadLetter]:
        return [d for _, d in sorted(self._heap, key=lambda e: e[0])]


def select(
    letters: Iterable[DeadLetter], reason: str | None = None, limit: int | None = None
) -> list[DeadLetter]:
    """Those with ``reason`` (all if None), oldest first; with ``limit``, the most recent N."""
    chosen = sorted((d for d in letters if reason is None or d.reason == reason), key=_recency)
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
    # What to replay: from plan(), and from a dry run; a replay streams and keeps only counts.
    planned: list[Planned] = field(default_factory=list)
    replayable: int = 0  # planned in all (a dry run: would replay)
    already: int = 0  # matching dead letters replayed before: skipped
    rejected_again: int = 0  # dead letters of replayed messages, left alone (without --again)
    in_doubt: list[Replay] = field(default_factory=list)  # rows found in doubt at the start
    recovered: int = 0  # in-doubt rows whose message was on the topic: recorded, not re-sent
    sent: int = 0  # messages produced and recorded
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
    """For in-doubt rows: where their message already is, if it is: the recovery rule
    (vanphong/tail.py), reading each target partition from the rows' ``scan_from``."""
    wanted: dict[tuple[str, int], dict[bytes, Place]] = defaultdict(dict)
    start: dict[tuple[str, int], int] = {}
    for row in rows:
        tp = (row.source[0], row.target_partition)
        wanted[tp][replay_marker(dlq_topic, row.place)] = row.place
        start[tp] = min(start.get(tp, row.scan_from), row.scan_from)
    if not wanted:
        return {}
    async with admin_client(settings.kafka_bootstrap) as admin:
        counts = await partition_counts(admin, sorted({t for t, _ in wanted}))

    def mark(record: Record) -> Place | None:
        markers = wanted[(record.topic, record.partition)]
        for key, value in record.headers:
            if key == REPLAY_OF and value in markers:
                return markers[value]
        return None

    starts = {TopicPartition(t, p): o for (t, p), o in start.items() if p < counts.get(t, 0)}
    return await recover(settings.kafka_bootstrap, starts, mark)


async def replay(
    settings: Settings,
    reason: str | None = None,
    dry_run: bool = False,
    again: bool = False,
    on_size: Callable[[int], None] | None = None,
    on_read: Callable[[int], None] | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay the dead letters with ``reason`` (all if None) that were never replayed (and,
    with ``again``, those of replayed messages that were rejected again).

    The topic is streamed: each chunk of dead letters is planned (:func:`plan`), recorded,
    produced and confirmed before the next is read. ``on_size(n)`` is told how many offsets the
    dead-letter topic holds, ``on_read(k)`` as dead letters are read, ``on_sent(k)`` as replays
    are confirmed. With ``dry_run`` nothing is locked, sent or written, and ``planned`` lists
    what would be replayed.
    """
    dlq_topic = settings.topic(DEAD_LETTER_TOPIC)
    inputs = [settings.topic(e.topic) for e in EVENT_TYPES]
    result = ReplayResult()
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
        doubtful = [r for r in replays.values() if r.in_doubt]
        result.in_doubt = doubtful
        try:
            found = {} if dry_run else await _find_replayed(settings, doubtful, dlq_topic)
        except KAFKA_ERRORS as exc:
            raise kafka_error(exc, settings.kafka_bootstrap) from exc
        if found:
            await _record(conn, [(place, offset) for place, offset in found.items()])
        result.recovered = len(found)
        unresolved = {r.place: r for r in doubtful if r.place not in found}
        try:
            async with (
                _Sender(settings, conn, dlq_topic, on_sent) as sender,
                contextlib.aclosing(dead_letter_chunks(settings, on_size)) as chunks,
            ):
                partitions: dict[str, int] = {}
                async for chunk in chunks:
                    named = {d.source[0] for d in chunk if d.source is not None}
                    unknown = sorted({*inputs, *named} - partitions.keys())
                    if unknown:
                        async with admin_client(settings.kafka_bootstrap) as admin:
                            counts = await partition_counts(admin, unknown)
                        partitions.update({t: counts.get(t, 0) for t in unknown})
                    present = {t: n for t, n in partitions.items() if n}
                    here = [unresolved.pop(d.place) for d in chunk if d.place in unresolved]
                    part = plan(chunk, replays, present, inputs, reason, here, again)
                    _add(result, part, keep_planned=dry_run)
                    if on_read is not None:
                        on_read(len(chunk))
                    if not dry_run and not await sender.send(part.planned, result):
                        return result  # Kafka refuses: stop; the rest waits for the next replay
        except KAFKA_ERRORS as exc:
            raise kafka_error(exc, settings.kafka_bootstrap) from exc
        for row in unresolved.values():  # the whole topic was read: these are gone
            result.errors.append((row, "the dead letter is no longer on the dead-letter topic"))
        return result
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    finally:
        await conn.close()  # also releases the advisory lock


def _add(result: ReplayResult, part: ReplayResult, keep_planned: bool) -> None:
    if keep_planned:
        result.planned += part.planned
    result.replayable += len(part.planned)
    result.already += part.already
    result.rejected_again += part.rejected_again
    result.errors += part.errors


async def _record(conn: asyncpg.Connection, done: Sequence[tuple[Place, int]]) -> None:
    await conn.executemany(
        "UPDATE core.dlq_replays SET new_offset = $3, replayed_at = now()"
        " WHERE dlq_partition = $1 AND dlq_offset = $2 AND new_offset IS NULL",
        [(p, o, offset) for (p, o), offset in done],
    )


class _Sender:
    """Produces replays chunk by chunk: a producer and an offsets reader, started on first use
    and kept for the whole replay."""

    def __init__(
        self,
        settings: Settings,
        conn: asyncpg.Connection,
        dlq_topic: str,
        on_sent: Callable[[int], None] | None,
    ) -> None:
        self.settings, self.conn, self.dlq_topic = settings, conn, dlq_topic
        self.on_sent = on_sent
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> _Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.producer is not None:
                await self.producer.stop()
        finally:
            await self.stack.aclose()

    async def send(self, planned: Sequence[Planned], result: ReplayResult) -> bool:
        """Record, produce and confirm ``planned`` (one chunk); False if Kafka refused some."""
        if not planned:
            return True
        if self.producer is None:
            self.consumer = await self.stack.enter_async_context(
                reader(self.settings.kafka_bootstrap)
            )
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap, acks="all", enable_idempotence=True
            )
            await producer.start()
            self.producer = producer
        assert self.consumer is not None
        targets = sorted({TopicPartition(p.topic, p.partition) for p in planned})
        ends = await end_offsets(self.consumer, targets)
        conn = self.conn
        # 1. commit "in doubt" rows before anything is produced
        fresh = [p for p in planned if p.in_doubt is None]
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
        go = [p for p in planned if p.in_doubt is not None or p.letter.place in mine]
        result.already += len(planned) - len(go)
        # 2. produce, each to its fixed partition, marked with the dead letter it replays
        futures = []
        for p in go:
            future = await self.producer.send(
                p.topic,
                p.letter.value,
                key=p.letter.key,
                partition=p.partition,
                headers=[(REPLAY_OF, replay_marker(self.dlq_topic, p.letter.place))],
            )
            if self.on_sent is not None:
                future.add_done_callback(lambda _f, on_sent=self.on_sent: on_sent(1))
            futures.append(future)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        # 3. record where each landed; failures stay in doubt for the next replay
        done: list[tuple[Place, int]] = []
        for p, outcome in zip(go, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                result.errors.append((p.letter, f"not sent: {type(outcome).__name__}: {outcome}"))
            else:
                done.append((p.letter.place, outcome.offset))
        async with conn.transaction():
            await _record(conn, done)
        result.sent += len(done)
        return len(done) == len(go)


def _source(p: Planned) -> Source:
    source = p.letter.source
    assert source is not None  # plan() only keeps dead letters that name their source
    return source
