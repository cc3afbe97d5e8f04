"""``vanphong publish``'s second half: the prepared messages sent, with acks from every in-sync
replica and idempotence, chunk by chunk; a refusal is raised once every send of its chunk has
ended, so no outcome is left unread."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from vanphong.ground.kafka import kafka_client_kwargs, start_client
from vanphong.ground.settings import Settings
from vanphong.publish.prepare import Outgoing


async def send_all(
    messages: list[Outgoing], settings: Settings, on_sent: object = None, chunk: int = 5000
) -> int:
    """Send with acks from every in-sync replica and idempotence; return the count sent.

    ``on_sent(n)`` is called after each chunk (progress bars)."""
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    futures: list[asyncio.Future[Any]] = []
    try:
        await start_client(producer, settings)  # inside: a refused start still closes it
        for start in range(0, len(messages), chunk):
            part = messages[start : start + chunk]
            futures = []
            for m in part:
                futures.append(await producer.send(m.topic, m.value, key=m.key))
            await _delivered(futures)
            if callable(on_sent):
                on_sent(len(part))
    finally:
        await producer.stop()
        _retrieve(futures)
    return len(messages)


async def _delivered(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for every send of a chunk, then raise the first refusal: each future's outcome is
    retrieved (awaiting them one by one would leave the exceptions after the first unread, and
    asyncio prints "Future exception was never retrieved" for each at exit)."""
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _retrieve(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Mark the outcome of sends left behind by an error (``producer.send`` itself raising
    mid-chunk) as seen, now or when they end: the error already raised is the one reported."""
    for future in futures:
        if future.done():
            _seen(future)
        else:
            future.add_done_callback(_seen)


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
