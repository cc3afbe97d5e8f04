import unicodedata
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.events import event
from vanphong.core.rejection import Reason, Rejection
from vanphong.core.rules import TextField, accept, classify, text_fields
from vanphong.core.semantics import local_day
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.codec import current_schema, shipped_schemas


def reason_of(event_type: EventType, **fields: Any) -> Reason | None:
    try:
        accept(event_type, event(event_type, **fields), shipped_schemas())
    except Rejection as rejection:
        return rejection.reason
    return None


def test_text_is_normalised_to_nfc_everywhere_including_lists() -> None:
    nfd = unicodedata.normalize("NFD", "Văn phòng Tỉnh ủy")
    record = accept(
        EventType.UNIT_REGISTERED, event(EventType.UNIT_REGISTERED, name=nfd), shipped_schemas()
    )
    assert record["name"] == unicodedata.normalize("NFC", nfd) != nfd
    merge = accept(
        EventType.OFFICE_MERGED,
        event(EventType.OFFICE_MERGED, absorbed_unit_ids=[unicodedata.normalize("NFD", "ủy")]),
        shipped_schemas(),
    )
    assert merge["absorbed_unit_ids"] == ["ủy"]


@pytest.mark.parametrize(
    ("event_type", "fields", "reason"),
    [
        (EventType.DOCUMENT_ISSUED, {}, None),
        (EventType.DOCUMENT_ISSUED, {"event_id": ""}, Reason.INVALID_FIELD),
        (EventType.DOCUMENT_ISSUED, {"event_id": "x" * 129}, Reason.INVALID_FIELD),
        (EventType.DOCUMENT_ISSUED, {"event_id": "x" * 128}, None),
        (EventType.DOCUMENT_ISSUED, {"revision": 0}, Reason.INVALID_FIELD),
        (EventType.DOCUMENT_ISSUED, {"unit_id": " "}, Reason.INVALID_FIELD),
        (EventType.DOCUMENT_ISSUED, {"number": "163/QĐ-UBND"}, Reason.INVALID_DOCUMENT_NUMBER),
        (EventType.DOCUMENT_ISSUED, {"number": "01-NQ/TU"}, Reason.DOCUMENT_TYPE_MISMATCH),
        (EventType.MEETING_HELD, {"attendees": -1}, Reason.INVALID_FIELD),
        (EventType.MEETING_HELD, {"attendees": 0, "duration_minutes": 0}, None),
        (EventType.MEETING_HELD, {"duration_minutes": -5}, Reason.INVALID_FIELD),
        (EventType.CITIZENS_RECEIVED, {"citizens": 0}, Reason.INVALID_FIELD),
        (EventType.CITIZENS_RECEIVED, {"petitions": -1}, Reason.INVALID_FIELD),
        (EventType.OFFICE_MERGED, {"absorbed_unit_ids": []}, Reason.INVALID_FIELD),
        (EventType.OFFICE_MERGED, {"absorbed_unit_ids": ["a", "a"]}, Reason.INVALID_FIELD),
        (EventType.OFFICE_MERGED, {"absorbed_unit_ids": ["vptu"]}, Reason.INVALID_FIELD),
        (
            EventType.OFFICE_MERGED,
            {"absorbed_unit_ids": [f"u{i}" for i in range(51)]},
            Reason.INVALID_FIELD,
        ),
        (EventType.OFFICE_MERGED, {"absorbed_unit_ids": [f"u{i}" for i in range(50)]}, None),
        (EventType.AWARD_GRANTED, {"granted_by_unit_id": None}, None),
        (EventType.TASK_COMPLETED, {"task_id": ""}, Reason.INVALID_FIELD),
    ],
)
def test_rules_of_section_4(
    event_type: EventType, fields: dict[str, Any], reason: Reason | None
) -> None:
    assert reason_of(event_type, **fields) == reason


# ---------------------------------------------------------------------------------------------
# The limits of §4 (v1.1): identifiers 1–128 characters, other text at most 10,000, no U+0000,
# counted after NFC. Which fields are which comes from the Avro schemas
# (vanphong.core.rules.classify)
# ---------------------------------------------------------------------------------------------


def rejection_of(event_type: EventType, **fields: Any) -> Rejection | None:
    fields.setdefault("event_id", "e-1")  # not derived from the key field under test
    try:
        accept(event_type, event(event_type, **fields), shipped_schemas())
    except Rejection as rejection:
        return rejection
    return None


