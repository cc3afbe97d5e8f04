"""Normalise and validate a decoded event against the rules of CONTRACT.md §4.

The Avro schema already guarantees types and enum symbols; what it cannot say (lengths,
ranges, Party document numbers, merger shape) is checked here, after Unicode NFC
normalisation, so that codes compare equal whatever form upstream sent.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from schemas.catalog import EventType
from vanphong.docnumber import check_document_number
from vanphong.rejection import Reason, Rejection

MAX_EVENT_ID = 128
MAX_ABSORBED = 50

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


def _require_text(record: Mapping[str, Any], field: str, max_len: int | None = None) -> None:
    value = record.get(field)
    if value is None:
        return
    if not value.strip():
        raise _invalid(f"{field} is empty")
    if max_len is not None and len(value) > max_len:
        raise _invalid(f"{field} has {len(value)} characters, at most {max_len} allowed")


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
    if any(not unit.strip() for unit in absorbed):
        raise _invalid("absorbed_unit_ids contains an empty unit id")
    if record["into_unit_id"] in absorbed:
        raise _invalid(f"into_unit_id {record['into_unit_id']} is among the absorbed units")


# Per event type: the identifier fields that must be non-empty, the minimum of integer fields,
# and any further check.
_IDS: dict[str, tuple[str, ...]] = {
    "unit.registered": ("unit_id", "parent_unit_id"),
    "document.issued": ("document_id", "unit_id", "number"),
    "meeting.held": ("meeting_id", "unit_id"),
    "office.merged": ("merge_id", "into_unit_id"),
    "award.granted": ("award_id", "granted_by_unit_id", "recipient_unit_id"),
    "citizens.received": ("reception_id", "unit_id"),
    "task.assigned": ("task_id", "unit_id"),
    "task.completed": ("task_id", "unit_id"),
}
_MINIMUMS: dict[str, tuple[tuple[str, int], ...]] = {
    "meeting.held": (("attendees", 0), ("duration_minutes", 0)),
    "citizens.received": (("citizens", 1), ("petitions", 0)),
}
_CHECKS: dict[str, Callable[[Record], None]] = {
    "document.issued": _check_document,
    "office.merged": _check_merge,
}


def validate(event_type: EventType, record: Record) -> None:
    """Raise a :class:`Rejection` if ``record`` (already NFC) breaks a rule of §4."""
    _require_text(record, "event_id", MAX_EVENT_ID)
    if not record["event_id"]:
        raise _invalid("event_id is empty")
    _require_at_least(record, "revision", 1)
    for field in _IDS[event_type.type]:
        _require_text(record, field)
    for field, minimum in _MINIMUMS.get(event_type.type, ()):
        _require_at_least(record, field, minimum)
    check = _CHECKS.get(event_type.type)
    if check is not None:
        check(record)


def accept(event_type: EventType, record: Record) -> Record:
    """Normalise (in place) then validate: the record as vanphong stores it, or a
    :class:`Rejection`. ``record`` must be the caller's own, as a decoder's result is."""
    normalised = normalise_record(record)
    validate(event_type, normalised)
    return normalised
