"""The safety net (vanphong/core/safetynet.py) over a fake writer, and the classification of
database errors it relies on (sinks/postgres.py): no Kafka, no PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vanphong.core.rejection import MAX_DETAIL, ContentionError, Reason
from vanphong.core.safetynet import Blame, SystemFault, write_netted
from vanphong.sinks.postgres import blame, classify, refusal

# --------------------------------------------------------------------------------------------
# A fake sink: atomic writes of parts, stored next offsets, poison that fails any part with it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    partition: int
    offset: int
    fault: Blame | None = None  # fails every write that includes it, blamed on this
    heals_after: int | None = None  # a system fault that goes away after this many failures
    own: bool = False  # a SYSTEM-class fault tied to this message: a stand-in of it goes through


class Refused(Exception):
    def __init__(self, msg: Msg, fault: Blame) -> None:
        super().__init__(f"refused {msg.partition}@{msg.offset}")
        self.fault = fault


@dataclass
class FakeSink:
    written: list[Msg] = field(default_factory=list)  # good messages, in write order
    dead: list[Msg] = field(default_factory=list)
    settled: list[Msg] = field(default_factory=list)  # both, in the order they committed
    next_offset: dict[int, int] = field(default_factory=dict)
    failures: dict[Msg, int] = field(default_factory=dict)
    writes: int = 0
    retries: list[int] = field(default_factory=list)
    budget: int = 3
    dead_letter_fails: bool = False
    rehearsals: list[Msg] = field(default_factory=list)

    async def write(self, part: Sequence[Msg]) -> None:
        self.writes += 1
        for m in part:
            if m.fault is not None and (
                m.heals_after is None or self.failures.get(m, 0) < m.heals_after
            ):
                self.failures[m] = self.failures.get(m, 0) + 1
                raise Refused(m, m.fault)
        for m in part:  # like the sink: offsets in order per partition, each applied once
            assert m.offset >= self.next_offset.get(m.partition, 0), f"{m} out of order"
            self.next_offset[m.partition] = m.offset + 1
        self.written += part
        self.settled += part

    async def dead_letter(self, m: Msg, error: BaseException) -> None:
        if self.dead_letter_fails:
            raise RuntimeError("the outbox is gone")
        assert isinstance(error, Refused)
        assert m.offset >= self.next_offset.get(m.partition, 0), f"{m} out of order"
        self.next_offset[m.partition] = m.offset + 1
        self.dead.append(m)
        self.settled.append(m)

    async def retry(self, error: BaseException, n: int) -> bool:
        self.retries.append(n)
        return n <= self.budget

    async def rehearse(self, m: Msg) -> bool:
        """A stand-in of ``m`` (other identities, rolled back) goes through unless its fault is
        the system's: not tied to the message, and not healed yet."""
        self.rehearsals.append(m)
        if m.fault is None or m.own:
            return True
        return m.heals_after is not None and self.failures.get(m, 0) >= m.heals_after


def fake_blame(error: BaseException) -> Blame:
    return error.fault if isinstance(error, Refused) else Blame.SYSTEM


def net(sink: FakeSink, batch: list[Msg]) -> list[tuple[Msg, BaseException]]:
    return asyncio.run(
        write_netted(batch, sink.write, sink.dead_letter, fake_blame, sink.retry, sink.rehearse)
    )


def batch_of(specs: list[tuple[int, Blame | None]]) -> list[Msg]:
    """Messages in batch order, offsets counted per partition (a partition's are in order)."""
    offsets: dict[int, int] = {}
    out = []
    for partition, fault in specs:
        offset = offsets.get(partition, 100)
        offsets[partition] = offset + 1
        out.append(Msg(partition, offset, fault))
    return out


def in_partition_order(messages: list[Msg]) -> bool:
    last: dict[int, int] = {}
    for m in messages:
        if m.offset <= last.get(m.partition, -1):
            return False
        last[m.partition] = m.offset
    return True


specs = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from([None] * 6 + [Blame.MESSAGE]),
    ),
    min_size=1,
    max_size=80,
)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@given(specs)
@settings(max_examples=300, deadline=None)
def test_every_good_message_is_written_once_in_order_and_exactly_the_poison_is_dead_lettered(
    spec: list[tuple[int, Blame | None]],
) -> None:
    batch = batch_of(spec)
    sink = FakeSink()
    poisoned = net(sink, batch)
    good = [m for m in batch if m.fault is None]
    poison = [m for m in batch if m.fault is Blame.MESSAGE]
    assert sink.written == good  # each once, in batch order
    assert sink.dead == poison == [m for m, _ in poisoned]
    assert sorted(sink.settled, key=batch.index) == batch  # nothing lost, nothing twice
    assert in_partition_order(sink.settled)
    assert all(isinstance(e, Refused) and e.fault is Blame.MESSAGE for _, e in poisoned)
    assert not sink.retries  # the message's fault is not retried


