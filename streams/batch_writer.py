"""One batch into PostgreSQL: the sink's transaction, under the write policy, inside the safety
net.

:meth:`BatchWriter.write` hands the batch to the safety net (vanphong/core/safetynet.py), which
writes it whole or splits it around a message the database refuses; each part is one
transaction of the sink (sinks/postgres.py), retried as the write policy says
(streams/write_policy.py), and reported to the monitor once committed (once per part, never per
event). What it returns is what PostgreSQL now holds, for the checkpoint (streams/checkpoint.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from vanphong.core.batch import Accepted, Item, Plan
from vanphong.core.lag import TP
from vanphong.core.rejection import Rejection
from vanphong.core.safetynet import stand_in, write_netted
from vanphong.ground.logs import get_logger
from vanphong.sinks.postgres import PostgresSink, blame, describe, refusal
from vanphong.streams.checkpoint import settled_offsets
from vanphong.streams.monitor import Monitor
from vanphong.streams.write_policy import WritePolicy

log = get_logger("vanphong.worker")


class BatchWriter:
    """Writes batches through ``sink``; shared by the runtime's writers (it keeps no batch)."""

    def __init__(self, sink: PostgresSink, policy: WritePolicy, monitor: Monitor) -> None:
        self.sink = sink
        self.policy = policy
        self.monitor = monitor

    async def write(self, items: Sequence[Item], writer: int = 0) -> tuple[int, dict[TP, int]]:
        """Write a batch, each part reported to the monitor once committed; return how many dead
        letters it wrote and the next offset per partition that PostgreSQL holds after it (the
        batch's end, unless the fence found the database behind and the partition rewinds).
        Failures (streams/write_policy.py):

        * the database unavailable: retried for as long as it lasts;
        * two writers racing: retried within ``VANPHONG_CONTENTION_RETRIES`` for the batch (each
          part of a split batch still gets one retry), then deterministic;
        * deterministic: the safety net (vanphong/core/safetynet.py) splits the batch,
          dead-letters a message the database refuses, and retries a failure of the system's
          within ``VANPHONG_FAULT_RETRIES`` (``/healthz`` red meanwhile) before raising
          :class:`~vanphong.core.safetynet.SystemFault`.
        """
        sink = self.sink
        self.monitor.on_batch_received(settled_offsets(items))
        durable: dict[TP, int] = {}
        dead_letters = 0
        contention = self.policy.contention()
        parts = 0

        async def attempt(part: Sequence[Item]) -> None:
            nonlocal dead_letters, parts
            parts += 1
            if parts > 1:
                self.monitor.on_retry("bisect")
            # Only a few scalars for the log lines: keep the batch out of long-lived objects.
            first = part[0].at
            where = {
                "topic": first.topic,
                "partition": first.partition,
                "offset": first.offset,
                "events": len(part),
            }

            async def timed() -> tuple[Plan, float]:
                started = time.perf_counter()
                plan = await sink.write(part)
                return plan, time.perf_counter() - started

            plan, elapsed = await self.policy.write(timed, contention, where)
            durable.update(plan.settled)
            self.monitor.on_batch_committed(
                Counter([i.at.topic for i in part]), plan, plan.settled, elapsed
            )
            _log_rejections(plan)
            dead_letters += len(plan.dead_letters)

        async def dead_letter(item: Item, error: BaseException) -> None:
            if not isinstance(item.outcome, Accepted | Rejection):
                raise error  # a position mark carries no data: its failure is the system's
            rejection = refusal(error)
            log.error(
                "message refused by PostgreSQL, dead-lettered",
                topic=item.at.topic,
                partition=item.at.partition,
                offset=item.at.offset,
                error=describe(error),
            )
            await attempt([Item(item.at, item.key, item.value, rejection)])

        retry = self.policy.fault_retry(items, writer)
        try:
            await write_netted(items, attempt, dead_letter, blame, retry, self.rehearse)
        finally:
            self.monitor.on_failing(writer, None)
        return dead_letters, durable

    async def rehearse(self, item: Item) -> bool:
        """Whether a stand-in of ``item`` (its content under other identities) is written, in a
        transaction rolled back: if so, the system works and ``item`` itself is at fault
        (vanphong/core/safetynet.py). A position mark or a dead letter has no stand-in."""
        outcome = item.outcome
        if not isinstance(outcome, Accepted):
            return False
        twin = Accepted(
            outcome.event_type, stand_in(outcome.event_type, outcome.record, self.sink.schemas)
        )
        try:
            await self.sink.rehearse([Item(item.at, item.key, item.value, twin)])
        except Exception as exc:
            log.warning("a stand-in of the message failed too", error=describe(exc))
            return False
        log.warning(
            "a stand-in of the message went through: the message is at fault",
            topic=item.at.topic,
            partition=item.at.partition,
            offset=item.at.offset,
        )
        return True


def _log_rejections(plan: Plan) -> None:
    for item, rejection in plan.dead_letters:
        log.warning(
            "rejected",
            reason=str(rejection.reason),
            detail=rejection.detail,
            topic=item.at.topic,
            partition=item.at.partition,
            offset=item.at.offset,
        )
