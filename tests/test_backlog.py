"""The backlog between the fetch and a writer: bounded, FIFO, a part-full batch lingers.

Pure asyncio, no broker or database. Waits are checked by what has happened (a task done or
not), never by how long something took.
"""

from __future__ import annotations

import asyncio

from vanphong.core.batch import Coordinates, Item
from vanphong.core.rejection import Reason, Rejection
from vanphong.streams.backlog import Backlog


def items(first: int, n: int, partition: int = 0) -> list[Item]:
    return [
        Item(Coordinates("t", partition, o), None, b"", Rejection(Reason.UNDECODABLE, ""))
        for o in range(first, first + n)
    ]


def offsets(batch: list[Item]) -> list[int]:
    return [i.at.offset for i in batch]


async def test_a_full_batch_is_taken_at_once_and_in_order() -> None:
    backlog = Backlog(max_items=3)
    await backlog.put(items(0, 2))
    await backlog.put(items(2, 3))  # a fetch is never split: 5 waiting now
    assert offsets(await backlog.take(linger=3600)) == [0, 1, 2]
    assert offsets(await backlog.take()) == [3, 4]
    assert len(backlog) == 0


async def test_a_part_full_batch_waits_for_more_until_it_is_full() -> None:
    backlog = Backlog(max_items=4)
    await backlog.put(items(0, 1))
    taking = asyncio.create_task(backlog.take(linger=3600))
    await asyncio.sleep(0)
    assert not taking.done()  # one item, and it may linger: it waits
    await backlog.put(items(1, 3))
    assert offsets(await asyncio.wait_for(taking, 5)) == [0, 1, 2, 3]


async def test_without_linger_a_part_full_batch_is_taken_as_it_is() -> None:
    backlog = Backlog(max_items=4)
    await backlog.put(items(0, 1))
    assert offsets(await backlog.take(linger=0)) == [0]


async def test_a_put_waits_while_the_backlog_is_full() -> None:
    backlog = Backlog(max_items=2)
    await backlog.put(items(0, 2))
    putting = asyncio.create_task(backlog.put(items(2, 1)))
    await asyncio.sleep(0)
    assert not putting.done()
    assert offsets(await backlog.take()) == [0, 1]
    await asyncio.wait_for(putting, 5)
    assert offsets(await backlog.take()) == [2]