@given(specs, st.data())
@settings(max_examples=300, deadline=None)
def test_a_fault_of_the_system_stops_at_its_message_after_the_budget_never_blamed_on_it(
    spec: list[tuple[int, Blame | None]], data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(spec) - 1))
    spec[at] = (spec[at][0], Blame.SYSTEM)
    batch = batch_of(spec)
    sink = FakeSink()
    with pytest.raises(SystemFault) as raised:
        net(sink, batch)
    first = next(m for m in batch if m.fault is Blame.SYSTEM)
    assert raised.value.item == first and raised.value.attempts == sink.budget + 1
    assert sink.retries == [1, 2, 3, 4]
    before = batch[: batch.index(first)]
    assert sink.written == [m for m in before if m.fault is None]  # none after it
    assert sink.dead == [m for m in before if m.fault is Blame.MESSAGE]
    assert len(sink.rehearsals) == sink.budget  # its stand-in failed after each retry


def test_when_every_message_fails_for_the_system_the_worker_stops_quickly() -> None:
    batch = batch_of([(i % 3, Blame.SYSTEM) for i in range(4000)])
    sink = FakeSink(budget=2)
    with pytest.raises(SystemFault) as raised:
        net(sink, batch)
    assert raised.value.item == batch[0]
    assert sink.writes == 12 + 2  # down one side of the bisection (4000, 2000, …, 3, 1), retries
    assert not sink.written and not sink.dead


def test_a_fault_of_the_system_that_goes_away_within_the_budget_loses_nothing() -> None:
    batch = batch_of([(0, None)] * 5 + [(1, None)] * 5)
    # fails in 4 writes on the way down (10, 5, 2, 1 messages), then in its 2 retries; the
    # stand-in after the second goes through, and so does the message, written once more
    flaky = Msg(batch[6].partition, batch[6].offset, Blame.SYSTEM, heals_after=6)
    batch[6] = flaky
    sink = FakeSink(budget=3)
    assert net(sink, batch) == []
    assert sink.written == batch and sink.retries == [1, 2] and not sink.dead


def test_a_one_off_failure_of_the_whole_batch_splits_it_and_writes_everything() -> None:
    batch = batch_of([(p, None) for p in [0, 1, 0, 2, 1, 0]])
    sink = FakeSink()
    once = {"failed": False}
    write = sink.write

    async def fails_once(part: Sequence[Msg]) -> None:
        if not once["failed"]:
            once["failed"] = True
            raise RuntimeError("a glitch")
        await write(part)

    sink.write = fails_once  # type: ignore[method-assign]
    assert net(sink, batch) == []
    assert sink.written == batch and not sink.dead and not sink.retries


def test_a_single_poison_message_alone_in_its_batch_is_dead_lettered() -> None:
    batch = batch_of([(4, Blame.MESSAGE)])
    sink = FakeSink()
    assert [m for m, _ in net(sink, batch)] == batch
    assert sink.dead == batch and sink.writes == 1


def test_a_message_refused_by_the_system_whose_stand_in_goes_through_is_dead_lettered() -> None:
    """Say a trigger that refuses one entity (P0001): the class blames the system, but once the
    message has failed twice on its own, a stand-in of it goes through, so it is the message's."""
    batch = batch_of([(0, None), (0, Blame.SYSTEM), (1, None), (0, None)])
    batch[1] = Msg(batch[1].partition, batch[1].offset, Blame.SYSTEM, own=True)
    sink = FakeSink()
    assert [m for m, _ in net(sink, batch)] == [batch[1]]
    assert sink.written == [batch[0], batch[2], batch[3]] and sink.dead == [batch[1]]
    assert sink.retries == [1]  # written once more on its own, then rehearsed
    assert sink.rehearsals == [batch[1]]


def test_such_a_message_alone_at_the_quiet_end_of_a_topic_is_dead_lettered_too() -> None:
    batch = [Msg(0, 7, Blame.SYSTEM, own=True)]
    sink = FakeSink()
    assert [m for m, _ in net(sink, batch)] == batch and sink.dead == batch


def test_a_dead_letter_that_cannot_be_written_is_the_systems_fault() -> None:
    batch = batch_of([(0, None), (0, Blame.MESSAGE), (0, None)])
    sink = FakeSink(dead_letter_fails=True, budget=1)
    with pytest.raises(SystemFault) as raised:
        net(sink, batch)
    assert raised.value.item == batch[1] and "outbox" in str(raised.value)
    assert sink.written == batch[:1]


def test_one_poison_message_costs_a_logarithmic_number_of_writes() -> None:
    batch = batch_of([(i % 6, None) for i in range(4000)])
    batch[2345] = Msg(batch[2345].partition, batch[2345].offset, Blame.MESSAGE)
    sink = FakeSink()
    net(sink, batch)
    assert sink.dead == [batch[2345]]
    assert sink.writes <= 2 * 12 + 1


# --------------------------------------------------------------------------------------------
# Which database errors are whose
# --------------------------------------------------------------------------------------------


def pg(cls: type[asyncpg.PostgresError], message: str = "boom") -> asyncpg.PostgresError:
    return cls(message)


