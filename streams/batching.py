"""Batches of faust events that are acked by the caller, after its commit.

faust's ``Stream.take_events`` buffers efficiently (a processor fills the buffer while the
stream is drained in the background) but acks the batch in a ``finally``: also when the batch
failed or the agent was cancelled, which would let the Kafka commit pass what PostgreSQL holds.
This is the same buffering with the acks left to the caller. It leans on three internals of the
pinned faust-streaming 0.15.3 (``add_processor``, ``_enable_passive``, ``_processors``), which
the exactly-once tests exercise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
from mode.utils.futures import notify


async def take_unacked(
    stream: faust.StreamT, max_items: int, max_wait_s: float
) -> AsyncIterator[list[faust.EventT]]:
    """Yield lists of at most ``max_items`` events, or what arrived within ``max_wait_s`` of
    waiting; none of them acked. The next list is gathered only after the caller is done with
    the previous one (the stream waits meanwhile), so memory stays bounded by ``max_items``."""
    events: list[faust.EventT] = []
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future[Any] | None = None
    loop = asyncio.get_running_loop()

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        if consuming is not None:  # the caller holds a batch: wait until it is done
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("faust gave a value without its event")
        events.append(event)
        if len(events) >= max_items:
            full.set()
            consumed.clear()
            await stream.wait(consumed)  # type: ignore[attr-defined]
        return value

    stream.enable_acks = False  # type: ignore[attr-defined]
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))  # type: ignore[attr-defined]
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(full, timeout=max_wait_s)  # type: ignore[attr-defined]
            if not events:
                continue
            consuming = loop.create_future()
            try:
                yield list(events)
            finally:
                events.clear()
                notify(consuming)
                full.clear()
                consumed.set()
    finally:
        stream._processors.remove(add_to_buffer)  # type: ignore[attr-defined]
