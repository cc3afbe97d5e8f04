"""Why the codec refused something, in words that name the field. Runs only on error paths.

For ``encode``: a datum that fastavro's validation refused, has unknown keys or a temporal value
of the wrong kind becomes one precise :class:`InvalidDatumError`. For ``decode``: a body that the
strict decoder refused is read again by its *traced* twin, which says where it went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastavro.validation import ValidationError, validate

from vanphong.schemas._fastdecode import DecodeError, Decoder
from vanphong.schemas.errors import InvalidDatumError, UndecodableError
from vanphong.schemas.fingerprints import HEADER_LENGTH, fingerprint_hex
from vanphong.schemas.logical import TIMESTAMP_LOGICAL, Temporal
from vanphong.schemas.versions import REGISTRY_VERSION, SchemaVersion

__all__ = ["bad_temporal", "describe", "explain_datum", "undecodable", "why"]


def _values(field: Temporal, datum: Mapping[str, Any]) -> list[Any]:
    value = datum.get(field.name)
    return list(value) if field.array and isinstance(value, list | tuple) else [value]


def _naive(value: Any) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is None


def bad_temporal(temporal: tuple[Temporal, ...], datum: Mapping[str, Any]) -> bool:
    """A timestamp given as a naive datetime (fastavro would read it as *local* time), or a date
    given as a datetime or a string (fastavro would take an ISO string; we keep the accepted
    types exact)."""
    for field in temporal:
        for value in _values(field, datum):
            if _naive(value) if field.kind == "timestamp" else isinstance(value, datetime | str):
                return True
    return False


def describe(field_type: Any) -> str:
    """A short English description of a schema type, for error messages."""
    if isinstance(field_type, list):
        return " or ".join(describe(b) for b in field_type)
    if isinstance(field_type, dict):
        logical = field_type.get("logicalType")
        if logical in TIMESTAMP_LOGICAL:
            return f"a {logical} timestamp (an aware datetime, or an int)"
        if logical == "date":
            return "a date (datetime.date, or an int of days since 1970-01-01)"
        kind = field_type.get("type")
        if kind == "enum":
            return f"one of {field_type['name']}'s symbols ({', '.join(field_type['symbols'])})"
        if kind == "array":
            return f"an array (each item {describe(field_type['items'])})"
        if kind == "map":
            return f"a map (each value {describe(field_type['values'])})"
        if kind == "record":
            return f"a {field_type['name']} record"
        return describe(kind)
    return {
        "null": "null",
        "boolean": "a boolean",
        "int": "an int (32-bit)",
        "long": "a long (64-bit int)",
        "float": "a float",
        "double": "a double",
        "string": "a string",
        "bytes": "bytes",
    }.get(str(field_type), str(field_type))


def _short_repr(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def explain_datum(
    current: SchemaVersion, temporal: tuple[Temporal, ...], datum: Mapping[str, Any]
) -> InvalidDatumError:
    """Turn a failed check of ``datum`` against the ``current`` schema into one message."""
    record = current.event_type.record
    field_types = {f["name"]: f["type"] for f in current.schema["fields"]}
    unknown = sorted(str(k) for k in datum if k not in field_types)
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        return InvalidDatumError(
            record, unknown[0], f"unknown field{'s' if len(unknown) > 1 else ''} {names}"
        )
    for field in temporal:
        for value in _values(field, datum):
            if field.kind == "timestamp" and _naive(value):
                return InvalidDatumError(
                    record, field.name, f"datetime without a time zone: {value.isoformat()}"
                )
            if field.kind == "date" and isinstance(value, datetime | str):
                return InvalidDatumError(
                    record,
                    field.name,
                    f"expected a date (datetime.date, or an int of days since 1970-01-01), "
                    f"got {_short_repr(value)}",
                )
    try:
        validate(datum, current.parsed, raise_errors=True)
    except ValidationError as exc:
        prefix = current.event_type.full_record_name + "."
        for err in exc.errors:
            path = str(getattr(err, "field", "") or "")
            name = path[len(prefix) :] if path.startswith(prefix) else path
            top = name.split(".", 1)[0]
            expected = describe(field_types.get(top, getattr(err, "schema", "?")))
            if top and top not in datum:
                return InvalidDatumError(record, top, f"missing field (expected {expected})")
            value = datum.get(top) if top else datum
            return InvalidDatumError(record, top or None, f"{_short_repr(value)} is not {expected}")
        return InvalidDatumError(record, None, str(exc))
    return InvalidDatumError(record, None, "does not fit the schema")


def why(exc: Exception) -> str:
    """What went wrong while decoding a body, in words."""
    if isinstance(exc, IndexError | EOFError):
        return "the body ends early (truncated message)"
    if isinstance(exc, UnicodeDecodeError):
        return f"a string is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    return f"{type(exc).__name__}: {exc}"


def undecodable(
    writer: SchemaVersion,
    traced: Decoder,
    data: bytes,
    exc: Exception,
    start: int = HEADER_LENGTH,
) -> UndecodableError:
    """Why a body (from ``start``: after the single-object or the Confluent header) failed the
    strict decoder of its ``writer`` schema, naming the field: the ``traced`` twin reads the
    same bytes down the same path and says where."""
    try:
        traced(data, start)
    except DecodeError as located:
        reason = str(located)
    except Exception as other:  # the traced decoder turns everything into a DecodeError
        reason = why(other)
    else:  # cannot happen: both decoders are generated from one schema
        reason = why(exc)
    return UndecodableError(
        f"body does not decode as {writer.event_type.record} {version_label(writer)} "
        f"(fingerprint {fingerprint_hex(writer.fingerprint)}): {reason}"
    )


def version_label(sv: SchemaVersion) -> str:
    """``v2`` for a shipped version; a writer schema from a Schema Registry has no version here
    (:data:`REGISTRY_VERSION`)."""
    return f"v{sv.version}" if sv.version != REGISTRY_VERSION else "(a Schema Registry schema)"
