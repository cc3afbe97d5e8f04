"""``vanphong status``: how far the sink is behind each input partition, what was dead-lettered,
and when the sink last committed (CONTRACT.md §8; docs/operations.md, "Status").

Two offsets per partition are reported. ``applied_offset`` is PostgreSQL's truth
(``core.sink_offsets``: the next offset to apply, committed with the batch that applied the
ones before), and ``lag`` = ``end_offset`` − ``applied_offset``. ``committed_offset`` is what
the consumer group ``<prefix>-worker`` committed to Kafka; faust commits after PostgreSQL does,
so it may trail ``applied_offset`` and is shown for operators who watch the group with Kafka's
own tools.

Lag and the stall rule are vanphong/lag.py's, the same as the worker's ``/healthz`` and page
apply: lag counts neither offsets without a record (transaction markers, aborted records: the
end offsets are read ``read_committed``) nor messages that retention deleted before they were
applied. A partition is *stalled* when it has lag and nothing was applied from it for
``VANPHONG_STALL_SECONDS`` while work was waiting: see :func:`is_stalled`.

Offsets that went backwards or jumped (vanphong/positions.py) are shown twice: what workers
detected and recorded (``core.offset_anomalies``), and what Kafka and PostgreSQL disagree on now
and no worker has handled yet (a topic created again, messages lost, more partitions than the
contract's).

Collecting is separate from rendering: :func:`collect` talks to Kafka and PostgreSQL,
:func:`render` and :meth:`Status.as_json` are pure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC, EVENT_TYPES
from vanphong import lag as lag_rule
from vanphong.kafka import TopicInfo, admin_client, partition_counts, standalone_consumer, topic_ids
from vanphong.positions import Anomaly, Seen, Stored, applied_offset, pending, recreated
from vanphong.settings import Settings

T = TypeVar("T")

KAFKA_TIMEOUT_S = 20.0
PG_TIMEOUT_S = 10.0
PENDING_FETCH_TIMEOUT_S = 5.0


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class Unreachable(RuntimeError):
    """Kafka and/or PostgreSQL cannot be asked; the message names which, and what to check."""

    def __init__(
        self,
        component: str,
        where: str,
        detail: str,
        hint: str | None = None,
        state: str = "is unreachable",
    ) -> None:
        self.components = [component]
        variable = "VANPHONG_KAFKA_BOOTSTRAP" if component == "Kafka" else "VANPHONG_DATABASE_URL"
        hint = hint or f"is it running? Locally: `vanphong stack up`; elsewhere check {variable}"
        self.lines = [f"{component} at {where} {state}: {detail}; {hint}"]
        super().__init__("\n".join(self.lines))

    @classmethod
    def both(cls, first: Unreachable, second: Unreachable) -> Unreachable:
        combined = cls.__new__(cls)
        combined.components = first.components + second.components
        combined.lines = first.lines + second.lines
        RuntimeError.__init__(combined, "\n".join(combined.lines))
        return combined


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def database_error(exc: BaseException, url: str) -> Unreachable:
    """The :class:`Unreachable` to raise for an error talking to PostgreSQL."""
    where = redact(url)
    if isinstance(exc, asyncpg.UndefinedTableError):
        return Unreachable(
            "PostgreSQL", where, f"{exc}", "run `vanphong init`", state="is not initialised"
        )
    if isinstance(
        exc, asyncpg.InvalidCatalogNameError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return Unreachable("PostgreSQL", where, f"{exc}", "check VANPHONG_DATABASE_URL")
    if isinstance(exc, OSError) and exc.strerror:
        detail = exc.strerror.lower()
    elif isinstance(exc, TimeoutError):
        detail = "no answer in time"
    else:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Unreachable("PostgreSQL", where, detail)


def kafka_error(exc: BaseException, bootstrap: str) -> Unreachable:
    if isinstance(exc, KafkaConnectionError):
        detail = "no broker accepts connections"
    elif isinstance(exc, TimeoutError):
        detail = "no answer in time"
    else:
        text = str(exc)
        detail = text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"
    return Unreachable("Kafka", bootstrap, detail)


DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
KAFKA_ERRORS = (KafkaError, OSError, TimeoutError)


# --------------------------------------------------------------------------------------------
# The status
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionStatus:
    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None  # the consumer group's Kafka commit; None if never committed
    applied_offset: int  # PostgreSQL's next offset to apply (0 if none applied yet)
    applied_at: datetime | None  # when applied_offset last moved (core.sink_offsets.updated_at)
    pending_since: datetime | None  # Kafka timestamp of the first unapplied message, if lagging
    stalled: bool
    start_offset: int = 0  # the log start offset (retention deleted what lies below)
    recreated: bool = False  # applied_offset belongs to a topic deleted since (now: 0 applied)

    @property
    def lag(self) -> int:
        applied = 0 if self.recreated else self.applied_offset
        return lag_rule.lag(self.end_offset, applied, self.start_offset)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "committed_offset": self.committed_offset,
            "applied_offset": self.applied_offset,
            "lag": self.lag,
            "applied_at": _iso(self.applied_at),
            "pending_since": _iso(self.pending_since),
            "stalled": self.stalled,
            "recreated": self.recreated,
        }


@dataclass(frozen=True)
class RecordedAnomaly:
    """A row of ``core.offset_anomalies``: what a worker detected, when."""

    anomaly: Anomaly
    detected_at: datetime
    worker_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "detected_at": _iso(self.detected_at),
            "worker_id": self.worker_id,
            **self.anomaly.as_json(),
        }


@dataclass(frozen=True)
class TopicCounters:
    topic: str
    applied: int
    unchanged: int
    dead_lettered: int

    @property
    def consumed(self) -> int:
        return self.applied + self.unchanged + self.dead_lettered

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "consumed": self.consumed,
            "applied": self.applied,
            "unchanged": self.unchanged,
            "dead_lettered": self.dead_lettered,
        }


@dataclass(frozen=True)
class SinkStatus:
    last_commit_at: datetime | None
    workers_seen: int  # worker processes that ever committed (host-pid)
    workers_recent: int  # of those, committed within the last stall_seconds
    batches: int
    events: int

    def as_json(self) -> dict[str, Any]:
        return {
            "last_commit_at": _iso(self.last_commit_at),
            "workers_seen": self.workers_seen,
            "workers_recent": self.workers_recent,
            "batches": self.batches,
            "events": self.events,
        }


@dataclass(frozen=True)
class Status:
    generated_at: datetime
    consumer_group: str
    stall_seconds: float
    partitions: list[PartitionStatus]
    dead_letters: dict[str, int]  # reason → rows in core.dead_letters
    dead_letters_unrelayed: int  # of those, not yet on the dead-letter topic
    dead_letter_topic: str
    dead_letter_messages: int  # messages on the dead-letter topic (end − start offsets)
    counters: list[TopicCounters]
    sink: SinkStatus
    missing_topics: list[str] = field(default_factory=list)
    topic_prefix: str = ""
    #: Recorded by workers, most recent first (at most :data:`ANOMALIES_SHOWN`).
    offset_anomalies: list[RecordedAnomaly] = field(default_factory=list)
    offset_anomalies_total: int = 0
    #: What Kafka and PostgreSQL disagree on now, not handled by a worker yet.
    pending_anomalies: list[Anomaly] = field(default_factory=list)
    #: Topic → (partitions in Kafka, the contract's), where they differ.
    partitions_differ: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def stalled(self) -> list[PartitionStatus]:
        return [p for p in self.partitions if p.stalled]

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": _iso(self.generated_at),
            "consumer_group": self.consumer_group,
            "stall_seconds": self.stall_seconds,
            "topics": [p.as_json() for p in self.partitions],
            "dead_letters": dict(sorted(self.dead_letters.items())),
            "dead_letters_unrelayed": self.dead_letters_unrelayed,
            "dead_letter_topic": {
                "topic": self.dead_letter_topic,
                "messages": self.dead_letter_messages,
            },
            "counters": [c.as_json() for c in self.counters],
            "sink": self.sink.as_json(),
            "stalled": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "lag": p.lag,
                    "applied_at": _iso(p.applied_at),
                    "pending_since": _iso(p.pending_since),
                }
                for p in self.stalled
            ],
            "missing_topics": self.missing_topics,
            "offset_anomalies": [a.as_json() for a in self.offset_anomalies],
            "offset_anomalies_total": self.offset_anomalies_total,
            "offset_anomalies_pending": [a.as_json() for a in self.pending_anomalies],
            "partitions_differ": {
                t: {"partitions": n, "contract_partitions": c}
                for t, (n, c) in sorted(self.partitions_differ.items())
            },
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def is_stalled(
    lag: int,
    applied_at: datetime | None,
    pending_since: datetime | None,
    now: datetime,
    stall_seconds: float,
) -> bool:
    """The stall rule of vanphong/lag.py, from what PostgreSQL and Kafka record.

    The clock starts at the later of the last time the partition's applied offset moved
    (``applied_at``) and the time the oldest unapplied message was published
    (``pending_since``), so neither a partition that had no row yet nor one that was idle for a
    day and just received a message is called stalled too early. When neither is known, a
    partition with lag is stalled (nothing shows it ever moved, and its pending message cannot
    be read).
    """
    since = lag_rule.waiting_since(
        *(None if t is None else t.timestamp() for t in (applied_at, pending_since))
    )
    return lag_rule.is_stalled(lag, since, now.timestamp(), stall_seconds)


# --------------------------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------------------------


#: Recorded offset anomalies that status shows.
ANOMALIES_SHOWN = 20


@dataclass
class _Database:
    now: datetime
    applied: dict[tuple[str, int], tuple[int, datetime]]
    stored: dict[tuple[str, int], Stored]
    anomalies: list[RecordedAnomaly]
    anomalies_total: int
    dead_letters: dict[str, int]
    unrelayed: int
    counters: list[TopicCounters]
    sink: SinkStatus


@dataclass
class _Kafka:
    counts: dict[str, int]
    ends: dict[tuple[str, int], int]
    starts: dict[tuple[str, int], int]
    committed: dict[tuple[str, int], int | None]
    topics: dict[str, TopicInfo] = field(default_factory=dict)


async def _read_database(settings: Settings, topics: Sequence[str]) -> _Database:
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=PG_TIMEOUT_S)
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    try:
        now = await conn.fetchval("SELECT now()")
        offsets = await conn.fetch(
            "SELECT topic, partition, next_offset, updated_at, topic_id::text AS topic_id,"
            " rewind_to FROM core.sink_offsets WHERE topic = ANY($1::text[])",
            list(topics),
        )
        anomalies = await conn.fetch(
            "SELECT *, old_topic_id::text AS old_id, new_topic_id::text AS new_id,"
            " count(*) OVER () AS total FROM core.offset_anomalies"
            " ORDER BY detected_at DESC, id DESC LIMIT $1",
            ANOMALIES_SHOWN,
        )
        reasons = await conn.fetch(
            "SELECT reason, count(*) AS n, count(*) FILTER (WHERE sent_at IS NULL) AS unsent"
            " FROM core.dead_letters GROUP BY reason"
        )
        counters = await conn.fetch(
            "SELECT topic, applied, unchanged, dead_lettered FROM core.topic_counters"
            " WHERE topic = ANY($1::text[]) ORDER BY topic",
            list(topics),
        )
        sink = await conn.fetchrow(
            "SELECT max(last_commit_at) AS last_commit_at, count(*) AS workers_seen,"
            " count(*) FILTER (WHERE last_commit_at > now() - make_interval(secs => $1))"
            " AS workers_recent, coalesce(sum(batches), 0) AS batches,"
            " coalesce(sum(events), 0) AS events FROM core.sink_commits",
            settings.stall_seconds,
        )
    except DATABASE_ERRORS as exc:
        raise database_error(exc, settings.database_url) from exc
    finally:
        await conn.close()
    assert sink is not None
    return _Database(
        now=now,
        applied={
            (r["topic"], r["partition"]): (r["next_offset"], r["updated_at"]) for r in offsets
        },
        stored={
            (r["topic"], r["partition"]): Stored(r["next_offset"], r["topic_id"], r["rewind_to"])
            for r in offsets
        },
        anomalies=[_recorded(r) for r in anomalies],
        anomalies_total=anomalies[0]["total"] if anomalies else 0,
        dead_letters={r["reason"]: r["n"] for r in reasons},
        unrelayed=sum(r["unsent"] for r in reasons),
        counters=[
            TopicCounters(r["topic"], r["applied"], r["unchanged"], r["dead_lettered"])
            for r in counters
        ],
        sink=SinkStatus(
            last_commit_at=sink["last_commit_at"],
            workers_seen=sink["workers_seen"],
            workers_recent=sink["workers_recent"],
            batches=int(sink["batches"]),
            events=int(sink["events"]),
        ),
    )


def _recorded(row: asyncpg.Record) -> RecordedAnomaly:
    return RecordedAnomaly(
        Anomaly(
            row["kind"],
            row["topic"],
            row["partition"],
            row["stored_offset"],
            row["resumed_at"],
            row["log_start"],
            row["log_end"],
            row["lost"],
            row["old_id"],
            row["new_id"],
            row["partitions"],
            row["contract_partitions"],
        ),
        row["detected_at"],
        row["worker_id"],
    )


async def _read_kafka(settings: Settings, topics: Sequence[str]) -> _Kafka:
    async with admin_client(settings.kafka_bootstrap) as admin:
        counts = await partition_counts(admin, list(topics))
        ids = await _topic_ids(admin, [t for t in topics if t in counts])
        tps = [TopicPartition(t, p) for t, n in sorted(counts.items()) for p in range(n)]
        inputs = [tp for tp in tps if tp.topic != settings.topic(DEAD_LETTER_TOPIC)]
        group = (
            await admin.list_consumer_group_offsets(settings.consumer_group, partitions=inputs)
            if inputs
            else {}
        )
    committed = {
        (tp.topic, tp.partition): (meta.offset if meta.offset >= 0 else None)
        for tp, meta in group.items()
    }
    if not tps:
        return _Kafka(counts, {}, {}, committed, ids)
    async with standalone_consumer(settings.kafka_bootstrap) as consumer:
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
    return _Kafka(
        counts,
        {(tp.topic, tp.partition): o for tp, o in ends.items()},
        {(tp.topic, tp.partition): o for tp, o in starts.items()},
        committed,
        ids,
    )


async def _topic_ids(admin: Any, topics: list[str]) -> dict[str, TopicInfo]:
    """Topic ids when the broker tells them (Metadata v12, Kafka 3.1 and later); none on an
    older one: a recreated topic is then recognised by its end offset alone."""
    try:
        return await topic_ids(admin._client, topics)
    except NotImplementedError:
        return {}


async def _pending_since(
    settings: Settings, positions: dict[tuple[str, int], int]
) -> dict[tuple[str, int], datetime]:
    """The Kafka timestamp of the message at ``positions[tp]``, per partition, when readable
    within a few seconds."""
    if not positions:
        return {}
    found: dict[tuple[str, int], datetime] = {}
    async with standalone_consumer(settings.kafka_bootstrap) as consumer:
        tps = {TopicPartition(t, p): o for (t, p), o in positions.items()}
        consumer.assign(list(tps))
        for tp, offset in tps.items():
            consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PENDING_FETCH_TIMEOUT_S
        while len(found) < len(tps) and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=len(tps) * 10)
            for tp, messages in batches.items():
                key = (tp.topic, tp.partition)
                if messages and key not in found:
                    found[key] = datetime.fromtimestamp(messages[0].timestamp / 1000, UTC)
                    consumer.pause(tp)
    return found


async def _ask_kafka(settings: Settings, work: Awaitable[T], timeout_s: float) -> T:
    try:
        return await asyncio.wait_for(work, timeout_s)
    except KAFKA_ERRORS as exc:
        raise kafka_error(exc, settings.kafka_bootstrap) from exc


async def collect(settings: Settings) -> Status:
    """Ask PostgreSQL and Kafka; raise :class:`Unreachable` naming the one that did not answer."""
    inputs = [settings.topic(e.topic) for e in EVENT_TYPES]
    dlq_topic = settings.topic(DEAD_LETTER_TOPIC)
    db_result, kafka_result = await asyncio.gather(
        _read_database(settings, inputs),
        _ask_kafka(settings, _read_kafka(settings, [*inputs, dlq_topic]), KAFKA_TIMEOUT_S),
        return_exceptions=True,
    )
    if isinstance(db_result, Unreachable) and isinstance(kafka_result, Unreachable):
        raise Unreachable.both(kafka_result, db_result)
    for result in (db_result, kafka_result):
        if isinstance(result, BaseException):
            raise result
    assert isinstance(db_result, _Database) and isinstance(kafka_result, _Kafka)
    db, kafka = db_result, kafka_result
    contract = {settings.topic(e.topic): e.partitions for e in EVENT_TYPES}
    seen: dict[tuple[str, int], Seen] = {}
    for tp, end in kafka.ends.items():
        if tp[0] != dlq_topic:
            info = kafka.topics.get(tp[0])
            seen[tp] = Seen(
                log_start=kafka.starts.get(tp, 0),
                log_end=end,
                topic_id=info.topic_id if info is not None else None,
                partitions=kafka.counts.get(tp[0]),
                contract_partitions=contract.get(tp[0]),
            )
    # Where a waiting partition's next message to apply is, to read when it was published.
    lagging = {
        tp: max(applied_offset(db.stored.get(tp), s), kafka.starts.get(tp, 0))
        for tp, s in seen.items()
        if lag_rule.lag(s.log_end or 0, applied_offset(db.stored.get(tp), s), s.log_start or 0)
    }
    pending_at = await _ask_kafka(
        settings, _pending_since(settings, lagging), PENDING_FETCH_TIMEOUT_S + KAFKA_TIMEOUT_S
    )

    partitions = []
    pending_anomalies: list[Anomaly] = []
    for topic in inputs:
        for partition in range(kafka.counts.get(topic, 0)):
            tp = (topic, partition)
            applied, applied_at = db.applied.get(tp, (0, None))
            stored = db.stored.get(tp)
            now_seen = seen.get(tp, Seen())
            row = PartitionStatus(
                topic=topic,
                partition=partition,
                end_offset=kafka.ends.get(tp, 0),
                committed_offset=kafka.committed.get(tp),
                applied_offset=applied,
                applied_at=applied_at,
                pending_since=pending_at.get(tp),
                stalled=False,
                start_offset=kafka.starts.get(tp, 0),
                recreated=stored is not None and recreated(stored, now_seen),
            )
            stalled = is_stalled(
                row.lag, applied_at, pending_at.get(tp), db.now, settings.stall_seconds
            )
            partitions.append(replace(row, stalled=stalled))
            pending_anomalies.extend(pending(topic, partition, stored, now_seen))
    dlq_messages = sum(
        kafka.ends.get((dlq_topic, p), 0) - kafka.starts.get((dlq_topic, p), 0)
        for p in range(kafka.counts.get(dlq_topic, DEAD_LETTER_PARTITIONS))
    )
    return Status(
        generated_at=db.now,
        consumer_group=settings.consumer_group,
        stall_seconds=settings.stall_seconds,
        partitions=partitions,
        dead_letters=db.dead_letters,
        dead_letters_unrelayed=db.unrelayed,
        dead_letter_topic=dlq_topic,
        dead_letter_messages=dlq_messages,
        counters=db.counters,
        sink=db.sink,
        missing_topics=[t for t in [*inputs, dlq_topic] if t not in kafka.counts],
        topic_prefix=settings.topic_prefix,
        offset_anomalies=db.anomalies,
        offset_anomalies_total=db.anomalies_total,
        pending_anomalies=pending_anomalies,
        partitions_differ={
            t: (n, contract[t])
            for t, n in kafka.counts.items()
            if t in contract and n != contract[t]
        },
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def ago(then: datetime | None, now: datetime) -> str:
    """``"12 s ago"``, ``"5 min ago"``, ``"3 h ago"``, ``"2 d ago"``; ``"never"`` for None."""
    if then is None:
        return "never"
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _lag_cell(lag: int, stalled: bool) -> Text:
    if stalled:
        return Text(f"{lag:,} stalled", style="bold red")
    return Text(f"{lag:,}", style="yellow" if lag else "green")


def render(status: Status, all_partitions: bool = False) -> RenderableType:
    """The table form: progress per topic, events per topic, partitions with lag (every one
    with ``all_partitions``), dead letters by reason, the sink. Fits 80 columns."""
    parts: list[RenderableType] = []
    counters = {c.topic: c for c in status.counters}
    by_topic: dict[str, list[PartitionStatus]] = {}
    for p in status.partitions:
        by_topic.setdefault(p.topic, []).append(p)

    progress = Table(
        title=f"Progress (lag = end − applied; consumer group {status.consumer_group})",
        title_justify="left",
    )
    progress.add_column("topic", no_wrap=True)
    for name in ["end", "committed", "applied", "lag"]:
        progress.add_column(name, justify="right")
    for topic, ps in by_topic.items():
        committed = [p.committed_offset for p in ps]
        progress.add_row(
            topic,
            _n(sum(p.end_offset for p in ps)),
            _n(None if all(x is None for x in committed) else sum(x or 0 for x in committed)),
            _n(sum(p.applied_offset for p in ps)),
            _lag_cell(sum(p.lag for p in ps), any(p.stalled for p in ps)),
        )
    parts.append(progress)
    parts.append(
        Text("committed: the group's Kafka commit · applied: PostgreSQL (the truth)", style="dim")
    )

    events = Table(title="Messages consumed per topic", title_justify="left")
    events.add_column("topic", no_wrap=True)
    for name in ["applied", "unchanged", "dead-\nlettered", "total"]:
        events.add_column(name, justify="right")
    for topic in by_topic:
        c = counters.get(topic, TopicCounters(topic, 0, 0, 0))
        events.add_row(topic, _n(c.applied), _n(c.unchanged), _n(c.dead_lettered), _n(c.consumed))
    parts.append(events)

    shown = [p for p in status.partitions if all_partitions or p.lag or p.stalled]
    if shown:
        short = f"{status.topic_prefix}." if status.topic_prefix else ""
        table = Table(
            title=("Partitions" if all_partitions else "Partitions with lag")
            + (f" (of {short}…)" if short else ""),
            title_justify="left",
        )
        table.add_column("partition", no_wrap=True)
        for name in ["end", "committed", "applied", "lag", "last applied"]:
            table.add_column(name, justify="right")
        for p in shown:
            table.add_row(
                f"{p.topic.removeprefix(short)}[{p.partition}]",
                _n(p.end_offset),
                _n(p.committed_offset),
                _n(p.applied_offset),
                _lag_cell(p.lag, p.stalled),
                ago(p.applied_at, status.generated_at),
            )
        parts.append(table)
    elif status.partitions:
        parts.append(Text("Every partition is caught up (lag 0).", style="green"))

    dead = Table(title="Dead letters", title_justify="left")
    dead.add_column("reason")
    dead.add_column("count", justify="right")
    for reason, count in sorted(status.dead_letters.items(), key=lambda kv: (-kv[1], kv[0])):
        dead.add_row(reason, _n(count))
    if not status.dead_letters:
        dead.add_row(Text("none", style="green"), "0")
    parts.append(dead)
    parts.append(Text(f"{status.dead_letter_messages:,} message(s) on {status.dead_letter_topic}"))
    if status.dead_letters_unrelayed:
        parts.append(
            Text(
                f"{status.dead_letters_unrelayed:,} dead letter(s) not yet on "
                f"{status.dead_letter_topic} (a worker relays them)",
                style="yellow",
            )
        )

    s = status.sink
    parts.append(
        Text.assemble(
            ("Sink: ", "bold"),
            "last commit ",
            (ago(s.last_commit_at, status.generated_at), "bold"),
            f" ({_iso(s.last_commit_at) or '–'}); {s.workers_recent} worker(s) committed in the"
            f" last {status.stall_seconds:g} s, {s.workers_seen} seen; "
            f"{s.batches:,} batches, {s.events:,} events",
        )
    )
    if status.stalled:
        grouped: dict[str, list[str]] = {}
        for p in status.stalled:
            grouped.setdefault(p.topic, []).append(str(p.partition))
        names = ", ".join(f"{t}[{','.join(ps)}]" for t, ps in grouped.items())
        parts.append(
            Text(
                f"STALLED ({len(status.stalled)}): {names}: lag and nothing applied for "
                f"≥ {status.stall_seconds:g} s. Is a worker running? (`vanphong worker`)",
                style="bold red",
            )
        )
    if status.missing_topics:
        parts.append(
            Text(
                f"Missing topics: {', '.join(status.missing_topics)} (run `vanphong init`)",
                style="bold red",
            )
        )
    parts.extend(_render_anomalies(status))
    return Group(*parts)


def _render_anomalies(status: Status) -> list[RenderableType]:
    """Offsets that went backwards or jumped: what workers recorded, what nobody handled yet,
    topics whose partition count is not the contract's (docs/operations.md)."""
    parts: list[RenderableType] = []
    short = f"{status.topic_prefix}." if status.topic_prefix else ""
    if status.offset_anomalies:
        shown = len(status.offset_anomalies)
        table = Table(
            title=f"Offset anomalies ({status.offset_anomalies_total:,} recorded"
            + (f", the {shown} most recent" if shown < status.offset_anomalies_total else "")
            + ")",
            title_justify="left",
        )
        table.add_column("when", no_wrap=True)
        table.add_column("what")
        table.add_column("partition", no_wrap=True)
        for name in ["stored", "log", "lost"]:
            table.add_column(name, justify="right")
        for r in status.offset_anomalies:
            a = r.anomaly
            table.add_row(
                ago(r.detected_at, status.generated_at),
                a.kind.replace("_", " "),
                f"{a.topic.removeprefix(short)}[{a.partition}]",
                _n(a.stored_offset),
                f"{_n(a.log_start)}–{_n(a.log_end)}",
                Text(_n(a.lost), style="bold red" if a.lost else ""),
            )
        parts.append(table)
    for a in status.pending_anomalies:
        parts.append(Text(f"NOT HANDLED YET: {a.describe()}", style="bold red"))
    if status.pending_anomalies:
        parts.append(
            Text(
                "A worker handles these when it resumes the partition (read again from the"
                " start, or the loss counted); docs/operations.md, “Offsets that go backwards"
                " or jump”.",
                style="dim",
            )
        )
    for topic, (n, contract) in sorted(status.partitions_differ.items()):
        parts.append(
            Text(
                f"{topic} has {n} partitions, the contract {contract}"
                + (": the added ones are consumed from their start" if n > contract else ""),
                style="yellow",
            )
        )
    return parts
