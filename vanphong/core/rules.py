"""Normalise and validate a decoded event against the rules of CONTRACT.md §4.

The Avro schema already guarantees types and enum symbols; what it cannot say (lengths,
ranges, Party document numbers, merger shape) is checked here, after Unicode NFC
normalisation, so that codes compare equal whatever form upstream sent.

The limits of §4 (v1.1) keep out of PostgreSQL what it would refuse, so that no message can fail
a batch: an identifier is 1–128 characters (an index row has at most 2,704 bytes), other text at
most 10,000, and no text contains U+0000 (``text`` cannot hold it). Which fields are identifiers
and which are text is derived from the current Avro schemas of the registry the caller passes
(the core reads no process-wide one), once per registry: every string field (also nullable, also
each item of an array of strings) is text; ``event_id``, ``source``, ``number``, every ``*_id``
and every item of an ``*_ids`` array is an identifier. So a field added in a later schema
version is covered without a new list here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from vanphong.core.docnumber import check_document_number
from vanphong.core.rejection import Reason, Rejection
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.known import KnownSchemas

MAX_ID = 128  # characters of an identifier (after NFC)
MAX_TEXT = 10_000  # characters of any other text (after NFC)
MAX_ABSORBED = 50
IDENTIFIERS = frozenset({"event_id", "source", "number"})  # besides every *_id and *_ids
# occurred_at must leave a day to spare at both ends of the years 1–9999, so that its day in
# any VANPHONG_TIMEZONE (offsets are under 24 h) is still a date Python can hold.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)  # exclusive: 9999-12-30 is the last day allowed

Record = dict[str, Any]


def normalise(value: Any) -> Any:
    """Every string, also inside lists, in Unicode NFC (upstream systems send NFD too)."""
    if isinstance(value, str):
        # ASCII is NFC already (most ids and codes): skip the lookup.
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    return value


def normalise_record(record: Record) -> Record:
    """:func:`normalise` for a freshly decoded record, in place: only its non-ASCII strings
    and its lists are replaced (this runs for every event; most fields are ASCII or not text)."""
    for key, value in record.items():
        kind = type(value)
        if kind is str:
            if not value.isascii():
                record[key] = unicodedata.normalize("NFC", value)
        elif kind is list or kind is dict:
            record[key] = normalise(value)
    return record


def _invalid(detail: str) -> Rejection:
    return Rejection(Reason.INVALID_FIELD, detail)


class TextField(NamedTuple):
    """A string field of an event type, as the limits see it."""

    name: str
    identifier: bool  # 1–128 characters, not blank; otherwise text of at most 10,000
    array: bool  # an array of strings: each item is checked


def _is_string(field_type: Any) -> bool:
    """``"string"`` or ``{"type": "string"}``, also as a branch of a (nullable) union."""
    if isinstance(field_type, list):
        return any(_is_string(branch) for branch in field_type)
    if isinstance(field_type, Mapping):
        return field_type.get("type") == "string" and "logicalType" not in field_type
    return field_type == "string"


def classify(schema: Mapping[str, Any]) -> tuple[TextField, ...]:
    """Every string field of a record schema, classified by the naming rule of §4."""
    out = []
    for field in schema["fields"]:
        name, kind = str(field["name"]), field["type"]
        if _is_string(kind):
            out.append(TextField(name, name in IDENTIFIERS or name.endswith("_id"), False))
        elif (
            isinstance(kind, Mapping) and kind.get("type") == "array" and _is_string(kind["items"])
        ):
            out.append(TextField(name, name.endswith("_ids"), True))
    return tuple(out)


def text_fields(event_type: EventType, schemas: KnownSchemas) -> tuple[TextField, ...]:
    """The string fields of the event type's current schema (the one records are resolved to)
    in ``schemas``."""
    return classify(schemas.current(event_type).schema)


class _Limits(NamedTuple):
    """The text fields of one event type, split so that the check is a flat loop each."""

    identifiers: tuple[str, ...]
    texts: tuple[str, ...]
    arrays: tuple[TextField, ...]


# Per registry, per event type: worked out on first use (validate runs for every event, so a
# look-up here is two dict hits).
_LIMITS: dict[KnownSchemas, dict[EventType, _Limits]] = {}


def _limits_of(schemas: KnownSchemas) -> dict[EventType, _Limits]:
    table = _LIMITS.get(schemas)
    if table is None:
        table = _LIMITS[schemas] = {}
        for event_type in EVENT_TYPES:
            fields = text_fields(event_type, schemas)
            table[event_type] = _Limits(
                tuple(f.name for f in fields if f.identifier and not f.array),
                tuple(f.name for f in fields if not f.identifier and not f.array),
                tuple(f for f in fields if f.array),
            )
    return table


def _check_limits(limits: _Limits, record: Mapping[str, Any]) -> None:
    """The §4 limits on every string of the record: one pass, a ``len`` and an ``in`` each
    (this runs for every event; the explanation is worked out only for a string that fails)."""
    for name in limits.identifiers:
        value = record[name]
        if value is not None and (
            not 0 < len(value) <= MAX_ID or "\x00" in value or value.isspace()
        ):
            raise _string_problem(name, value, True)
    for name in limits.texts:
        value = record[name]
        if value is not None and (len(value) > MAX_TEXT or "\x00" in value):
            raise _string_problem(name, value, False)
    for name, identifier, _ in limits.arrays:
        for i, item in enumerate(record[name]):
            if identifier:
                bad = not 0 < len(item) <= MAX_ID or "\x00" in item or item.isspace()
            else:
                bad = len(item) > MAX_TEXT or "\x00" in item
            if bad:
                raise _string_problem(f"{name}[{i}]", item, identifier)


def _string_problem(where: str, value: str, identifier: bool) -> Rejection:
    """What is wrong with a string that failed :func:`_check_limits`."""
    size = len(value)
    if identifier and size == 0:
        return _invalid(f"{where} is empty, 1–{MAX_ID} characters allowed")
    if identifier and size > MAX_ID:
        return _invalid(f"{where} has {size:,} characters, 1–{MAX_ID} allowed")
    if not identifier and size > MAX_TEXT:
        return _invalid(f"{where} has {size:,} characters, at most {MAX_TEXT:,} allowed")
    if "\x00" in value:
        return _invalid(f"{where} contains U+0000 (NUL) at character {value.index(chr(0)) + 1:,}")
    return _invalid(f"{where} is blank (only white space)")


def _occurred_at_problem(occurred: datetime) -> Rejection:
    return _invalid(
        f"occurred_at {occurred.isoformat()} is too close to the ends of the years 1–9999: "
        f"0001-01-02 to 9999-12-30 (UTC) allowed, so that its day exists in every time zone"
    )


def _require_at_least(record: Mapping[str, Any], field: str, minimum: int) -> None:
    value = record.get(field)
    if value is not None and value < minimum:
        raise _invalid(f"{field} is {value}, must be ≥ {minimum}")


def _check_document(record: Record) -> None:
    check_document_number(record["number"], record["doc_type"])


def _check_merge(record: Record) -> None:
    absorbed: list[str] = record["absorbed_unit_ids"]
    if not 1 <= len(absorbed) <= MAX_ABSORBED:
        raise _invalid(f"absorbed_unit_ids has {len(absorbed)} units, 1–{MAX_ABSORBED} allowed")
    if len(set(absorbed)) != len(absorbed):
        duplicated = sorted({u for u in absorbed if absorbed.count(u) > 1})
        raise _invalid(f"absorbed_unit_ids lists {', '.join(duplicated)} more than once")
    if record["into_unit_id"] in absorbed:
        raise _invalid(f"into_unit_id {record['into_unit_id']} is among the absorbed units")


# Per event type: the minimum of integer fields, and any further check.
_MINIMUMS: dict[EventType, tuple[tuple[str, int], ...]] = {
    EventType.MEETING_HELD: (("attendees", 0), ("duration_minutes", 0)),
    EventType.CITIZENS_RECEIVED: (("citizens", 1), ("petitions", 0)),
}
_CHECKS: dict[EventType, Callable[[Record], None]] = {
    EventType.DOCUMENT_ISSUED: _check_document,
    EventType.OFFICE_MERGED: _check_merge,
}


def validate(event_type: EventType, record: Record, schemas: KnownSchemas) -> None:
    """Raise a :class:`Rejection` if ``record`` (already NFC, read with the current schema of
    ``schemas``) breaks a rule of §4."""
    limits = _LIMITS.get(schemas) or _limits_of(schemas)  # a call fewer once known: hot path
    _check_limits(limits[event_type], record)
    if not EARLIEST <= record["occurred_at"] < LATEST:
        raise _occurred_at_problem(record["occurred_at"])
    _require_at_least(record, "revision", 1)
    for field, minimum in _MINIMUMS.get(event_type, ()):
        _require_at_least(record, field, minimum)
    check = _CHECKS.get(event_type)
    if check is not None:
        check(record)


def accept(event_type: EventType, record: Record, schemas: KnownSchemas) -> Record:
    """Normalise (in place) then validate: the record as vanphong stores it, or a
    :class:`Rejection`. ``record`` must be the caller's own, as a decoder's result is, read
    with ``schemas``."""
    normalised = normalise_record(record)
    validate(event_type, normalised, schemas)
    return normalised