def string_fields() -> list[tuple[EventType, TextField]]:
    """Every (event type, string field) of the shipped schemas."""
    return [(et, f) for et in EVENT_TYPES for f in text_fields(et, shipped_schemas())]


IDENTIFIER_FIELDS = {
    "event_id",
    "source",
    "number",
    "unit_id",
    "parent_unit_id",
    "document_id",
    "meeting_id",
    "merge_id",
    "absorbed_unit_ids",
    "into_unit_id",
    "award_id",
    "granted_by_unit_id",
    "recipient_unit_id",
    "reception_id",
    "task_id",
}
TEXT_FIELDS = {
    "signed_by",  # schemas/v2/DocumentIssued.avsc
    "name",
    "province",
    "issuing_organ",
    "title",
    "chaired_by",
    "legal_basis",
    "granting_authority",
    "recipient_name",
    "decision_number",
    "led_by",
    "assigned_by",
    "source_document",
}


NOT_TEXT = {
    "occurred_at",
    "revision",
    "voided",
    "kind",
    "doc_type",
    "appraised",
    "secrecy",
    "urgency",
    "attendees",
    "mode",
    "duration_minutes",
    "effective_date",
    "recipient_kind",
    "citizens",
    "petitions",
    "due_date",
}


def test_every_string_of_every_schema_is_an_identifier_or_text() -> None:
    found = string_fields()
    assert {f.name for _, f in found if f.identifier} == IDENTIFIER_FIELDS
    assert {f.name for _, f in found if not f.identifier} == TEXT_FIELDS
    assert {f.name for _, f in found if f.array} == {"absorbed_unit_ids", "legal_basis"}
    # every other field of the schemas is one of §4's non-text fields
    every = {f["name"] for et in EVENT_TYPES for f in current_schema(et).schema["fields"]}
    assert every - IDENTIFIER_FIELDS - TEXT_FIELDS == NOT_TEXT


def test_a_field_added_to_a_schema_is_classified_by_its_name_and_type() -> None:
    schema = {
        "type": "record",
        "name": "Later",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "archive_id", "type": ["null", {"type": "string"}]},
            {"name": "signer_ids", "type": {"type": "array", "items": "string"}},
            {"name": "summary", "type": ["null", "string"]},
            {"name": "keywords", "type": {"type": "array", "items": ["null", "string"]}},
            {"name": "pages", "type": "int"},
            {"name": "digest_id", "type": "bytes"},
            {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["A"]}},
        ],
    }
    assert classify(schema) == (
        TextField("event_id", True, False),
        TextField("archive_id", True, False),
        TextField("signer_ids", True, True),
        TextField("summary", False, False),
        TextField("keywords", False, True),
    )


def value_for(field: TextField, text: str) -> str | list[str]:
    return [text] if field.array else text


def where(field: TextField) -> str:
    return f"{field.name}[0]" if field.array else field.name


FIELDS = string_fields()
FIELD_IDS = [f"{t}.{f.name}" for t, f in FIELDS]


@pytest.mark.parametrize(("event_type", "field"), FIELDS, ids=FIELD_IDS)
def test_nul_anywhere_is_invalid_and_named(event_type: EventType, field: TextField) -> None:
    got = rejection_of(event_type, **{field.name: value_for(field, "ab\x00c")})
    assert got == Rejection(
        Reason.INVALID_FIELD, f"{where(field)} contains U+0000 (NUL) at character 3"
    )


@pytest.mark.parametrize(("event_type", "field"), FIELDS, ids=FIELD_IDS)
def test_each_string_field_has_its_length_limit(event_type: EventType, field: TextField) -> None:
    if field.name == "number":  # must also be a Party document number of the doc_type
        longest, too_long = "1" * 122 + "-KH/TU", "1" * 123 + "-KH/TU"
    elif field.identifier:
        longest, too_long = "x" * 128, "x" * 129
    else:
        longest, too_long = "x" * 10_000, "x" * 10_001
    assert rejection_of(event_type, **{field.name: value_for(field, longest)}) is None
    got = rejection_of(event_type, **{field.name: value_for(field, too_long)})
    limit = "1–128 allowed" if field.identifier else "at most 10,000 allowed"
    assert got == Rejection(
        Reason.INVALID_FIELD, f"{where(field)} has {len(too_long):,} characters, {limit}"
    )


