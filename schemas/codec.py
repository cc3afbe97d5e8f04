"""The wire codec of CONTRACT.md §3: Avro single-object encoding over the shipped schemas.

A message value is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form + the Avro binary body. Writer schemas are looked up by
fingerprint among every version directory ``schemas/v<N>/`` (old versions are never deleted, so
old messages stay readable); records are read with the *current* schema of the same record as
reader schema, so new optional fields with defaults can be added without breaking producers or
old data.

The Confluent wire format (``00`` + a 4-byte big-endian Schema Registry id, CONTRACT.md §3
v1.1) decodes the same way once the caller has resolved the id to a reader
(``registry.registry_reader(schema_text)``, passed as ``by_id``): this package does no
I/O, the worker looks ids up at its edge (streams/writer_schemas.py).

This module is the codec's front door: ``encode``, ``decode`` and ``current_schema`` over the
*shipped* schemas, and every name other modules import. The work is done in modules
with one job each:

- ``fingerprints`` — CRC-64-AVRO, canonical form, the single-object header;
- ``errors`` — the ``CodecError`` family, one per dead-letter reason;
- ``versions`` — schema files on disk (``v<N>/<Record>.avsc`` under one or more roots);
- ``logical`` — which fields are timestamps and dates (their logical types);
- ``known`` — ``KnownSchemas``: the versions known here, by fingerprint, the current one per record
  (not the Schema Registry service: its client is vanphong/ground/schema_registry.py);
- ``wire`` — encoding and decoding one message; ``_fastdecode`` — the strict decoders;
- ``explain`` — error messages that name the field.

There is no process-wide registry to swap. The shipped schemas' registry (``shipped_schemas``)
is built on first use and never replaced; a caller that honours ``VANPHONG_EXTRA_SCHEMAS_DIR``
(versions not shipped yet) passes the registry of its settings
(``Settings.known_schemas()``) to whatever reads or writes with it: the worker's pipeline, the
rules, the sink's stored records, ``publish``. Nothing is read or built at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vanphong.schemas.catalog import EventType
from vanphong.schemas.errors import (
    CodecError,
    InvalidDatumError,
    OutOfRangeError,
    UndecodableError,
    UnknownEventTypeError,
    UnknownSchemaError,
    UnknownSchemaIdError,
    UnresolvableSchemaError,
)
from vanphong.schemas.fingerprints import (
    HEADER_LENGTH,
    MAGIC,
    crc64_avro,
    fingerprint_hex,
    parsing_canonical_form,
    schema_fingerprint,
)
from vanphong.schemas.known import KnownSchemas, load_known_schemas
from vanphong.schemas.logical import Temporal
from vanphong.schemas.versions import (
    EXTRA_SCHEMAS_ENV,
    SCHEMAS_DIR,
    SchemaVersion,
    extra_schema_dirs,
)
from vanphong.schemas.wire import (
    CONFLUENT_HEADER_LENGTH,
    Decoded,
    Reader,
    confluent_frame,
    confluent_schema_id,
)

__all__ = [
    "CONFLUENT_HEADER_LENGTH",
    "EXTRA_SCHEMAS_ENV",
    "HEADER_LENGTH",
    "MAGIC",
    "SCHEMAS_DIR",
    "CodecError",
    "Decoded",
    "InvalidDatumError",
    "KnownSchemas",
    "OutOfRangeError",
    "Reader",
    "SchemaVersion",
    "Temporal",
    "UndecodableError",
    "UnknownEventTypeError",
    "UnknownSchemaError",
    "UnknownSchemaIdError",
    "UnresolvableSchemaError",
    "confluent_frame",
    "confluent_schema_id",
    "crc64_avro",
    "current_schema",
    "decode",
    "encode",
    "extra_schema_dirs",
    "fingerprint_hex",
    "load_known_schemas",
    "parsing_canonical_form",
    "schema_fingerprint",
    "shipped_schemas",
]


def shipped_schemas() -> KnownSchemas:
    """The shipped schemas' registry: what this module's functions read and write with (built
    on first use, shared, never replaced)."""
    return load_known_schemas()


def encode(target: EventType | str, datum: Mapping[str, Any]) -> bytes:
    """Encode ``datum`` for an event type (``EventType.DOCUMENT_ISSUED``, ``"document.issued"``)
    or record name (``"vanphong.events.DocumentIssued"``) with its current schema.

    Timestamps may be aware datetimes or int epoch milliseconds, dates ``datetime.date`` or int
    days. Raises ``InvalidDatumError`` (a ``ValueError``) naming the offending field.
    """
    return shipped_schemas().encode(target, datum)


def decode(
    data: bytes | bytearray | memoryview | None,
    by_id: Mapping[int, Reader | CodecError] | None = None,
) -> Decoded:
    """Decode one message value with its writer schema, resolved to the current schema.

    ``by_id``: for the Confluent wire format (``00`` + schema id), the reader of each schema id
    that the caller looked up in its Schema Registry (``KnownSchemas.registry_reader``),
    or the error that id gets; without it such a message is ``unknown_schema``.

    Raises ``UndecodableError`` (dead-letter reason ``undecodable``), ``UnknownSchemaError``
    (``unknown_schema``), ``OutOfRangeError`` (``invalid_field``: a well-formed timestamp or
    date beyond the years 1–9999) or ``UnresolvableSchemaError`` (``invalid_field``: a registry
    schema that does not resolve); all are ``CodecError``s with ``reason`` set accordingly.
    """
    return shipped_schemas().decode(data, by_id)


def current_schema(target: EventType | str) -> SchemaVersion:
    """The current schema of an event type or record name."""
    return shipped_schemas().current(target)


def _main() -> None:
    """``python -m vanphong.schemas.codec``: list the shipped schemas and their fingerprints."""
    shipped = shipped_schemas()
    for sv in shipped.versions:
        cur = shipped.current(sv.event_type) is sv
        print(
            f"v{sv.version}  {sv.event_type.full_record_name:<36} {sv.event_type.type:<18} "
            f"{fingerprint_hex(sv.fingerprint)}{'  current' if cur else ''}"
        )


if __name__ == "__main__":
    _main()
