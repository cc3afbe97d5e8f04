"""The path of one message, before batching: decode → validate → normalise.

Everything here is pure: a consumed message (coordinates, key, value bytes) becomes an
:class:`~vanphong.core.batch.Item` whose outcome is either an accepted event or a typed rejection.
The Kafka key plays no part: a message with another key, or none, is processed the same.

A Confluent-framed message (``00`` + schema id) is decoded with ``by_id``, the readers of the
schema ids that the caller looked up in the Schema Registry before (streams/writer_schemas.py):
the I/O stays at the edge, the decode here stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from vanphong.core.batch import Accepted, Coordinates, Item, passed
from vanphong.core.gaps import interleave
from vanphong.core.rejection import Reason, Rejection
from vanphong.core.rules import accept
from vanphong.schemas.catalog import EventType
from vanphong.schemas.codec import (
    CodecError,
    OutOfRangeError,
    Reader,
    UnknownSchemaError,
    UnresolvableSchemaError,
)
from vanphong.schemas.known import KnownSchemas


class Consumed(Protocol):
    """What a consumed Kafka record gives the pipeline."""

    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


def prepare_partition(
    topic: str,
    partition: int,
    records: Iterable[Consumed],
    expected: EventType,
    schemas: KnownSchemas,
    by_id: Mapping[int, Reader | CodecError] | None,
    gaps: Sequence[tuple[int, int]] | None = None,
) -> Iterable[Item]:
    """One fetch of one partition as items: each record prepared, and a passed mark for each gap
    the consumer read past, in stream order (vanphong/core/gaps.py, streams/transport.py)."""

    def made(r: Consumed) -> Item:
        at = Coordinates(topic, partition, r.offset)
        return prepare(at, r.key, r.value, expected, schemas, by_id)

    if not gaps:
        return map(made, records)
    return interleave(
        records, _offset, gaps, made, lambda since, to: passed(topic, partition, to, since)
    )


def _offset(record: Consumed) -> int:
    return record.offset


def prepare(
    at: Coordinates,
    key: bytes | None,
    value: bytes | None,
    expected: EventType,
    schemas: KnownSchemas,
    by_id: Mapping[int, Reader | CodecError] | None = None,
) -> Item:
    """Turn one consumed message into an item ready for the batch, read with ``schemas`` (the
    settings' registry: the shipped versions and any extra ones)."""
    return Item(at, key, value, _outcome(at, value, expected, schemas, by_id))


def _outcome(
    at: Coordinates,
    value: bytes | None,
    expected: EventType,
    schemas: KnownSchemas,
    by_id: Mapping[int, Reader | CodecError] | None,
) -> Accepted | Rejection:
    try:
        decoded = schemas.decode(value, by_id)
    except UnknownSchemaError as exc:
        return Rejection(Reason.UNKNOWN_SCHEMA, str(exc))
    except OutOfRangeError as exc:  # well-formed, but e.g. a timestamp beyond the year 9999
        return Rejection(Reason.INVALID_FIELD, str(exc))
    except UnresolvableSchemaError as exc:  # a registry schema vanphong cannot read as its own
        return Rejection(Reason.INVALID_FIELD, str(exc))
    except CodecError as exc:
        return Rejection(Reason.UNDECODABLE, str(exc))
    if decoded.event_type != expected:
        return Rejection(
            Reason.INVALID_FIELD,
            f"a {decoded.event_type.type} record on {at.topic}, which carries {expected.type}",
        )
    try:
        return Accepted(expected, accept(expected, decoded.record, schemas))
    except Rejection as rejection:
        return rejection