@pytest.mark.parametrize(
    ("event_type", "fields", "detail"),
    [
        # identifiers: 0, 128, 129 and 6,000 characters, blank
        (
            EventType.DOCUMENT_ISSUED,
            {"document_id": ""},
            "document_id is empty, 1–128 characters allowed",
        ),
        (EventType.DOCUMENT_ISSUED, {"document_id": "d" * 128}, None),
        (
            EventType.DOCUMENT_ISSUED,
            {"document_id": "d" * 129},
            "document_id has 129 characters, 1–128 allowed",
        ),
        (
            EventType.DOCUMENT_ISSUED,
            {"document_id": "d" * 6000},
            "document_id has 6,000 characters, 1–128 allowed",
        ),
        (
            EventType.DOCUMENT_ISSUED,
            {"event_id": "e" * 6000},
            "event_id has 6,000 characters, 1–128 allowed",
        ),
        (EventType.DOCUMENT_ISSUED, {"source": ""}, "source is empty, 1–128 characters allowed"),
        (EventType.DOCUMENT_ISSUED, {"unit_id": " \t"}, "unit_id is blank (only white space)"),
        (EventType.UNIT_REGISTERED, {"parent_unit_id": None}, None),
        (
            EventType.UNIT_REGISTERED,
            {"parent_unit_id": ""},
            "parent_unit_id is empty, 1–128 characters allowed",
        ),
        (
            EventType.AWARD_GRANTED,
            {"granted_by_unit_id": "g" * 129},
            "granted_by_unit_id has 129 characters, 1–128 allowed",
        ),
        # inside arrays
        (
            EventType.OFFICE_MERGED,
            {"absorbed_unit_ids": ["a", "b", "u" * 129]},
            "absorbed_unit_ids[2] has 129 characters, 1–128 allowed",
        ),
        (EventType.OFFICE_MERGED, {"absorbed_unit_ids": ["a", "u" * 128]}, None),
        (
            EventType.OFFICE_MERGED,
            {"absorbed_unit_ids": ["a", ""]},
            "absorbed_unit_ids[1] is empty, 1–128 characters allowed",
        ),
        (
            EventType.OFFICE_MERGED,
            {"absorbed_unit_ids": ["a", " "]},
            "absorbed_unit_ids[1] is blank (only white space)",
        ),
        (
            EventType.OFFICE_MERGED,
            {"absorbed_unit_ids": ["a", "b\x00"]},
            "absorbed_unit_ids[1] contains U+0000 (NUL) at character 2",
        ),
        (
            EventType.OFFICE_MERGED,
            {"legal_basis": ["18-NQ/TW", "x" * 10_001]},
            "legal_basis[1] has 10,001 characters, at most 10,000 allowed",
        ),
        (EventType.OFFICE_MERGED, {"legal_basis": []}, None),
        (EventType.OFFICE_MERGED, {"legal_basis": [""]}, None),  # text may be empty
        # free text
        (EventType.DOCUMENT_ISSUED, {"title": "T" * 10_000}, None),
        (
            EventType.DOCUMENT_ISSUED,
            {"title": "T" * 10_001},
            "title has 10,001 characters, at most 10,000 allowed",
        ),
        (EventType.DOCUMENT_ISSUED, {"title": ""}, None),
        (
            EventType.DOCUMENT_ISSUED,
            {"title": "Kế hoạch\x00"},
            "title contains U+0000 (NUL) at character 9",
        ),
        (
            EventType.DOCUMENT_ISSUED,
            {"document_id": "docum\x00ent"},
            "document_id contains U+0000 (NUL) at character 6",
        ),
        (
            EventType.MEETING_HELD,
            {"chaired_by": "\x00"},
            "chaired_by contains U+0000 (NUL) at character 1",
        ),
        # a long id with a NUL: its length is named first
        (
            EventType.DOCUMENT_ISSUED,
            {"document_id": "\x00" * 200},
            "document_id has 200 characters, 1–128 allowed",
        ),
    ],
)
def test_limits_table(event_type: EventType, fields: dict[str, Any], detail: str | None) -> None:
    got = rejection_of(event_type, **fields)
    assert got == (None if detail is None else Rejection(Reason.INVALID_FIELD, detail))


