"""faust's Kafka consumer, handing each fetch to vanphong whole instead of one message at a time.

faust keeps what it is good at: the consumer group, rebalancing, pausing and seeking, the
consumer thread, the worker's lifecycle. What it does per message on the way to an agent (a
``Message`` and an ``Event`` object, a ``wait_first`` with two tasks, two queue hops, reference
counting for acks) cost about half of the worker's CPU, and none of it is needed when the unit
of work is a batch and PostgreSQL, not faust's acks, decides what was applied
(docs/performance.md).

So :class:`BatchConsumer` replaces the fetcher's drain loop: each ``getmany`` result (partition →
records, in offset order) goes to one callback. Nothing is dropped here, not even a fetch that
straddles a rebalance: after one, aiokafka restarts every partition from its committed offset,
so messages may come twice, and the sink applies each offset once (vanphong/core/batch.py).

The Kafka commit is explicit (streams/checkpoint.py), made after PostgreSQL's, and its failure
is never fatal: the offsets in PostgreSQL are the truth, a stale Kafka commit only means
re-reading messages that the sink skips.

**Committed records only, and where the consumer stands.** :class:`BatchConsumerThread` runs
aiokafka ``read_committed`` (faust asks for it only under its ``exactly_once`` guarantee, which
would also make it produce in Kafka transactions), so records of aborted or open transactions
never arrive. Transaction markers and aborted records still take offsets: aiokafka moves its
position past them while draining a fetch (``PartitionRecords`` skips control batches and
aborted batches and sets ``next_fetch_offset`` beyond them). The thread compares each drained
partition's position before and after with the records it returned, and adds *position marks*
to the fetch (:class:`Marks`; vanphong/core/batch.py): *passed* for every gap in the offsets the
consumer read past (before the first record, between two records, after the last one: the
sink stores the position, so a partition that ends in a marker is caught up), *resumed* when a
partition's position is not where the previous drain left it (an assignment, a seek, an offset
reset), with the topic's id and the partition's log start and end read then, so that the sink
can tell a recreated topic, messages lost to retention or a consumer ahead of PostgreSQL
(vanphong/core/positions.py). A topic read without interruption and without transactions gets no
marks: the cost is two position reads per drained partition and fetch, and one comparison of
its first and last offsets with its record count (the records are walked only when they have
gaps).

**The fence's heartbeat.** With every gap marked, the sink can tell at every batch whether
PostgreSQL still holds what this worker applied (vanphong/core/batch.py, "The fence"); an idle
partition sends no batch, so every ``VANPHONG_FENCE_INTERVAL_S`` it gets a *heartbeat*: a passed
mark from its position to its position.

It also looks at the topic ids every ``VANPHONG_METADATA_MAX_AGE_S``: a topic deleted and created
again between two rebalances (same partition count, no rebalance) has a new id, and its
partitions are read again from their beginning. And it seeks where the sink asks it to
(:meth:`BatchConsumer.rewind`): a consumer resumed ahead of PostgreSQL goes back.

This leans on internals of the pinned faust-streaming 0.15.3 (``_drain_messages``,
``_wait_next_records``, the consumer thread's ``call_thread``, ``_create_worker_consumer`` and
``_fetch_records``) and aiokafka 0.14.0 (the consumer's ``_isolation_level``, ``_client`` and
``_fetcher``; the fetcher's ``_records``, ``fetched_records`` and ``_create_fetch_waiter``; the
subscription's assignment states), which tests/test_transactions.py guards and the exactly-once,
transaction and fault tests exercise.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeAlias, cast

import aiokafka
import faust
from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import FetchResult
from aiokafka.errors import ConsumerStoppedError
from aiokafka.structs import ConsumerRecord
from faust.tables import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import ConsumerT, ServiceT, TransportT

from vanphong.core.gaps import gaps
from vanphong.core.positions import Seen
from vanphong.ground.kafka import ISOLATION_LEVEL
from vanphong.ground.kafka_protocol import topic_ids
from vanphong.ground.logs import get_logger

log = get_logger("vanphong.transport")

TP = tuple[str, int]
Record: TypeAlias = ConsumerRecord[bytes, bytes]
#: Partition → its fetched records, in offset order.
Fetched = Mapping[TP, Sequence[Record]]

#: Reading topic ids and log offsets when a partition resumes: a deadline for the three requests.
DESCRIBE_TIMEOUT_S = 10.0


@dataclass
class Marks:
    """Position marks found while draining one fetch (module docstring)."""

    #: Partition → (the offset the consumer resumed at, what Kafka said about it then).
    resumed: dict[TP, tuple[int, Seen]] = field(default_factory=dict)
    #: Partition → its gaps (from, to) in order, around the fetch's records (module docstring).
    passed: dict[TP, list[tuple[int, int]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.resumed or self.passed)


class OnFetched(Protocol):
    def __call__(self, fetched: Fetched, marks: Marks | None = None) -> Awaitable[None]: ...


class Drained(dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]):
    """What ``getmany`` returns in the worker: aiokafka's records, and the fetch's marks."""

    marks: Marks | None = None


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer thread, reading committed records only and marking positions (module
    docstring). Everything here runs on the consumer thread's loop, except
    :meth:`request_rewind`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_marks()

    def _init_marks(self) -> None:
        self._ends: dict[TopicPartition, int] = {}  # where the last drain left each partition
        self._unresumed: set[TopicPartition] = set()  # assigned, not yet marked resumed
        self._assignment: object | None = None  # the aiokafka assignment those belong to
        self._topic_ids: dict[str, str] = {}  # as last read
        self._next_id_check = 0.0
        self._rewinds: dict[TopicPartition, int] = {}
        self._rewinds_lock = threading.Lock()
        self._next_heartbeat = 0.0

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read before start(), which hands it to the fetcher; checked, so that an aiokafka that
        # renamed it fails here rather than reading aborted records.
        assert consumer._isolation_level in ("read_uncommitted", ISOLATION_LEVEL)
        consumer._isolation_level = ISOLATION_LEVEL
        return consumer

    def request_rewind(self, offsets: Mapping[TP, int]) -> None:
        """Seek these partitions (if still assigned) before the next fetch is drained; called
        from the worker's loop, hence the lock."""
        with self._rewinds_lock:
            self._rewinds.update({TopicPartition(t, p): o for (t, p), o in offsets.items()})

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[Any],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        """faust's fetch, as aiokafka's ``fetched_records`` does it (wait for buffered records,
        up to ``timeout``), with the positions measured around each drain."""
        if not self.consumer.flow_active:
            return {}
        fetcher = consumer._fetcher
        if consumer._closed or fetcher._closed:
            raise ConsumerStoppedError()
        await self._before_drain(consumer)
        with fetcher._subscriptions.fetch_context():
            drained, resumed = await self._drain(fetcher, active_partitions, max_records)
            left = timeout or 0.0
            while not drained and not resumed and not drained.marks and left > 0:
                started = time.monotonic()
                waiter = fetcher._create_fetch_waiter()
                done, pending = await asyncio.wait([waiter], timeout=left)
                if not done or fetcher._closed:
                    for future in pending:
                        future.cancel()
                    break
                waiter.result()  # aiokafka raises authorization errors this way
                left -= time.monotonic() - started
                drained, resumed = await self._drain(fetcher, active_partitions, max_records)
        if resumed:
            marks = drained.marks if drained.marks is not None else Marks()
            seen = await self._describe(consumer, resumed)
            marks.resumed = {k: (at, seen[k]) for k, at in resumed.items()}
            drained.marks = marks
        self._add_heartbeats(drained, resumed)
        return drained

    def _add_heartbeats(self, drained: Drained, resumed: Mapping[TP, int]) -> None:
        """Every ``fence_check_s``, a heartbeat for each assigned partition that this fetch left
        alone and whose position is where the last drain left it (module docstring)."""
        now = time.monotonic()
        if now < self._next_heartbeat or self._assignment is None:
            return
        self._next_heartbeat = now + cast(BatchApp, self.app).fence_check_s
        marks = drained.marks if drained.marks is not None else Marks()
        assignment: Any = self._assignment
        for tp in assignment.tps:
            key = (tp.topic, tp.partition)
            if tp in drained or key in resumed or key in marks.passed:
                continue
            state = assignment.state_value(tp)
            if state is not None and state.has_valid_position:
                position = state.position
                if self._ends.get(tp) == position:
                    marks.passed[key] = [(position, position)]
        if marks:
            drained.marks = marks

    async def _drain(
        self, fetcher: Any, active: set[Any] | None, max_records: int | None
    ) -> tuple[Drained, dict[TP, int]]:
        """One non-blocking drain of the fetcher's buffer; the partitions whose position jumped
        since the last drain (resumed there) come back separately, to be described."""
        subscriptions = fetcher._subscriptions
        if subscriptions.reassignment_in_progress:  # as fetched_records does it
            await subscriptions.wait_for_assignment()
        subscription = subscriptions.subscription
        assignment = subscription.assignment if subscription is not None else None
        if assignment is not self._assignment:  # a rebalance: every partition resumes
            self._ends.clear()
            self._assignment = assignment
            self._unresumed = set(assignment.tps) if assignment is not None else set()
        before: dict[TopicPartition, int] = {}
        if assignment is not None:
            for tp, result in fetcher._records.items():
                if type(result) is FetchResult and (not active or tp in active):
                    state = assignment.state_value(tp)
                    if state is not None and state.has_valid_position:
                        before[tp] = state.position
        # Nothing awaits in here unless a reassignment started, which was waited for above: the
        # positions cannot move between the two looks but by draining.
        drained = Drained(await fetcher.fetched_records(active, timeout=0, max_records=max_records))
        resumed: dict[TP, int] = {}
        passed: dict[TP, list[tuple[int, int]]] = {}
        for tp, start in before.items():
            state = assignment.state_value(tp) if assignment is not None else None
            if state is None or not state.has_valid_position or state.position == start:
                continue
            end = state.position
            if self._ends.get(tp) != start:
                resumed[(tp.topic, tp.partition)] = start
            found = gaps(start, drained.get(tp, ()), end)
            if found:
                passed[(tp.topic, tp.partition)] = found
            self._ends[tp] = end
            self._unresumed.discard(tp)
        if self._unresumed and assignment is not None:
            # Partitions with nothing to drain are checked too, once they have a position, so
            # that an idle partition of a recreated topic is reset now, not at its next message.
            for tp in list(self._unresumed):
                state = assignment.state_value(tp)
                if (not active or tp in active) and state is not None and state.has_valid_position:
                    self._unresumed.discard(tp)
                    if tp not in self._ends:
                        resumed[(tp.topic, tp.partition)] = self._ends[tp] = state.position
        if passed:
            drained.marks = Marks(passed=passed)
        return drained, resumed

    async def _describe(
        self, consumer: aiokafka.AIOKafkaConsumer, resumed: Mapping[TP, int]
    ) -> dict[TP, Seen]:
        """What Kafka says about resumed partitions: topic id, partition count, log start and
        end (the last stable offset). What cannot be read within the deadline stays None."""
        tps = [TopicPartition(t, p) for t, p in resumed]
        topics = sorted({tp.topic for tp in tps})
        try:
            async with asyncio.timeout(DESCRIBE_TIMEOUT_S):
                described = await topic_ids(consumer._client, topics)
                starts = await consumer.beginning_offsets(tps)
                ends = await consumer.end_offsets(tps)
        except Exception as exc:  # the sink checks what it can; the next resume tries again
            log.warning(
                "topic ids and log offsets not readable for resumed partitions",
                error=f"{type(exc).__name__}: {exc}",
                partitions=len(tps),
            )
            described, starts, ends = {}, {}, {}
        self._topic_ids.update({t: d.topic_id for t, d in described.items()})
        seen: dict[TP, Seen] = {}
        for tp in tps:
            topic = described.get(tp.topic)
            seen[(tp.topic, tp.partition)] = Seen(
                log_start=starts.get(tp),
                log_end=ends.get(tp),
                topic_id=topic.topic_id if topic is not None else None,
                partitions=topic.partitions if topic is not None else None,
            )
        return seen

    async def _before_drain(self, consumer: aiokafka.AIOKafkaConsumer) -> None:
        """Seek where the sink asked to; every ``VANPHONG_METADATA_MAX_AGE_S``, compare the
        assigned topics' ids with those last read, and read a topic with a new id (deleted and
        created again without a rebalance) from its beginning."""
        if self._rewinds:
            with self._rewinds_lock:
                rewinds, self._rewinds = self._rewinds, {}
            assigned = consumer.assignment()
            for tp, offset in rewinds.items():
                if tp in assigned:
                    log.warning(
                        "consumer ahead of PostgreSQL, going back",
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=offset,
                    )
                    consumer.seek(tp, offset)
                    self._forget(tp)
        now = time.monotonic()
        if now < self._next_id_check:
            return
        self._next_id_check = now + cast(BatchApp, self.app).topic_check_s
        assigned = consumer.assignment()
        known = {tp.topic: self._topic_ids.get(tp.topic) for tp in assigned}
        if not assigned or not any(known.values()):
            return  # ids are first read when the partitions resume
        try:
            async with asyncio.timeout(DESCRIBE_TIMEOUT_S):
                described = await topic_ids(consumer._client, sorted(known))
        except Exception as exc:  # tried again at the next check
            log.info("topic ids not readable", error=f"{type(exc).__name__}: {exc}")
            return
        changed = {t for t, d in described.items() if known.get(t) and d.topic_id != known[t]}
        self._topic_ids.update({t: d.topic_id for t, d in described.items()})
        if changed:
            again = [tp for tp in assigned if tp.topic in changed]
            log.warning(
                "topic created again under the same name: reading it from the beginning",
                topics=sorted(changed),
                partitions=len(again),
            )
            await consumer.seek_to_beginning(*again)
            for tp in again:
                self._forget(tp)

    def _forget(self, tp: TopicPartition) -> None:
        """The consumer was moved: the partition resumes at its next drain."""
        self._ends.pop(tp, None)
        self._unresumed.add(tp)


class BatchConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer with a drain loop that delivers whole fetches."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def rewind(self, offsets: Mapping[TP, int]) -> None:
        """Seek these partitions before the next fetch (the sink found the consumer ahead of
        PostgreSQL, vanphong/core/positions.py)."""
        cast(BatchConsumerThread, self._thread).request_rewind(offsets)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Fetch, then hand the fetch over; wait while the receiver is full (its back-pressure
        stops the fetching, and aiokafka's prefetch buffer stays bounded)."""
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = cast(Any, fetcher)._stopped.is_set
        while not (consumer_stopped() or fetcher_stopped()):
            records, _ = await self._wait_next_records(timeout=1.0)
            if records is None or self.should_stop:
                continue
            marks = getattr(records, "marks", None)
            if not records and not marks:
                continue
            fetched = {(tp.topic, tp.partition): batch for tp, batch in records.items() if batch}
            if fetched or marks:
                await cast(BatchApp, self.app).on_fetched(fetched, marks)


class BatchTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = BatchConsumer


class NoTablesManager(TableManager):
    """faust's table manager without its one-second wait at start "for tables to be
    registered": vanphong declares no tables, and the wait was 40 % of a worker's start-up."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class BatchApp(faust.App):
    """A faust app whose consumer is :class:`BatchConsumer` (the producer stays faust's);
    ``on_fetched`` receives every fetch and its position marks; the consumer thread compares
    topic ids every ``topic_check_s`` seconds, and sends idle partitions' heartbeats every
    ``fence_check_s``."""

    def __init__(
        self,
        *args: Any,
        on_fetched: OnFetched,
        topic_check_s: float = 30.0,
        fence_check_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, TableManager=NoTablesManager, **kwargs)
        self.on_fetched = on_fetched
        self.topic_check_s = topic_check_s
        self.fence_check_s = fence_check_s

    def _new_transport(self) -> TransportT:
        return BatchTransport(self.conf.broker_consumer, self)
