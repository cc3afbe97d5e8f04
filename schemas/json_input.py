"""JSON Lines input of ``vanphong publish`` (CONTRACT.md §8): one JSON object to one Avro datum.

An object is ``type`` plus the fields of §4. Timestamps are ISO 8601 strings *with* a zone
(``2024-09-30T18:30:00Z``, ``...+07:00``) and become aware UTC datetimes; dates are
``YYYY-MM-DD`` and become ``datetime.date``; enums are given by symbol; optional fields may be
left out and take their schema defaults (``revision`` 1, ``voided`` false, nullable fields null).

The conversion is driven by the *current* Avro schema of each event type (of the registry given,
else the default one), so a field added in a later schema version is accepted here without code
changes. The checks are structural only
(also: a string must be Unicode text, without the lone surrogates that JSON's ``\ud800``
escapes can produce): business rules (lengths, U+0000, document numbers, doc type vs number) and
Unicode NFC normalisation belong to the rules module, which ``vanphong publish`` applies to every
line before it publishes anything, so text passes through exactly as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Final, NamedTuple

from vanphong.schemas.catalog import BY_TYPE, EVENT_TYPES, EventType
from vanphong.schemas.known import KnownSchemas

__all__ = ["JsonInputError", "parse_json_line", "parse_line"]


class JsonInputError(ValueError):
    """One invalid input object. ``field`` names the offending field (None: the whole object);
    ``str()`` is the full, human-readable reason."""

    def __init__(self, field: str | None, message: str, *, standalone: bool = False) -> None:
        self.field = field
        #: Every field the error is about (several for :meth:`missing_fields`).
        self.fields: tuple[str, ...] = (field,) if field is not None else ()
        self.message = message
        text = message if field is None or standalone else f"{field}: {message}"
        super().__init__(text)

    @classmethod
    def unknown_field(cls, name: str) -> JsonInputError:
        return cls(name, f"unknown field {name!r}", standalone=True)

    @classmethod
    def missing_fields(cls, *names: str) -> JsonInputError:
        """Every required field a line lacks, named at once (``field``: the first), so that a
        publisher fixes a line in one go rather than one field per try."""
        plural = "s" if len(names) > 1 else ""
        text = f"missing field{plural} {', '.join(map(repr, names))}"
        error = cls(names[0], text, standalone=True)
        error.fields = names
        return error


_MISSING: Final = object()
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

# ISO 8601 extended format, as RFC 3339 profiles it (plus "±HH" and "±HHMM" offsets).
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?"
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")

Converter = Callable[[str, Any], Any]


def _type_name(value: Any) -> str:
    """JSON's name for the type of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as messages quote it: strings in single quotes (as Python shows them), anything
    else as JSON; shortened so one bad line cannot flood the report."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(what: str, value: Any) -> str:
    return f"expected {what}, got {_type_name(value)} {_show(value)}"


# -- converters: (field path, JSON value) -> Avro datum value ---------------------------------