NFD_A = unicodedata.normalize("NFD", "ắ")  # 3 code points, 1 after NFC
NFD_U = unicodedata.normalize("NFD", "ủ")  # 2 code points, 1 after NFC


@pytest.mark.parametrize(
    ("event_type", "fields", "detail"),
    [
        (EventType.DOCUMENT_ISSUED, {"title": NFD_A * 10_000}, None),  # 30,000 code points as sent
        (
            EventType.DOCUMENT_ISSUED,
            {"title": NFD_A * 10_001},
            "title has 10,001 characters, at most 10,000 allowed",
        ),
        (EventType.DOCUMENT_ISSUED, {"document_id": NFD_U * 128}, None),  # 256 as sent
        (
            EventType.DOCUMENT_ISSUED,
            {"document_id": NFD_U * 129},
            "document_id has 129 characters, 1–128 allowed",
        ),
        (EventType.OFFICE_MERGED, {"absorbed_unit_ids": ["a", NFD_U * 128]}, None),
        (
            EventType.OFFICE_MERGED,
            {"absorbed_unit_ids": ["a", NFD_U * 129]},
            "absorbed_unit_ids[1] has 129 characters, 1–128 allowed",
        ),
    ],
)
def test_lengths_count_after_nfc(
    event_type: EventType, fields: dict[str, Any], detail: str | None
) -> None:
    got = rejection_of(event_type, **fields)
    assert got == (None if detail is None else Rejection(Reason.INVALID_FIELD, detail))


@pytest.mark.parametrize(
    ("occurred_at", "ok"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), False),
        (datetime(1, 1, 1, 23, 59, 59, 999000, tzinfo=UTC), False),
        (datetime(1, 1, 2, tzinfo=UTC), True),
        (datetime(9999, 12, 30, 23, 59, 59, 999000, tzinfo=UTC), True),
        (datetime(9999, 12, 31, tzinfo=UTC), False),
        (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), False),
    ],
)
def test_occurred_at_keeps_a_day_from_the_ends_of_the_years_1_to_9999(
    occurred_at: datetime, ok: bool
) -> None:
    got = rejection_of(EventType.MEETING_HELD, occurred_at=occurred_at)
    if ok:
        assert got is None
        # and then its day exists in every time zone, the furthest from UTC included
        for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "America/Sitka", "Asia/Manila"):
            local_day(occurred_at, ZoneInfo(zone))
    else:
        assert got is not None and got.reason == Reason.INVALID_FIELD
        assert got.detail.startswith(f"occurred_at {occurred_at.isoformat()} is too close")


# the property: a string breaks the limits iff, after NFC, it is out of bounds or holds a NUL
_PIECES = st.sampled_from(["a", "ắ", NFD_A, NFD_U, " ", "\x00", "Đ", "\t"])
_SIZES = st.sampled_from([0, 1, 2, 64, 127, 128, 129, 3333, 3334, 9_999, 10_000, 10_001])


@st.composite
def texts(draw: st.DrawFn) -> str:
    piece, size = draw(_PIECES), draw(_SIZES)
    return draw(st.text(max_size=3)) + piece * (size // len(piece)) + draw(st.text(max_size=3))


def broken(text: str, identifier: bool) -> bool:
    nfc = unicodedata.normalize("NFC", text)
    if "\x00" in nfc:
        return True
    if identifier:
        return not 1 <= len(nfc) <= 128 or nfc.isspace()
    return len(nfc) > 10_000


@settings(max_examples=300, deadline=None)
@given(choice=st.sampled_from([f for f in FIELDS if f[1].name != "number"]), text=texts())
def test_property_a_string_is_rejected_iff_it_breaks_the_limits_after_nfc(
    choice: tuple[EventType, TextField], text: str
) -> None:
    event_type, field = choice
    if field.name == "absorbed_unit_ids":
        assume(unicodedata.normalize("NFC", text) != event(event_type)["into_unit_id"])
    got = rejection_of(event_type, **{field.name: value_for(field, text)})
    if broken(text, field.identifier):
        assert got is not None and got.reason == Reason.INVALID_FIELD
        assert got.detail.startswith(where(field) + " ")
    else:
        assert got is None
