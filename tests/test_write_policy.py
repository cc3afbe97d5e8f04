"""The worker's named parts without a stack: the write policy's one retry loop and its budgets
(streams/write_policy.py), and the checkpoint's rule that a failed Kafka commit loses nothing
(streams/checkpoint.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vanphong.core.rejection import ContentionError, TransientError
from vanphong.ground.settings import Settings
from vanphong.streams import checkpoint, write_policy
from vanphong.streams.checkpoint import Checkpoint
from vanphong.streams.write_policy import ContentionBudget, WritePolicy, retry_until


class Books:
    """What the policy tells the monitor."""

    def __init__(self) -> None:
        self.transient: list[str] = []
        self.retries: list[str] = []

    def on_transient_failure(self, kind: str) -> None:
        self.transient.append(kind)

    def on_retry(self, kind: str) -> None:
        self.retries.append(kind)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_policy, "backoff_s", lambda retry: 0.0)


def failing(*errors: Exception) -> Any:
    """An operation that raises ``errors`` in turn, then returns how many calls it took."""
    calls = 0

    async def op() -> int:
        nonlocal calls
        calls += 1
        if calls <= len(errors):
            raise errors[calls - 1]
        return calls

    return op


def test_retry_until_retries_what_the_judge_takes_and_raises_the_rest() -> None:
    judged: list[str] = []

    def retried(exc: Exception) -> int | None:
        judged.append(str(exc))
        return len(judged) if isinstance(exc, TransientError) else None

    assert asyncio.run(retry_until(failing(TransientError("a"), TransientError("b")), retried)) == 3
    boom = ValueError("boom")
    with pytest.raises(ValueError) as raised:
        asyncio.run(retry_until(failing(TransientError("c"), boom), retried))
    assert raised.value is boom  # raised as it is
    assert judged == ["a", "b", "c", "boom"]


def test_the_contention_budget_is_the_batch_s_then_one_retry_per_part() -> None:
    budget = ContentionBudget(2)
    assert [budget.allows(1), budget.allows(2)] == [True, True]  # the batch's two
    assert budget.allows(3) is False
    assert budget.allows(1) is True  # a new part still gets one
    assert budget.allows(2) is False
    assert ContentionBudget(0).allows(1) is False  # no budget at all: never


def test_a_batch_write_waits_for_the_database_and_hands_an_endless_race_to_the_safety_net() -> None:
    books = Books()
    policy = WritePolicy(Settings(contention_retries=1), books)  # type: ignore[arg-type]
    where = {"topic": "t", "partition": 0, "offset": 0, "events": 1}
    op = failing(TransientError("down"), TransientError("down"), ContentionError("race"))
    assert asyncio.run(policy.write(op, policy.contention(), where)) == 4
    assert books.retries == ["unavailable", "unavailable", "contention"]
    assert books.transient == ["database"] * 3
    race = ContentionError("again")
    with pytest.raises(ContentionError):
        asyncio.run(policy.write(failing(race, race, race), ContentionBudget(1), where))


def test_a_failed_kafka_commit_keeps_its_offsets_and_newer_ones_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    told: list[dict[tuple[str, int], int]] = []
    answers = [False, True]

    async def commit_offsets(app: object, offsets: dict[tuple[str, int], int]) -> bool:
        told.append(dict(offsets))
        return answers.pop(0)

    monkeypatch.setattr(checkpoint, "commit_offsets", commit_offsets)
    point = Checkpoint()
    asyncio.run(point.commit(object()))  # type: ignore[arg-type]
    assert told == []  # nothing durable yet: Kafka is not asked
    point.store({("a", 0): 10, ("a", 1): 5})
    asyncio.run(point.commit(None))  # no app yet: kept
    asyncio.run(point.commit(object()))  # type: ignore[arg-type]  # refused: kept
    point.store({("a", 0): 12})
    asyncio.run(point.commit(object()))  # type: ignore[arg-type]
    asyncio.run(point.commit(object()))  # type: ignore[arg-type]  # all told: nothing to do
    assert told == [{("a", 0): 10, ("a", 1): 5}, {("a", 0): 12, ("a", 1): 5}]
