"""Encoding and decoding one message (CONTRACT.md §3), given the registry's prepared entries.

Decoding is the workers' hot path: each fingerprint maps to a ready :class:`Reader`, so a decode
is one dict lookup plus the body. Every body is first read by the strict decoder generated for
its *writer* schema (``_fastdecode``), which alone decides whether the bytes are well-formed; for
the current schema (nearly all messages) its record is the result, and an older writer schema's
record then goes through fastavro's schema resolution. So the same bytes get the same verdict
whatever the version, and fastavro never sees bytes that were not checked.

Verdicts: a body that is not well-formed (truncated, trailing bytes, a boolean byte 02..ff, an
enum index or union branch out of range, an int beyond 32 bits, a length or block count beyond
the bytes left, invalid UTF-8, an over-long varint) is ``UndecodableError`` (``undecodable``); a
well-formed body with a timestamp-millis or date outside the years 1–9999 is
``OutOfRangeError`` (``invalid_field``), naming the field.

Two framings name the writer schema (CONTRACT.md §3, v1.1): single-object encoding (``C3 01`` +
fingerprint, looked up among the shipped versions) and the Confluent wire format (``00`` + the
4-byte big-endian id of a schema in a Schema Registry). This module does no I/O: a Confluent
message is decoded with the readers that the caller resolved for its ids beforehand
(``by_id``, see :func:`confluent_schema_id`; the worker looks the ids of a fetch up before it
decodes the fetch); an id missing from them is ``unknown_schema``. Either way the body gets the
same strict decoder and the same resolution to the current schema, except that a registry
schema which does not resolve is ``invalid_field`` (the producer chose a bad schema, the bytes
are fine) where a shipped one that does not is ``undecodable``.

Encoding is rarer (``vanphong publish``, the demo) and uses fastavro's validation and writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import validate

from vanphong.schemas._fastdecode import Decoder
from vanphong.schemas.catalog import EventType
from vanphong.schemas.errors import (
    SCHEMA_REGISTRY_ENV,
    CodecError,
    InvalidDatumError,
    OutOfRangeError,
    UndecodableError,
    UnknownSchemaError,
    UnknownSchemaIdError,
    UnresolvableSchemaError,
)
from vanphong.schemas.explain import bad_temporal, explain_datum, undecodable, version_label, why
from vanphong.schemas.fingerprints import HEADER_LENGTH, MAGIC, fingerprint_hex
from vanphong.schemas.logical import Temporal
from vanphong.schemas.versions import SchemaVersion

__all__ = [
    "CONFLUENT_HEADER_LENGTH",
    "CONFLUENT_MAGIC",
    "Decoded",
    "Reader",
    "Writer",
    "confluent_frame",
    "confluent_schema_id",
    "decode_message",
    "encode_datum",
]

CONFLUENT_MAGIC = 0
CONFLUENT_HEADER_LENGTH = 5  # magic (1) + schema id (4, big-endian)
NOT_LOOKED_UP = (
    f"not looked up: the Confluent wire format needs a Schema Registry ({SCHEMA_REGISTRY_ENV})"
)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message: its event type, the record (read with the current schema) and the
    fingerprint of the schema it was written with."""

    event_type: EventType
    record: dict[str, Any]
    fingerprint: int
    writer_version: int  # 0 for a writer schema from a Schema Registry that is not shipped
    schema_id: int | None = None  # the Schema Registry id of a Confluent-framed message

    @property
    def fingerprint_hex(self) -> str:
        return fingerprint_hex(self.fingerprint)


@dataclass(frozen=True, slots=True)
class Reader:
    """How to read messages written with one schema version."""

    event_type: EventType
    writer: Any  # fastavro's parsed writer schema
    reader: Any  # None when the writer is the current schema: no resolution needed
    strict: Decoder  # the writer schema's generated decoder: the verdict on every body
    traced: Decoder  # the same, naming the field on error (run only on the error path)
    fingerprint: int
    version: int
    schema: SchemaVersion  # the version the fingerprint names


@dataclass(frozen=True, slots=True)
class Writer:
    """How to write an event type: its current schema, and what fastavro does not check."""

    current: SchemaVersion
    header: bytes
    field_names: frozenset[str]
    temporal: tuple[Temporal, ...]  # timestamp and date fields (logical types)


def encode_datum(w: Writer, datum: Mapping[str, Any]) -> bytes:
    """Single-object encoding of ``datum`` with the writer's current schema."""
    if not isinstance(datum, Mapping):
        raise InvalidDatumError(
            w.current.event_type.record, None, f"expected a mapping, got {type(datum).__name__}"
        )
    parsed = w.current.parsed
    # fastavro's validation is the type check; it does not see unknown keys (the writer would
    # drop them silently) nor naive datetimes (fastavro would read them as *local* time), so
    # those are checked here.
    if (
        not validate(datum, parsed, raise_errors=False)
        or not w.field_names.issuperset(datum)
        or bad_temporal(w.temporal, datum)
    ):
        raise explain_datum(w.current, w.temporal, datum)
    out = BytesIO()
    out.write(w.header)
    try:
        schemaless_writer(out, parsed, datum)
    except Exception as exc:  # validation passed, so this is unexpected: still name it
        raise InvalidDatumError(w.current.event_type.record, None, str(exc)) from exc
    return out.getvalue()


