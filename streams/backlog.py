"""The prepared items between the fetch and the writer.

The fetch side decodes and validates the next fetch while the writer's transaction is in
PostgreSQL, so Python's CPU and PostgreSQL's work overlap. The writer takes what has gathered,
up to a batch's size: under load the batches fill while the previous one commits. Under a
moderate load a part-full batch waits up to ``linger`` seconds for more: each transaction costs
PostgreSQL about ten statements whatever its size, and without the wait a steady 5,000 events/s
became ~200 transactions a second that kept two PostgreSQL backends half busy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from vanphong.core.batch import Item


class Backlog:
    """A bounded FIFO of items; a put waits while ``max_items`` or more are waiting."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._items: list[Item] = []
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._full = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, items: Iterable[Item]) -> None:
        """Add items in order (one fetch may overshoot ``max_items``: a fetch is never split)."""
        await self._not_full.wait()
        self._items.extend(items)
        self._changed()

    async def take(self, linger: float = 0.0) -> list[Item]:
        """The oldest items, at most ``max_items``, once there are any and either there are
        ``max_items`` or ``linger`` seconds have passed since there were some."""
        while not self._items:
            await self._not_empty.wait()
        if linger > 0 and not self._full.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), linger)
        batch = self._items[: self.max_items]
        del self._items[: self.max_items]
        self._changed()
        return batch

    def _changed(self) -> None:
        if self._items:
            self._not_empty.set()
        else:
            self._not_empty.clear()
        if len(self._items) < self.max_items:
            self._not_full.set()
            self._full.clear()
        else:
            self._not_full.clear()
            self._full.set()
