"""Batches from an async stream: full at ``max_items``, or ``max_wait_s`` after the first item.

The next item is awaited in its own task that is never cancelled by the timer, so a batch that
times out never tears the underlying (faust) iterator mid-message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def batches(
    source: AsyncIterable[T], max_items: int, max_wait_s: float
) -> AsyncIterator[list[T]]:
    loop = asyncio.get_running_loop()
    iterator = aiter(source)
    pending: asyncio.Future[T] | None = None
    buffer: list[T] = []
    deadline = 0.0
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            timeout = max(0.0, deadline - loop.time()) if buffer else None
            done, _ = await asyncio.wait({pending}, timeout=timeout)
            if done:
                finished, pending = pending, None
                try:
                    item = finished.result()
                except StopAsyncIteration:
                    if buffer:
                        yield buffer
                    return
                if not buffer:
                    deadline = loop.time() + max_wait_s
                buffer.append(item)
                if len(buffer) < max_items:
                    continue
            yield buffer
            buffer = []
    finally:
        if pending is not None:
            pending.cancel()