def _string(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise JsonInputError(path, _expected("a string", value))
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # "\ud800" escapes that pair with nothing
            raise JsonInputError(
                path,
                f"contains a lone surrogate U+{ord(value[exc.start]):04X} at character "
                f"{exc.start + 1:,}, which is not Unicode text",
            ) from None
    return value


def _boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise JsonInputError(path, _expected("true or false", value))
    return value


def _integer(bounds: tuple[int, int]) -> Converter:
    low, high = bounds

    def convert(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise JsonInputError(path, _expected("an integer", value))
        if not low <= value <= high:
            raise JsonInputError(path, f"{value} is out of range ({low}..{high})")
        return value

    return convert


def _number(path: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JsonInputError(path, _expected("a number", value))
    return float(value)


def _timestamp(path: str, value: Any) -> datetime:
    """ISO 8601 with a zone to an aware UTC datetime, truncated to the milliseconds that
    timestamp-millis keeps (so the datum equals what a consumer decodes)."""
    if not isinstance(value, str):
        raise JsonInputError(
            path, _expected("an ISO 8601 timestamp string such as 2024-09-30T18:30:00Z", value)
        )
    m = _TIMESTAMP.fullmatch(value)
    if m is None:
        raise JsonInputError(
            path,
            f"{_show(value)} is not an ISO 8601 timestamp YYYY-MM-DDTHH:MM[:SS[.fff]] with a "
            f"zone (e.g. 2024-09-30T18:30:00Z or 2024-10-01T01:30:00+07:00)",
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    if zulu is None and sign is None:
        raise JsonInputError(
            path, f"timestamp without a time zone: {_show(value)} (add Z or an offset like +07:00)"
        )
    try:
        if zulu is not None:
            zone = UTC
        else:
            hours, minutes = int(off_h), int(off_m or 0)
            if hours > 23 or minutes > 59:
                raise ValueError(f"UTC offset {sign}{off_h}:{off_m or '00'} is out of range")
            offset = timedelta(hours=hours, minutes=minutes)
            zone = timezone(-offset if sign == "-" else offset)
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            micros - micros % 1000,
            tzinfo=zone,
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise JsonInputError(path, f"{_show(value)} is not a valid date and time ({exc})") from None


def _date(path: str, value: Any) -> date:
    if not isinstance(value, str):
        raise JsonInputError(path, _expected("a date string YYYY-MM-DD", value))
    m = _DATE.fullmatch(value)
    if m is None:
        raise JsonInputError(path, f"{_show(value)} is not a date YYYY-MM-DD")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        raise JsonInputError(path, f"{_show(value)} is not a valid date ({exc})") from None


def _enum(name: str, symbols: tuple[str, ...]) -> Converter:
    known = frozenset(symbols)
    listing = ", ".join(symbols)

    def convert(path: str, value: Any) -> str:
        if not isinstance(value, str):
            raise JsonInputError(path, _expected(f"one of {name}'s symbols ({listing})", value))
        if value not in known:
            raise JsonInputError(path, f"{_show(value)} is not one of {name}'s symbols ({listing})")
        return value

    return convert


def _array(items: Converter) -> Converter:
    def convert(path: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise JsonInputError(path, _expected("an array", value))
        return [items(f"{path}[{i}]", v) for i, v in enumerate(value)]

    return convert


def _nullable(inner: Converter) -> Converter:
    def convert(path: str, value: Any) -> Any:
        return None if value is None else inner(path, value)

    return convert


def _not_null(inner: Converter, what: str) -> Converter:
    def convert(path: str, value: Any) -> Any:
        if value is None:
            raise JsonInputError(path, f"must not be null (expected {what})")
        return inner(path, value)

    return convert


_PRIMITIVE: Final[dict[str, tuple[Converter, str]]] = {
    "string": (_string, "a string"),
    "boolean": (_boolean, "true or false"),
    "int": (_integer(_INT32), "an integer"),
    "long": (_integer(_INT64), "an integer"),
    "float": (_number, "a number"),
    "double": (_number, "a number"),
}


def _converter(schema: Any) -> tuple[Converter, str]:
    """A converter for one Avro type, and what it expects in words; raises TypeError for types
    JSON input does not support, when a registry's tables are built (before its first line), so
    a new schema version cannot be half-supported."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) != 1 or len(schema) != 2:
            raise TypeError(f'JSON input supports only ["null", T] unions, not {schema}')
        inner, what = _converter(branches[0])
        return _nullable(inner), f"{what} or null"
    if isinstance(schema, Mapping):
        logical, kind = schema.get("logicalType"), schema.get("type")
        if logical == "timestamp-millis" and kind == "long":
            return _timestamp, "an ISO 8601 timestamp with a time zone"
        if logical == "date" and kind == "int":
            return _date, "a date YYYY-MM-DD"
        if logical is not None:
            raise TypeError(f"JSON input does not support logical type {logical!r}")
        if kind == "enum":
            name = str(schema["name"]).rsplit(".", 1)[-1]
            return _enum(name, tuple(schema["symbols"])), f"one of {name}'s symbols"
        if kind == "array":
            items, what = _converter(schema["items"])
            return _array(_not_null(items, what)), f"an array of {what}"
        if isinstance(kind, str) and kind in _PRIMITIVE:
            return _converter(kind)
        raise TypeError(f"JSON input does not support Avro type {kind!r}")
    if isinstance(schema, str) and schema in _PRIMITIVE:
        return _PRIMITIVE[schema]
    raise TypeError(f"JSON input does not support Avro type {schema!r}")


class _Field:
    __slots__ = ("convert", "default", "name")

    def __init__(self, name: str, convert: Converter, default: Any) -> None:
        self.name = name
        self.convert = convert
        self.default = default


def _fields_of(schemas: KnownSchemas, event_type: EventType) -> tuple[_Field, ...]:
    """The fields of the current schema, in schema order, with converters and defaults."""
    out = []
    for f in schemas.current(event_type).schema["fields"]:
        convert, what = _converter(f["type"])
        nullable = isinstance(f["type"], list)
        if not nullable:
            convert = _not_null(convert, what)
        default = f.get("default", _MISSING)
        if default is not _MISSING:
            # JSON defaults are in Avro's JSON encoding, which is ours for what we support
            default = None if default is None else convert(str(f["name"]), default)
        out.append(_Field(str(f["name"]), convert, default))
    return tuple(out)


class _Table(NamedTuple):
    """The fields of one event type's current schema, and their names."""

    fields: tuple[_Field, ...]
    names: frozenset[str]


@lru_cache(maxsize=8)
def _tables(schemas: KnownSchemas) -> dict[EventType, _Table]:
    """Per event type, how to read it, for one registry (built once per registry)."""
    out = {}
    for e in EVENT_TYPES:
        fields = _fields_of(schemas, e)
        out[e] = _Table(fields, frozenset(f.name for f in fields))
    return out


_TYPES_LISTING: Final = ", ".join(e.type for e in EVENT_TYPES)


def parse_line(obj: Any, schemas: KnownSchemas) -> tuple[EventType, dict[str, Any]]:
    """One decoded JSON object to (event type, Avro datum for its current schema in
    ``schemas``: the caller's, e.g. its settings' registry).

    Raises ``JsonInputError`` for the first problem found: the ``type``, then unknown fields,
    then the missing fields (all of them, in schema order), then each field in schema order.
    """
    if not isinstance(obj, dict):
        raise JsonInputError(None, f"expected a JSON object, got {_type_name(obj)}")
    if "type" not in obj:
        raise JsonInputError.missing_fields("type")
    type_name = obj["type"]
    if not isinstance(type_name, str):
        raise JsonInputError("type", _expected(f"one of {_TYPES_LISTING}", type_name))
    event_type = BY_TYPE.get(type_name)
    if event_type is None:
        raise JsonInputError(
            "type", f"unknown event type {type_name!r} (expected one of {_TYPES_LISTING})"
        )
    table = _tables(schemas)[event_type]
    names = table.names
    for key in obj:
        if key != "type" and key not in names:
            raise JsonInputError.unknown_field(str(key))
    missing = [f.name for f in table.fields if f.name not in obj and f.default is _MISSING]
    if missing:
        raise JsonInputError.missing_fields(*missing)
    datum: dict[str, Any] = {}
    for field in table.fields:
        value = obj.get(field.name, _MISSING)
        if value is _MISSING:
            value = field.default
            datum[field.name] = list(value) if isinstance(value, list) else value
        else:
            datum[field.name] = field.convert(field.name, value)
    return event_type, datum


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonInputError(key, f"duplicate field {key!r}", standalone=True)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise JsonInputError(None, f"{name} is not valid JSON")


def parse_json_line(line: str | bytes, schemas: KnownSchemas) -> tuple[EventType, dict[str, Any]]:
    """One line of JSON Lines text to (event type, datum); JSON syntax errors, duplicate keys
    and NaN/Infinity (which ``json.loads`` would accept) are ``JsonInputError``s too."""
    try:
        obj = json.loads(
            line, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except JsonInputError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise JsonInputError(None, f"not valid JSON: {exc}") from None
    return parse_line(obj, schemas)
