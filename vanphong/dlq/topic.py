"""Reading the dead-letter topic: streamed partition by partition in chunks of at most
:data:`CHUNK`, so neither command holds the whole topic; ``dlq list`` keeps only the ``--limit``
most recent (:class:`~vanphong.dlq.model.MostRecent`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import TopicPartition

from vanphong.dlq.model import DeadLetter, MostRecent
from vanphong.ground.kafka import admin_client, partition_counts
from vanphong.ground.kafka_access import why_unseen
from vanphong.ground.settings import Settings
from vanphong.ground.tail import CHUNK as TAIL_CHUNK
from vanphong.ground.tail import Record, end_offsets, read_range, reader
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC

CHUNK = TAIL_CHUNK  # dead letters read, then recorded, produced and confirmed, per round


def _letter(partition: int, m: Record) -> DeadLetter:
    return DeadLetter(
        partition=partition,
        offset=m.offset,
        timestamp=datetime.fromtimestamp(m.timestamp / 1000, UTC),
        key=m.key,
        value=m.value,
        headers=tuple(m.headers),
    )


async def dead_letter_chunks(
    settings: Settings, on_size: Callable[[int], None] | None = None
) -> AsyncGenerator[list[DeadLetter], None]:
    """The dead letters now on the dead-letter topic, partition by partition in offset order,
    in chunks of at most :data:`CHUNK`. ``on_size(n)`` is told first how many offsets there are
    to read (an upper bound on the dead letters). Raises ``LookupError`` without the topic, and
    :class:`~vanphong.ground.kafka.KafkaAccessError` naming DESCRIBE when this principal may not
    see it (vanphong/ground/kafka_access.py, ``why_unseen``)."""
    topic = settings.topic(DEAD_LETTER_TOPIC)
    async with admin_client(settings) as admin:
        counts = await partition_counts(admin, [topic])
        if topic not in counts:
            raise await why_unseen(admin, settings, topic)
    tps = [TopicPartition(topic, p) for p in range(counts[topic])]
    async with reader(settings) as consumer:
        ends = await end_offsets(consumer, tps)
        if on_size is not None:
            starts = await consumer.beginning_offsets(tps)
            on_size(sum(ends[tp] - starts[tp] for tp in tps))
        for tp in tps:
            async for records in read_range(consumer, tp, 0, ends[tp]):
                yield [_letter(tp.partition, m) for m in records]


async def read_dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every dead letter now on the topic, in (partition, offset) order (for small topics and
    tests; the commands stream with :func:`dead_letter_chunks`)."""
    return [d async for chunk in dead_letter_chunks(settings) for d in chunk]


@dataclass
class Listing:
    """What ``dlq list`` found: dead letters on the topic, those with the reason asked for, and
    the ones to show."""

    total: int = 0
    matching: int = 0
    shown: list[DeadLetter] = field(default_factory=list)


async def list_dead_letters(
    settings: Settings,
    reason: str | None,
    limit: int,
    on_size: Callable[[int], None] | None = None,
    on_read: Callable[[int], None] | None = None,
    on_rows: Callable[[list[DeadLetter]], None] | None = None,
) -> Listing:
    """Stream the topic for ``dlq list``. With ``limit`` > 0, keep the ``limit`` most recent
    dead letters with ``reason`` (at most that many are held at once) and return them oldest
    first, as :func:`select` would. With ``limit`` 0 keep none: each chunk's matching dead
    letters go to ``on_rows`` as they are read, in topic order."""
    listing = Listing()
    recent = MostRecent(limit)
    async for chunk in dead_letter_chunks(settings, on_size):
        listing.total += len(chunk)
        matching = [d for d in chunk if reason is None or d.reason == reason]
        listing.matching += len(matching)
        if limit > 0:
            recent.add(matching)
        elif on_rows is not None and matching:
            on_rows(matching)
        if on_read is not None:
            on_read(len(chunk))
    listing.shown = recent.oldest_first()
    return listing
