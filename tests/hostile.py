"""Hostile messages for tests: bytes that fastavro's writer would refuse to write (a boolean byte
02, an enum index -1, a string that claims 2⁴⁰ bytes, …) built field by field, and records that
encode fine but break the limits of CONTRACT.md §4 (U+0000, ids of 6,000 characters, …).

``HOSTILE`` is the catalogue: each case with the dead-letter reason it must get and the field its
detail must name. The unit tests (tests/test_edge.py) and the integration test
(tests/test_hostile_input.py) both use it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import fastavro

from tests.events import event
from vanphong.schemas.catalog import BY_TYPE, EventType
from vanphong.schemas.codec import MAGIC, encode, shipped_schemas

registry = shipped_schemas()  # the shipped schemas' registry


def varint(n: int) -> bytes:
    """Unsigned base-128 varint of any non-negative int (also beyond 64 bits)."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(n: int) -> bytes:
    """Avro's encoding of a long (or int) ``n``; ``n`` may lie beyond 64 bits on purpose."""
    return varint(2 * n if n >= 0 else -2 * n - 1)


def field_bytes(event_type: EventType, name: str, value: Any) -> bytes:
    """fastavro's encoding of one field's value, with the field's type in the current schema."""
    fields = registry.current(event_type).schema["fields"]
    field_type = next(f["type"] for f in fields if f["name"] == name)
    out = BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(field_type), value)
    return out.getvalue()