@pytest.mark.parametrize(
    ("error", "kind", "whose"),
    [
        (pg(asyncpg.UntranslatableCharacterError), "deterministic", Blame.MESSAGE),  # 22P05
        (pg(asyncpg.StringDataRightTruncationError), "deterministic", Blame.MESSAGE),  # 22001
        (pg(asyncpg.CheckViolationError), "deterministic", Blame.MESSAGE),  # 23514
        (pg(asyncpg.NotNullViolationError), "deterministic", Blame.MESSAGE),  # 23502
        (pg(asyncpg.ProgramLimitExceededError), "deterministic", Blame.MESSAGE),  # 54000
        (pg(asyncpg.UndefinedTableError), "deterministic", Blame.SYSTEM),  # 42P01
        (pg(asyncpg.InsufficientPrivilegeError), "deterministic", Blame.SYSTEM),  # 42501
        (pg(asyncpg.RaiseError), "deterministic", Blame.SYSTEM),  # P0001
        (pg(asyncpg.InternalServerError), "deterministic", Blame.SYSTEM),  # XX000
        (KeyError("a bug of ours"), "deterministic", Blame.SYSTEM),
        (pg(asyncpg.ConnectionFailureError), "unavailable", Blame.SYSTEM),  # 08006
        (pg(asyncpg.AdminShutdownError), "unavailable", Blame.SYSTEM),  # 57P01
        (pg(asyncpg.DiskFullError), "unavailable", Blame.SYSTEM),  # 53100
        (pg(asyncpg.ReadOnlySQLTransactionError), "unavailable", Blame.SYSTEM),  # 25006: demoted
        (ConnectionResetError(), "unavailable", Blame.SYSTEM),
        (asyncpg.InterfaceError("connection is closed"), "unavailable", Blame.SYSTEM),
        (pg(asyncpg.UniqueViolationError), "contention", Blame.MESSAGE),  # 23505
        (pg(asyncpg.SerializationError), "contention", Blame.SYSTEM),  # 40001
        (pg(asyncpg.DeadlockDetectedError), "contention", Blame.SYSTEM),  # 40P01
        (pg(asyncpg.LockNotAvailableError), "contention", Blame.SYSTEM),  # 55P03
    ],
)
def test_each_failure_class_is_retried_judged_or_blamed_as_documented(
    error: BaseException, kind: str, whose: Blame
) -> None:
    assert classify(error) == kind
    assert blame(error) is whose


def test_a_race_that_outlasts_its_budget_is_judged_by_its_cause() -> None:
    def spent(cause: BaseException) -> ContentionError:
        try:
            raise ContentionError("PostgreSQL: still racing") from cause
        except ContentionError as exc:
            return exc

    assert blame(spent(pg(asyncpg.UniqueViolationError))) is Blame.MESSAGE
    assert blame(spent(pg(asyncpg.DeadlockDetectedError))) is Blame.SYSTEM


def test_a_refusal_names_the_sqlstate_and_the_databases_words() -> None:
    error = asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence")
    error.detail = "\\u0000 cannot be converted to text."  # type: ignore[attr-defined]
    rejection = refusal(error)
    assert rejection.reason is Reason.INVALID_FIELD
    assert rejection.detail.startswith("PostgreSQL refused this message (SQLSTATE 22P05): ")
    assert "unsupported Unicode escape sequence" in rejection.detail
    assert "cannot be converted to text" in rejection.detail

    check = asyncpg.CheckViolationError('new row violates check constraint "c"')
    check.detail = "Failing row contains (award.granted, a1, Trần Thị B)"  # type: ignore[attr-defined]
    assert "Failing row" not in refusal(check).detail  # no row dumps (personal data) anywhere
    assert 'check constraint "c"' in refusal(check).detail

    long = refusal(asyncpg.CheckViolationError("x\x00" + "y" * 10_000))
    assert len(long.detail) == MAX_DETAIL and "\x00" not in long.detail


# --------------------------------------------------------------------------------------------
# What /healthz and /metrics say about it (streams/monitor.py)
# --------------------------------------------------------------------------------------------


def test_healthz_is_red_while_a_writer_retries_a_fault_and_once_the_worker_gives_up() -> None:
    from prometheus_client import generate_latest

    from vanphong.ground.settings import Settings
    from vanphong.streams.monitor import Monitor

    monitor = Monitor(Settings(topic_prefix="vp"))
    assert monitor.health()[0]
    failure = {"error": "RaiseError: boom", "partitions": {"vp.document-issued.v1/3": "10-90"}}
    monitor.on_failing(1, failure)
    monitor.on_retry("fault")
    healthy, body = monitor.health()
    assert not healthy and body["status"] == "failing" and body["failure"] == failure
    assert "RaiseError: boom" in body["reason"]
    monitor.on_failing(1, None)  # the retry went through
    assert monitor.health()[0]

    monitor.on_fatal({**failure, "at": {"topic": "vp.document-issued.v1", "offset": 42}})
    healthy, body = monitor.health()
    assert not healthy and body["status"] == "failed" and body["failure"]["at"]["offset"] == 42
    metrics = generate_latest(monitor.metrics.registry).decode()
    assert 'vanphong_write_retries_total{kind="fault"} 1.0' in metrics
    assert 'vanphong_write_retries_total{kind="unavailable"} 0.0' in metrics
    assert "vanphong_failed 1.0" in metrics
