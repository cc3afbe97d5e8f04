"""The write policy: what a failure means, how often it is retried, how long the worker waits,
and when it gives up. Every retry of the worker goes through here, so the budgets and the
classification are read in one place.

| what failed                        | meaning       | budget                                   |
|------------------------------------|---------------|------------------------------------------|
| the database, at start             | unavailable   | as long as it lasts                      |
| the Schema Registry, before a fetch| unavailable   | as long as it lasts                      |
| a batch's write: TransientError    | unavailable   | as long as it lasts (the batch is kept)  |
| a batch's write: ContentionError   | contention    | ``VANPHONG_CONTENTION_RETRIES`` a batch, |
|                                    |               | then one more for each part of a split   |
| anything else                      | deterministic | the safety net (vanphong/core/safetynet) |
| …that the safety net blames on the | fault         | ``VANPHONG_FAULT_RETRIES``, ``/healthz`` |
| system                             |               | red meanwhile, then :meth:`give_up`      |

Why these: nothing a message contains makes the database or the registry unreachable, so waiting
loses nothing and a dead letter would be wrong; a race normally resolves on the next try, but
data can make the same "race" come back every time, hence its budget; a fault of the system
(a migration in progress) may pass, but one that lasts must stop the worker, so that its
supervisor restarts it and the restart reads the batch again from the committed offsets.

One loop (:func:`retry_until`) and one curve (:func:`backoff_s`) serve every row; the safety
net, which owns the order of a split batch's parts, asks :meth:`WritePolicy.fault_retry` before
each retry of a fault.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from vanphong.core.batch import Item
from vanphong.core.rejection import ContentionError, TransientError
from vanphong.core.safetynet import Retry, SystemFault
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.sinks.postgres import describe
from vanphong.streams.monitor import Monitor

log = get_logger("vanphong.worker")

T = TypeVar("T")


def backoff_s(retry: int) -> float:
    """Before retry number ``retry`` (1, 2, …): 0.2 s doubling to 10 s, plus up to 0.5 s of
    jitter. The one retry curve of the worker (the sink's connection at start uses it too)."""
    return min(10.0, 0.2 * 2 ** min(retry - 1, 16)) + random.uniform(0, 0.5)


async def retry_until(
    op: Callable[[], Awaitable[T]], retried: Callable[[Exception], int | None]
) -> T:
    """Run ``op`` until it succeeds. ``retried`` judges each failure: the number of this retry
    of its kind (1, 2, …; it has counted and reported it), after which the loop waits
    :func:`backoff_s` of it and runs ``op`` again, or None, and the failure is raised as it is."""
    while True:
        try:
            return await op()
        except Exception as exc:
            retry = retried(exc)
            if retry is None:
                raise
        await asyncio.sleep(backoff_s(retry))


class ContentionBudget:
    """``VANPHONG_CONTENTION_RETRIES`` for a whole batch; once spent, each part of a batch the
    safety net splits still gets one retry (then the race counts as deterministic)."""

    def __init__(self, retries: int) -> None:
        self.retries = retries
        self.left = retries

    def allows(self, retry: int) -> bool:
        """Whether retry number ``retry`` of one part may run (it is counted if so)."""
        if self.left > 0:
            self.left -= 1
            return True
        return retry == 1 and self.retries > 0


class WritePolicy:
    """The module docstring's table, with the monitor's counters and the log lines of each row."""

    def __init__(self, settings: Settings, monitor: Monitor) -> None:
        self.contention_retries = settings.contention_retries
        self.fault_retries = settings.fault_retries
        self.monitor = monitor

    async def connect(self, connect: Callable[[], Awaitable[T]]) -> T:
        """The database at start: unavailable is waited for as long as it lasts."""
        retried = self._unavailable("database", "database unavailable, retrying", counted=False)
        return await retry_until(connect, retried)

    async def look_up(self, look_up: Callable[[], Awaitable[T]]) -> T:
        """The Schema Registry before a fetch is decoded: waited for as long as it lasts, never
        a dead letter."""
        message = "schema registry unavailable, retrying"
        return await retry_until(look_up, self._unavailable("schema_registry", message))

    def _unavailable(
        self, service: str, message: str, *, counted: bool = True
    ) -> Callable[[Exception], int | None]:
        """A judge for :func:`retry_until`: ``service`` unavailable (TransientError) is counted,
        logged with ``message`` (and the retry's number if ``counted``) and waited for."""
        retries = 0

        def retried(exc: Exception) -> int | None:
            nonlocal retries
            if not isinstance(exc, TransientError):
                return None
            retries += 1
            self.monitor.on_transient_failure(service)
            attempt = {"attempt": retries} if counted else {}
            log.warning(message, error=str(exc), **attempt)
            return retries

        return retried

    def contention(self) -> ContentionBudget:
        """A new batch's budget for races (shared by the parts the safety net splits it into)."""
        return ContentionBudget(self.contention_retries)

    async def write(
        self,
        write: Callable[[], Awaitable[T]],
        budget: ContentionBudget,
        where: Mapping[str, Any],
    ) -> T:
        """One part of a batch: the database unavailable is waited for, a race retried within
        ``budget``; anything else (and a race over budget) is raised for the safety net.
        ``where``: the part's first coordinates and size, for the log line."""
        retries: Counter[str] = Counter()

        def retried(exc: Exception) -> int | None:
            if isinstance(exc, ContentionError):
                kind = "contention"
            elif isinstance(exc, TransientError):
                kind = "unavailable"
            else:
                return None
            retries[kind] += 1
            if kind == "contention" and not budget.allows(retries[kind]):
                return None  # no longer a race: the safety net judges it
            self.monitor.on_transient_failure("database")
            self.monitor.on_retry(kind)
            log.warning(
                "batch not written, retrying",
                error=describe(exc),
                kind=kind,
                attempt=retries[kind],
                **where,
            )
            return retries[kind]

        return await retry_until(write, retried)

    def fault_retry(self, items: Sequence[Item], writer: int) -> Retry:
        """The safety net's question before retry ``n`` of a fault it blames on the system:
        within ``VANPHONG_FAULT_RETRIES``, say so (``/healthz`` red), wait, and go on."""

        async def retry(error: BaseException, n: int) -> bool:
            if n > self.fault_retries:
                return False
            failure = {
                "error": describe(error),
                "partitions": offset_ranges(items),
                "retry": n,
                "of": self.fault_retries,
            }
            self.monitor.on_retry("fault")
            self.monitor.on_failing(writer, failure)
            log.error("batch failed, retrying", **failure)
            await asyncio.sleep(backoff_s(n))
            return True

        return retry

    def give_up(self, exc: Exception, items: Sequence[Item]) -> None:
        """The last word on a batch the worker cannot write: its coordinates and the error, in
        the log and on ``/healthz``, before the exception ends the process."""
        failure: dict[str, Any] = {
            "error": describe(exc),
            "partitions": offset_ranges(items),
            "events": len(items),
        }
        if isinstance(exc, SystemFault):
            at = exc.item.at
            failure.update(
                error=describe(exc.error),
                at={"topic": at.topic, "partition": at.partition, "offset": at.offset},
                attempts=exc.attempts,
            )
        self.monitor.on_fatal(failure)
        log.critical("batch failed, the worker exits", exc_info=exc, **failure)


def offset_ranges(items: Sequence[Item]) -> dict[str, str]:
    """``{"document-issued.v1/3": "120-180"}``: a batch's offsets per partition, for a log line."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for i in items:
        key = (i.at.topic, i.at.partition)
        low, high = ranges.get(key, (i.at.offset, i.at.offset))
        ranges[key] = (min(low, i.at.offset), max(high, i.at.offset))
    return {f"{t}/{p}": f"{low}-{high}" for (t, p), (low, high) in sorted(ranges.items())}
