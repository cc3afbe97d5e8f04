"""The codec's errors: each says which dead-letter reason of CONTRACT.md §6 it is.

``decode`` raises only :class:`UndecodableError`, :class:`UnknownSchemaError` and
:class:`OutOfRangeError`, whatever the bytes; ``encode`` raises :class:`UnknownEventTypeError` and
:class:`InvalidDatumError`. All are :class:`CodecError`\\ s, which are ``ValueError``\\ s.
"""

from __future__ import annotations

from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.schemas.fingerprints import fingerprint_hex

__all__ = [
    "CodecError",
    "InvalidDatumError",
    "OutOfRangeError",
    "UndecodableError",
    "UnknownEventTypeError",
    "UnknownSchemaError",
    "UnknownSchemaIdError",
    "UnresolvableSchemaError",
]

# The setting that names a Schema Registry (vanphong.ground.settings reads it): named in messages.
SCHEMA_REGISTRY_ENV = "VANPHONG_SCHEMA_REGISTRY_URL"


class CodecError(ValueError):
    """Bad input to the codec. ``reason`` is the dead-letter reason of CONTRACT.md §6."""

    reason: str = "invalid_field"


class UndecodableError(CodecError):
    """The bytes are not a single-object-encoded Avro record (dead-letter ``undecodable``)."""

    reason = "undecodable"


class UnknownSchemaError(CodecError):
    """The fingerprint names no shipped schema (dead-letter ``unknown_schema``)."""

    reason = "unknown_schema"

    def __init__(self, fingerprint: int) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"unknown schema fingerprint {fingerprint_hex(fingerprint)}: "
            f"not among the schemas shipped in schemas/v*/"
        )


class UnknownSchemaIdError(UnknownSchemaError):
    """A Confluent-framed message (``00`` + schema id) whose id no registry resolved: the
    registry does not know it, or none is configured (dead-letter ``unknown_schema``)."""

    def __init__(self, schema_id: int, why: str) -> None:
        self.fingerprint = 0
        self.schema_id = schema_id
        CodecError.__init__(self, f"schema id {schema_id} (Confluent wire format): {why}")


class UnresolvableSchemaError(CodecError):
    """A writer schema from the Schema Registry that vanphong cannot read as its event type: not
    one of the contract's records, a type the strict decoder does not read, or a schema that
    does not resolve to the current shipped one (dead-letter ``invalid_field``, saying why)."""

    reason = "invalid_field"


class OutOfRangeError(CodecError):
    """A well-formed body with a value outside what vanphong can hold (CONTRACT.md §4): a
    timestamp or date beyond the years 1–9999. Dead-letter ``invalid_field``; ``field`` names
    the culprit."""

    reason = "invalid_field"

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        super().__init__(detail)


class UnknownEventTypeError(CodecError):
    """``encode`` was asked for a record or event type that the catalog does not know."""

    def __init__(self, target: object) -> None:
        self.target = target
        known = ", ".join(e.type for e in EVENT_TYPES)
        super().__init__(
            f"unknown event type or record {target!r} (expected one of {known}, "
            f"or a record name such as {EVENT_TYPES[0].full_record_name})"
        )


class InvalidDatumError(CodecError):
    """A datum given to ``encode`` does not fit the schema; ``field`` names the culprit."""

    def __init__(self, record: str, field: str | None, message: str) -> None:
        self.record = record
        self.field = field
        where = f"{record}.{field}" if field else record
        super().__init__(f"{where}: {message}")
