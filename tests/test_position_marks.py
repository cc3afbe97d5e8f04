"""The transport's position marks (streams/transport.py), with a fake aiokafka fetcher: where
the consumer's position moves without a record (transaction markers, aborted records) and
where it resumes (assignment, seek, offset reset). No broker."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import FetchResult

from vanphong.ground.kafka_protocol import TopicInfo
from vanphong.streams import transport
from vanphong.streams.transport import BatchConsumerThread, Drained, Marks

A, B, C = (TopicPartition("p.document-issued.v1", p) for p in range(3))


class State:
    def __init__(self, position: int | None) -> None:
        self.position_value = position

    @property
    def has_valid_position(self) -> bool:
        return self.position_value is not None

    @property
    def position(self) -> int:
        assert self.position_value is not None
        return self.position_value


class Assignment:
    def __init__(self, positions: dict[TopicPartition, int | None]) -> None:
        self.states = {tp: State(p) for tp, p in positions.items()}
        self.tps = frozenset(positions)

    def state_value(self, tp: TopicPartition) -> State | None:
        return self.states.get(tp)


class Subscriptions:
    reassignment_in_progress = False

    def __init__(self, assignment: Assignment) -> None:
        self.subscription = SimpleNamespace(assignment=assignment)

    @contextlib.contextmanager
    def fetch_context(self) -> Iterator[None]:
        yield


class Fetcher:
    """Buffered fetches: per partition, the records a drain returns and the position after."""

    def __init__(self, assignment: Assignment) -> None:
        self._subscriptions = Subscriptions(assignment)
        self.assignment = assignment
        self._records: dict[TopicPartition, Any] = {}
        self.script: dict[TopicPartition, tuple[list[int], int]] = {}
        self._closed = False

    def buffer(self, tp: TopicPartition, offsets: list[int], position_after: int) -> None:
        self._records[tp] = FetchResult(tp, assignment=None, partition_records=None, backoff=0)
        self.script[tp] = (offsets, position_after)

    async def fetched_records(
        self, partitions: Any, timeout: float = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        drained = {}
        for tp in list(self._records):
            offsets, after = self.script.pop(tp)
            del self._records[tp]
            self.assignment.states[tp].position_value = after
            if offsets:
                drained[tp] = [SimpleNamespace(offset=o) for o in offsets]
        return drained


def thread() -> BatchConsumerThread:
    t = BatchConsumerThread.__new__(BatchConsumerThread)
    t._init_marks()
    t.app = SimpleNamespace(topic_check_s=30.0, fence_check_s=5.0)  # type: ignore[assignment]
    return t


async def drain(t: BatchConsumerThread, fetcher: Fetcher) -> tuple[Drained, dict[Any, int]]:
    return await t._drain(fetcher, None, None)


def key(tp: TopicPartition) -> tuple[str, int]:
    return (tp.topic, tp.partition)


async def test_every_partition_resumes_once_after_an_assignment_idle_ones_too() -> None:
    fetcher = Fetcher(Assignment({A: 0, B: 5, C: 7}))
    fetcher.buffer(A, [0, 1, 2], 3)
    fetcher.buffer(C, [], 8)  # only a commit marker at 7
    t = thread()
    drained, resumed = await drain(t, fetcher)
    assert resumed == {key(A): 0, key(B): 5, key(C): 7}
    assert [r.offset for r in drained[A]] == [0, 1, 2] and C not in drained
    assert drained.marks == Marks(passed={key(C): [(7, 8)]})


async def test_markers_after_records_are_a_passed_mark_and_plain_records_are_no_mark() -> None:
    fetcher = Fetcher(Assignment({A: 0}))
    t = thread()
    fetcher.buffer(A, [0, 1], 2)
    await drain(t, fetcher)
    fetcher.buffer(A, [2, 3, 4], 5)  # a fetch without transactions: no mark at all
    drained, resumed = await drain(t, fetcher)
    assert resumed == {} and drained.marks is None
    fetcher.buffer(A, [5, 6, 9], 11)  # 7–8 aborted, 10 the marker
    drained, resumed = await drain(t, fetcher)
    assert resumed == {} and drained.marks == Marks(passed={key(A): [(7, 9), (10, 11)]})
    fetcher.buffer(A, [12, 13], 14)  # 11 a marker before the records
    drained, resumed = await drain(t, fetcher)
    assert resumed == {} and drained.marks == Marks(passed={key(A): [(11, 12)]})


async def test_a_position_moved_between_drains_is_a_resume_there() -> None:
    fetcher = Fetcher(Assignment({A: 0}))
    t = thread()
    fetcher.buffer(A, [0, 1], 2)
    await drain(t, fetcher)
    fetcher.assignment.states[A].position_value = 40  # an offset reset to the log start
    fetcher.buffer(A, [40], 41)
    drained, resumed = await drain(t, fetcher)
    assert resumed == {key(A): 40} and drained.marks is None


async def test_a_new_assignment_resumes_every_partition_again() -> None:
    fetcher = Fetcher(Assignment({A: 0}))
    t = thread()
    fetcher.buffer(A, [0], 1)
    await drain(t, fetcher)
    again = Assignment({A: 1, B: 0})
    fetcher.assignment = again
    fetcher._subscriptions = Subscriptions(again)
    fetcher.buffer(A, [1], 2)
    _, resumed = await drain(t, fetcher)
    assert resumed == {key(A): 1, key(B): 0}


class Consumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self._client = object()
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.to_beginning: list[TopicPartition] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.to_beginning.extend(tps)


async def test_a_topic_with_a_new_id_is_read_again_from_the_beginning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = TopicPartition("p.meeting-held.v1", 0)
    consumer = Consumer({A, B, other})
    t = thread()
    t._topic_ids = {A.topic: "id-1", other.topic: "id-9"}
    t._ends = {A: 10, B: 4, other: 3}

    async def ids(client: Any, topics: list[str]) -> dict[str, TopicInfo]:
        return {A.topic: TopicInfo("id-2", 6), other.topic: TopicInfo("id-9", 6)}

    monkeypatch.setattr(transport, "topic_ids", ids)
    await t._before_drain(consumer)  # type: ignore[arg-type]
    assert sorted(consumer.to_beginning) == [A, B]
    assert t._ends == {other: 3} and {A, B} <= t._unresumed
    assert t._topic_ids[A.topic] == "id-2"


async def test_a_rewind_the_sink_asked_for_is_a_seek_before_the_next_drain() -> None:
    consumer = Consumer({A})
    t = thread()
    t._next_id_check = float("inf")
    t._ends = {A: 45}
    t.request_rewind({key(A): 30, ("p.gone.v1", 0): 3})
    await t._before_drain(consumer)  # type: ignore[arg-type]
    assert consumer.seeks == [(A, 30)]  # a partition no longer assigned is left alone
    assert A not in t._ends and A in t._unresumed and t._rewinds == {}
