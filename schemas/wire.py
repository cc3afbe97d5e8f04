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

Encoding is rarer (``vanphong publish``, the demo) and uses fastavro's validation and writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import validate

from schemas._fastdecode import Decoder
from schemas.catalog import EventType
from schemas.errors import InvalidDatumError, OutOfRangeError, UndecodableError, UnknownSchemaError
from schemas.explain import bad_temporal, explain_datum, undecodable, why
from schemas.fingerprints import HEADER_LENGTH, MAGIC, fingerprint_hex
from schemas.logical import Temporal
from schemas.versions import SchemaVersion

__all__ = ["Decoded", "Reader", "Writer", "decode_message", "encode_datum"]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message: its event type, the record (read with the current schema) and the
    fingerprint of the schema it was written with."""

    event_type: EventType
    record: dict[str, Any]
    fingerprint: int
    writer_version: int

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


def decode_message(
    readers: Mapping[bytes, Reader], data: bytes | bytearray | memoryview | None
) -> Decoded:
    """Decode one message value with the reader its fingerprint names; raises
    ``UndecodableError``, ``UnknownSchemaError`` or ``OutOfRangeError`` (nothing else, whatever
    the bytes)."""
    if data is None:
        raise UndecodableError("no value (a null message)")
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size == 0:
        raise UndecodableError("empty message")
    if data[:2] != MAGIC[:size]:
        raise UndecodableError(
            f"not Avro single-object encoding: starts {data[:2].hex(' ')} (expected c3 01)"
        )
    if size < HEADER_LENGTH:
        raise UndecodableError(
            f"truncated header: {size} byte(s), a single-object header has {HEADER_LENGTH}"
        )
    key = data[2:HEADER_LENGTH]
    entry = readers.get(key)
    if entry is None:
        raise UnknownSchemaError(int.from_bytes(key, "little"))
    try:
        record, end, out_of_range = entry.strict(data, HEADER_LENGTH)
    except Exception as exc:  # garbage raises anything: IndexError, UnicodeDecodeError, ...
        raise undecodable(entry.schema, entry.traced, data, exc) from exc
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
            fo.seek(HEADER_LENGTH)
            record = cast(dict[str, Any], schemaless_reader(fo, entry.writer, entry.reader))
        except Exception as exc:  # e.g. an enum symbol the current schema dropped
            raise UndecodableError(
                f"{entry.event_type.record} v{entry.version} "
                f"(fingerprint {fingerprint_hex(entry.fingerprint)}) does not resolve to "
                f"the current schema: {why(exc)}"
            ) from exc
    return Decoded(entry.event_type, record, entry.fingerprint, entry.version)