def confluent_schema_id(data: bytes | bytearray | memoryview | None) -> int | None:
    """The schema id of a Confluent-framed value (``00`` + 4-byte big-endian id + body), or None
    for anything else (single-object encoding, garbage: :func:`decode_message` judges those)."""
    if data is None or len(data) < CONFLUENT_HEADER_LENGTH or data[0] != CONFLUENT_MAGIC:
        return None
    return int.from_bytes(data[1:CONFLUENT_HEADER_LENGTH], "big")


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    """A Confluent-framed value: ``00``, the id as 4 bytes big-endian, the Avro body."""
    return bytes([CONFLUENT_MAGIC]) + schema_id.to_bytes(4, "big") + body


def decode_message(
    readers: Mapping[bytes, Reader],
    data: bytes | bytearray | memoryview | None,
    by_id: Mapping[int, Reader | CodecError] | None = None,
) -> Decoded:
    """Decode one message value with the reader its fingerprint names (single-object encoding)
    or, for the Confluent wire format, the one ``by_id`` holds for its schema id (or the error
    that id gets); raises ``UndecodableError``, ``UnknownSchemaError``, ``OutOfRangeError`` or
    ``UnresolvableSchemaError`` (nothing else, whatever the bytes)."""
    if data is None:
        raise UndecodableError("no value (a null message)")
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size == 0:
        raise UndecodableError("empty message")
    if data[:2] != MAGIC[:size]:
        if data[0] == CONFLUENT_MAGIC:
            return _decode_confluent(data, by_id)
        raise UndecodableError(
            f"neither Avro single-object encoding (c3 01) nor the Confluent wire format (00): "
            f"starts {data[:2].hex(' ')}"
        )
    if size < HEADER_LENGTH:
        raise UndecodableError(
            f"truncated header: {size} byte(s), a single-object header has {HEADER_LENGTH}"
        )
    key = data[2:HEADER_LENGTH]
    entry = readers.get(key)
    if entry is None:
        raise UnknownSchemaError(int.from_bytes(key, "little"))
    return _decode_body(entry, data, HEADER_LENGTH, None)


def _decode_confluent(data: bytes, by_id: Mapping[int, Reader | CodecError] | None) -> Decoded:
    size = len(data)
    if size < CONFLUENT_HEADER_LENGTH:
        raise UndecodableError(
            f"truncated header: {size} byte(s), a Confluent header has {CONFLUENT_HEADER_LENGTH}"
        )
    schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_LENGTH], "big")
    entry = by_id.get(schema_id) if by_id is not None else None
    if entry is None:
        raise UnknownSchemaIdError(schema_id, NOT_LOOKED_UP)
    if isinstance(entry, CodecError):
        raise entry.with_traceback(None)
    return _decode_body(entry, data, CONFLUENT_HEADER_LENGTH, schema_id)


def _decode_body(entry: Reader, data: bytes, start: int, schema_id: int | None) -> Decoded:
    """The body after the header: the strict decoder's verdict, then schema resolution."""
    size = len(data)
    try:
        record, end, out_of_range = entry.strict(data, start)
    except Exception as exc:  # garbage raises anything: IndexError, UnicodeDecodeError, ...
        raise undecodable(entry.schema, entry.traced, data, exc, start) from exc
    if end != size:
        raise UndecodableError(
            f"{size - end} trailing byte(s) after the {entry.event_type.record} record "
            f"(fingerprint {fingerprint_hex(entry.fingerprint)})"
        )
    if out_of_range is not None:  # only once the whole body proved well-formed
        raise OutOfRangeError(out_of_range.field, out_of_range.detail)
    if entry.reader is not None:  # an older writer schema: fastavro resolves it
        try:
            fo = BytesIO(data)
            fo.seek(start)
            record = cast(dict[str, Any], schemaless_reader(fo, entry.writer, entry.reader))
        except Exception as exc:  # e.g. an enum symbol the current schema dropped
            detail = (
                f"{entry.event_type.record} {version_label(entry.schema)} "
                f"(fingerprint {fingerprint_hex(entry.fingerprint)}) does not resolve to "
                f"the current schema: {why(exc)}"
            )
            if schema_id is not None:
                raise UnresolvableSchemaError(f"schema id {schema_id}: {detail}") from exc
            raise UndecodableError(detail) from exc
    return Decoded(entry.event_type, record, entry.fingerprint, entry.version, schema_id)