def body_parts(event_type: EventType, record: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The body of ``record`` as (field, bytes) in schema order: a valid encoding, cut at field
    boundaries so that tests can replace or splice at them."""
    fields = registry.current(event_type).schema["fields"]
    return [(f["name"], field_bytes(event_type, f["name"], record[f["name"]])) for f in fields]


def message(event_type: str, record: dict[str, Any] | None = None, **raw: bytes) -> bytes:
    """A single-object message of ``event_type`` (``record`` or the default test event) whose
    fields named in ``raw`` are replaced by the given bytes, as they are."""
    et = BY_TYPE[event_type]
    parts = body_parts(et, record if record is not None else event(event_type))
    unknown = set(raw) - {name for name, _ in parts}
    assert not unknown, unknown
    header = registry.current(et).header
    return header + b"".join(raw.get(name, data) for name, data in parts)


@dataclass(frozen=True)
class Case:
    name: str  # what is hostile about it, in words (the test id)
    event_type: str  # the topic it is published on
    value: bytes | None
    reason: str  # the dead-letter reason it must get
    field: str | None  # what the detail must name (None: nothing to name)


def _encoded(event_type: str, **fields: Any) -> bytes:
    return encode(event_type, event(event_type, **fields))


_TITLE = "Kế hoạch thực hiện Nghị quyết"
_MERGE = event("office.merged", absorbed_unit_ids=["vpbtc", "btgtu"], legal_basis=["18-NQ/TW"])
_DOC = event("document.issued")
_MS = 1 << 62  # a valid long; as milliseconds, ~146 million years
_STRING_2_40 = zigzag(1 << 40) + b"Ke hoach"  # a length of 2⁴⁰, then a few real bytes
_ARRAY_2_40 = zigzag(1 << 40) + b"\x0avpbtc\x00"  # a count of 2⁴⁰, then one item


def _block(count: int, size: int, items: list[bytes]) -> bytes:
    return zigzag(count) + zigzag(size) + b"".join(items) + b"\x00"


HOSTILE: tuple[Case, ...] = (
    # -- well-formed Avro that breaks §4's limits: invalid_field, from vanphong/core/rules.py ----
    Case(
        "NUL in a document's title",
        "document.issued",
        _encoded("document.issued", document_id="h-nul-title", title=_TITLE + "\x00 (bản 2)"),
        "invalid_field",
        "title",
    ),
    Case(
        "NUL in a document_id",
        "document.issued",
        _encoded("document.issued", document_id="h-nul\x00-id", event_id="h-nul-id"),
        "invalid_field",
        "document_id",
    ),
    Case(
        "a document_id of 6,000 characters",
        "document.issued",
        _encoded("document.issued", document_id="d" * 6000, event_id="h-6000"),
        "invalid_field",
        "document_id",
    ),
    Case(
        "a title of 10,001 characters",
        "document.issued",
        _encoded("document.issued", document_id="h-long-title", title="T" * 10_001),
        "invalid_field",
        "title",
    ),
    Case(
        "an event_id of 129 characters",
        "document.issued",
        _encoded("document.issued", document_id="h-long-event", event_id="e" * 129),
        "invalid_field",
        "event_id",
    ),
    Case(
        "an empty unit_id",
        "document.issued",
        _encoded("document.issued", document_id="h-empty-unit", unit_id=""),
        "invalid_field",
        "unit_id",
    ),
    Case(
        "a source of white space only",
        "meeting.held",
        _encoded("meeting.held", meeting_id="h-blank-source", source="   "),
        "invalid_field",
        "source",
    ),
    Case(
        "a number of 129 characters",
        "document.issued",
        _encoded("document.issued", document_id="h-long-number", number="1" * 123 + "-KH/TU"),
        "invalid_field",
        "number",
    ),
    Case(
        "NUL in a meeting's chaired_by (nullable text)",
        "meeting.held",
        _encoded("meeting.held", meeting_id="h-nul-chair", chaired_by="Bí thư\x00"),
        "invalid_field",
        "chaired_by",
    ),
    Case(
        "a meeting title of 10,001 characters after NFC (NFD longer still)",
        "meeting.held",
        _encoded(
            "meeting.held",
            meeting_id="h-nfc-title",
            title=unicodedata.normalize("NFD", "ắ" * 10_001),
        ),
        "invalid_field",
        "title",
    ),
    Case(
        "a merger absorbing an id of 200 characters",
        "office.merged",
        encode("office.merged", {**_MERGE, "absorbed_unit_ids": ["vpbtc", "u" * 200]}),
        "invalid_field",
        "absorbed_unit_ids[1]",
    ),
    Case(
        "NUL in a merger's legal_basis entry",
        "office.merged",
        encode("office.merged", {**_MERGE, "merge_id": "h-nul-basis", "legal_basis": ["1\x00"]}),
        "invalid_field",
        "legal_basis[0]",
    ),
    Case(
        "occurred_at within a day of year 1 (its day underflows west of UTC)",
        "document.issued",
        _encoded(
            "document.issued",
            document_id="h-year-1",
            occurred_at=datetime(1, 1, 1, 12, tzinfo=UTC),
        ),
        "invalid_field",
        "occurred_at",
    ),
    Case(
        "occurred_at on 9999-12-31 (its day overflows east of UTC)",
        "meeting.held",
        _encoded(
            "meeting.held",
            meeting_id="h-year-9999",
            occurred_at=datetime(9999, 12, 31, 1, tzinfo=UTC),
        ),
        "invalid_field",
        "occurred_at",
    ),
    # -- well-formed Avro whose value Python cannot hold: invalid_field, from the codec ---------
    Case(
        "a timestamp beyond the year 9999 (2⁶² ms)",
        "document.issued",
        message("document.issued", occurred_at=zigzag(_MS)),
        "invalid_field",
        "occurred_at",
    ),
    Case(
        "a timestamp before the year 1 (-2⁶³ ms)",
        "meeting.held",
        message("meeting.held", occurred_at=zigzag(-(1 << 63))),
        "invalid_field",
        "occurred_at",
    ),
    Case(
        "a date beyond the year 9999 (2³¹-1 days)",
        "office.merged",
        message("office.merged", _MERGE, effective_date=zigzag(2**31 - 1)),
        "invalid_field",
        "effective_date",
    ),
    # -- malformed bodies: undecodable, from the strict decoder ---------------------------------
    Case(
        "boolean byte 0x02",
        "document.issued",
        message("document.issued", appraised=b"\x02"),
        "undecodable",
        "appraised",
    ),
    Case(
        "boolean byte 0xff",
        "meeting.held",
        message("meeting.held", voided=b"\xff"),
        "undecodable",
        "voided",
    ),
    Case(
        "a negative enum index",
        "document.issued",
        message("document.issued", doc_type=zigzag(-1)),
        "undecodable",
        "doc_type",
    ),
    Case(
        "an enum index past the last symbol",
        "document.issued",
        message("document.issued", urgency=zigzag(4)),
        "undecodable",
        "urgency",
    ),
    Case(
        "an enum index of 2⁴⁰",
        "meeting.held",
        message("meeting.held", mode=zigzag(1 << 40)),
        "undecodable",
        "mode",
    ),
    Case(
        "an int beyond 32 bits",
        "document.issued",
        message("document.issued", revision=zigzag(2**31)),
        "undecodable",
        "revision",
    ),
    Case(
        "an int of 2⁴⁰ attendees",
        "meeting.held",
        message("meeting.held", attendees=zigzag(1 << 40)),
        "undecodable",
        "attendees",
    ),
    Case(
        "a date beyond 32 bits",
        "task.assigned",
        message("task.assigned", due_date=zigzag(1 << 40)),
        "undecodable",
        "due_date",
    ),
    Case(
        "a string claiming 2⁴⁰ bytes",
        "document.issued",
        message("document.issued", title=_STRING_2_40),
        "undecodable",
        "title",
    ),
    Case(
        "a string of negative length",
        "document.issued",
        message("document.issued", number=zigzag(-3) + b"abc"),
        "undecodable",
        "number",
    ),
    Case(
        "an array claiming 2⁴⁰ items",
        "office.merged",
        message("office.merged", _MERGE, absorbed_unit_ids=_ARRAY_2_40),
        "undecodable",
        "absorbed_unit_ids",
    ),
    Case(
        "an array block of -2⁴⁰ items with a byte size",
        "office.merged",
        message("office.merged", _MERGE, legal_basis=_block(-(1 << 40), 7, [b"\x0c18-NQ/"])),
        "undecodable",
        "legal_basis",
    ),
    Case(
        "an array block whose byte size is wrong",
        "office.merged",
        message("office.merged", _MERGE, absorbed_unit_ids=_block(-1, 2, [b"\x0avpbtc"])),
        "undecodable",
        "absorbed_unit_ids",
    ),
    Case(
        "a union branch past the end",
        "meeting.held",
        message("meeting.held", duration_minutes=zigzag(2) + zigzag(90)),
        "undecodable",
        "duration_minutes",
    ),
    Case(
        "a negative union branch",
        "meeting.held",
        message("meeting.held", chaired_by=zigzag(-1)),
        "undecodable",
        "chaired_by",
    ),
    Case(
        "a varint of 11 bytes",
        "document.issued",
        message("document.issued", occurred_at=b"\xff" * 10 + b"\x01"),
        "undecodable",
        "occurred_at",
    ),
    Case(
        "a varint beyond 64 bits",
        "meeting.held",
        message("meeting.held", occurred_at=varint(1 << 64)),
        "undecodable",
        "occurred_at",
    ),
    Case(
        "a title that is not UTF-8",
        "document.issued",
        message("document.issued", title=zigzag(2) + b"\xff\xfe"),
        "undecodable",
        "title",
    ),
    Case(
        "NUL in over-long UTF-8 (C0 80)",
        "document.issued",
        message("document.issued", document_id=zigzag(3) + b"d\xc0\x80"),
        "undecodable",
        "document_id",
    ),
    Case(
        "a UTF-16 surrogate in UTF-8 (CESU-8)",
        "meeting.held",
        message("meeting.held", title=zigzag(3) + b"\xed\xa0\x80"),
        "undecodable",
        "title",
    ),
    Case(
        "a body cut inside a field",
        "document.issued",
        encode("document.issued", {**_DOC, "document_id": "h-cut"})[:-5],
        "undecodable",
        "title",  # appraised, secrecy, urgency and signed_by are cut off, and title's last byte
    ),
    Case(
        "a header and no body",
        "meeting.held",
        registry.current(BY_TYPE["meeting.held"]).header,
        "undecodable",
        "event_id",
    ),
    Case(
        "trailing bytes",
        "document.issued",
        encode("document.issued", {**_DOC, "document_id": "h-trailing"}) + b"\x00",
        "undecodable",
        None,
    ),
    Case("a tombstone (no value)", "document.issued", None, "undecodable", None),
    Case("an empty value", "meeting.held", b"", "undecodable", None),
    Case(
        "an unknown fingerprint",
        "document.issued",
        MAGIC + bytes(range(8)) + b"\x02x",
        "unknown_schema",
        None,
    ),
    Case(
        "a meeting on the document topic",
        "document.issued",
        _encoded("meeting.held", meeting_id="h-misplaced"),
        "invalid_field",
        None,
    ),
)
