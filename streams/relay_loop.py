"""The dead-letter relay's loop: when the outbox is sent to the dead-letter topic.

The relay itself (what a round sends, and how it never sends one twice) is
streams/deadletters.py. This loop runs it in a task of its own, woken after a commit that wrote
dead letters (:meth:`RelayLoop.wake`) and every ``VANPHONG_RELAY_INTERVAL_S``, so that a hung
broker delays dead letters on their topic (they are safe in the outbox), never a write to
PostgreSQL: nothing here is awaited by a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.streams.deadletters import DeadLetterRelay
from vanphong.streams.monitor import Monitor

log = get_logger("vanphong.worker")


class RelayLoop:
    """Rounds of ``relay`` until ``stopping()`` says the worker stops."""

    def __init__(
        self,
        relay: DeadLetterRelay,
        settings: Settings,
        monitor: Monitor,
        stopping: Callable[[], bool],
    ) -> None:
        self.relay = relay
        self.interval_s = settings.relay_interval_s
        self.monitor = monitor
        self.stopping = stopping
        self._wanted = asyncio.Event()

    def wake(self) -> None:
        """A commit wrote dead letters: a round now rather than at the next interval."""
        self._wanted.set()

    async def run(self) -> None:
        """A round after every :meth:`wake`, and every ``VANPHONG_RELAY_INTERVAL_S`` (a round
        that failed, or found more than it takes, is followed by another)."""
        while not self.stopping():
            self._wanted.clear()
            if await self.round():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), self.interval_s)

    async def round(self) -> bool:
        """One round of the relay; True if it should be followed by another at once. Best
        effort: a dead letter that cannot be sent now stays in the outbox for the next round."""
        try:
            done = await self.relay.relay()
        except (Exception, asyncio.CancelledError) as exc:  # the outbox keeps it: next round
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and (
                self.stopping() or (task is not None and task.cancelling())
            ):
                raise  # we are stopping; anything else (aiokafka's stop() can raise a stray
                # CancelledError after a deadline cut its start() short) must not end the loop
            self.monitor.on_transient_failure("dead_letter_relay")
            log.warning("dead letters not relayed yet", error=f"{type(exc).__name__}: {exc}")
            return False
        if done.sent or done.recovered:
            log.info("dead letters relayed", sent=done.sent, recovered=done.recovered)
        return done.more
