"""Where a consumer read past offsets without a record: the gaps that the transport marks.

Kafka offsets of a partition are not always dense: transaction markers and aborted records take
offsets that never reach a ``read_committed`` consumer. The transport (streams/transport.py) marks
each such gap as a *passed* position mark (vanphong/core/batch.py), so that between marks a
partition's items are gapless and the sink can fence every batch against the offsets PostgreSQL
stores. Pure, so that it is tested without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class HasOffset(Protocol):
    @property
    def offset(self) -> int: ...


def gaps(start: int, records: Sequence[HasOffset], end: int) -> list[tuple[int, int]]:
    """The offsets in ``start``..``end`` that carry none of ``records`` (in offset order), as
    ``(from, to)`` ranges: what the consumer read past without a record (module docstring).
    Records without gaps, the usual case, are recognised without walking them."""
    found: list[tuple[int, int]] = []
    position = start
    if records:
        first, last = records[0].offset, records[-1].offset
        if first > start:
            found.append((start, first))
        if last - first + 1 != len(records):
            previous = first
            for record in records[1:]:
                offset = record.offset
                if offset > previous + 1:
                    found.append((previous + 1, offset))
                previous = offset
        position = last + 1
    if end > position:
        found.append((position, end))
    return found


def interleave(
    records: Iterable[T],
    offset_of: Callable[[T], int],
    found: Sequence[tuple[int, int]],
    made: Callable[[T], U],
    mark: Callable[[int, int], U],
) -> Iterator[U]:
    """``records`` (made into items by ``made``) with a ``mark(since, to)`` for each gap of
    ``found``, in stream order: a gap comes before the first record at or past its end."""
    pending = iter(found)
    gap = next(pending, None)
    for record in records:
        offset = offset_of(record)
        while gap is not None and gap[1] <= offset:
            yield mark(*gap)
            gap = next(pending, None)
        yield made(record)
    while gap is not None:
        yield mark(*gap)
        gap = next(pending, None)
