"""`vanphong publish` input (CONTRACT.md §8): JSON objects to Avro datums, and precise errors."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime
from typing import Any

import pytest

from vanphong.ground.settings import Settings
from vanphong.publish import prepare_all
from vanphong.schemas.catalog import BY_TYPE, EVENT_TYPES
from vanphong.schemas.codec import decode, encode, shipped_schemas
from vanphong.schemas.json_input import JsonInputError, parse_json_line, parse_line

COMMON = {"event_id": "e-1", "occurred_at": "2024-09-30T18:30:00Z", "source": "test"}
LINES: dict[str, dict[str, Any]] = {
    "unit.registered": {"unit_id": "VPTU", "name": "Văn phòng Tỉnh ủy", "kind": "OFFICE"},
    "document.issued": {
        "document_id": "d-1",
        "unit_id": "VPTU",
        "number": "86-KH/TU",
        "doc_type": "KE_HOACH",
        "issuing_organ": "BTV Tỉnh ủy",
        "title": "Kế hoạch",
        "appraised": True,
        "secrecy": "NONE",
        "urgency": "KHAN",
    },
    "meeting.held": {
        "meeting_id": "m-1",
        "unit_id": "VPTU",
        "kind": "GIAO_BAN",
        "title": "Giao ban tuần",
        "attendees": 20,
        "mode": "IN_PERSON",
    },
    "office.merged": {
        "merge_id": "mg-1",
        "absorbed_unit_ids": ["BTG", "BDV"],
        "into_unit_id": "BTGDV",
        "effective_date": "2025-03-01",
        "legal_basis": ["18-NQ/TW"],
    },
    "award.granted": {
        "award_id": "a-1",
        "kind": "GIAY_KHEN",
        "granting_authority": "BTV Tỉnh ủy",
        "recipient_kind": "COLLECTIVE",
        "recipient_unit_id": "VPTU",
    },
    "citizens.received": {"reception_id": "r-1", "unit_id": "VPTU", "citizens": 3, "petitions": 1},
    "task.assigned": {
        "task_id": "t-1",
        "unit_id": "BTC",
        "assigned_by": "Thường trực",
        "title": "Báo cáo",
        "due_date": "2024-10-15",
    },
    "task.completed": {"task_id": "t-1", "unit_id": "BTC"},
}


def line(type_: str, **changes: Any) -> dict[str, Any]:
    obj = {"type": type_, **COMMON, **LINES[type_], **changes}
    return {k: v for k, v in obj.items() if v is not DROP}


DROP = object()


def error(obj: Any) -> JsonInputError:
    with pytest.raises(JsonInputError) as info:
        parse_line(obj, shipped_schemas())
    return info.value


# -- happy paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", [e.type for e in EVENT_TYPES])
def test_minimal_line_of_every_type_parses_and_encodes(type_: str) -> None:
    et, datum = parse_line(line(type_), shipped_schemas())
    assert et is BY_TYPE[type_]
    assert datum["occurred_at"] == datetime(2024, 9, 30, 18, 30, tzinfo=UTC)
    assert datum["revision"] == 1 and datum["voided"] is False
    assert decode(encode(et, datum)).record == datum


def test_left_out_optional_fields_take_defaults() -> None:
    _, datum = parse_line(line("meeting.held"), shipped_schemas())
    assert datum["chaired_by"] is None and datum["duration_minutes"] is None
    _, datum = parse_line(line("award.granted"), shipped_schemas())
    assert datum["granted_by_unit_id"] is None
    assert datum["recipient_name"] is None and datum["decision_number"] is None


def test_explicit_values_and_nulls() -> None:
    _, datum = parse_line(
        line("meeting.held", chaired_by=None, duration_minutes=90, revision=4, voided=True),
        shipped_schemas(),
    )
    assert datum["chaired_by"] is None
    assert datum["duration_minutes"] == 90
    assert datum["revision"] == 4 and datum["voided"] is True


def test_datum_follows_schema_field_order() -> None:
    obj = line("task.completed")
    shuffled = dict(reversed(list(obj.items())))
    _, datum = parse_line(shuffled, shipped_schemas())
    common = ["event_id", "occurred_at", "source", "revision", "voided"]
    assert list(datum) == [*common, "task_id", "unit_id"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-30T18:30:00Z", datetime(2024, 9, 30, 18, 30, tzinfo=UTC)),
        ("2024-10-01T01:30:00+07:00", datetime(2024, 9, 30, 18, 30, tzinfo=UTC)),
        ("2024-10-01T01:30:00+0700", datetime(2024, 9, 30, 18, 30, tzinfo=UTC)),
        ("2024-10-01T01:30+07", datetime(2024, 9, 30, 18, 30, tzinfo=UTC)),
        ("2024-09-30T13:00:00-05:30", datetime(2024, 9, 30, 18, 30, tzinfo=UTC)),
        ("2024-09-30t18:30:00z", datetime(2024, 9, 30, 18, 30, tzinfo=UTC)),
        ("2024-09-30 18:30:00Z", datetime(2024, 9, 30, 18, 30, tzinfo=UTC)),
        # timestamp-millis keeps milliseconds: finer digits are truncated, not rounded
        ("2024-09-30T18:30:00.123999Z", datetime(2024, 9, 30, 18, 30, 0, 123000, tzinfo=UTC)),
        ("2024-09-30T18:30:00.5Z", datetime(2024, 9, 30, 18, 30, 0, 500000, tzinfo=UTC)),
        ("2024-09-30T18:30:00,25Z", datetime(2024, 9, 30, 18, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_timestamps_become_aware_utc(text: str, expected: datetime) -> None:
    _, datum = parse_line(line("task.completed", occurred_at=text), shipped_schemas())
    assert datum["occurred_at"] == expected
    assert datum["occurred_at"].tzinfo is UTC


def test_dates_and_arrays() -> None:
    _, datum = parse_line(line("office.merged"), shipped_schemas())
    assert datum["effective_date"] == date(2025, 3, 1)
    assert datum["absorbed_unit_ids"] == ["BTG", "BDV"]
    assert datum["legal_basis"] == ["18-NQ/TW"]
    _, datum = parse_line(line("office.merged", legal_basis=[]), shipped_schemas())
    assert datum["legal_basis"] == []


def test_nfd_input_passes_through_unchanged() -> None:
    nfd = unicodedata.normalize("NFD", "Văn phòng Tỉnh ủy")
    assert nfd != unicodedata.normalize("NFC", nfd)
    _, datum = parse_line(line("unit.registered", name=nfd, unit_id=nfd), shipped_schemas())
    assert datum["name"] == nfd and datum["unit_id"] == nfd
    assert decode(encode("unit.registered", datum)).record["name"] == nfd


def test_parse_json_line() -> None:
    text = json.dumps(line("task.completed"), ensure_ascii=False)
    et, datum = parse_json_line(text, shipped_schemas())
    assert et.type == "task.completed" and datum["task_id"] == "t-1"
    assert parse_json_line(text.encode(), shipped_schemas()) == (et, datum)


# -- errors -----------------------------------------------------------------------------------


def test_timestamp_without_zone() -> None:
    err = error(line("task.completed", occurred_at="2024-09-30T18:30:00"))
    assert err.field == "occurred_at"
    assert str(err).startswith("occurred_at: timestamp without a time zone")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2024-09-30", "is not an ISO 8601 timestamp"),
        ("30/09/2024 18:30", "is not an ISO 8601 timestamp"),
        ("20240930T183000Z", "is not an ISO 8601 timestamp"),
        ("2024-02-30T00:00:00Z", "is not a valid date and time (day is out of range for month)"),
        ("2024-09-30T24:00:00Z", "is not a valid date and time"),
        ("2024-09-30T18:30:00+24:00", "UTC offset +24:00 is out of range"),
        (1727721000000, "expected an ISO 8601 timestamp string"),
    ],
)
def test_bad_timestamps(value: Any, words: str) -> None:
    err = error(line("task.completed", occurred_at=value))
    assert str(err).startswith("occurred_at: ")
    assert words in str(err)


def test_enum_symbol_unknown() -> None:
    err = error(line("unit.registered", kind="FOO"))
    assert err.field == "kind"
    assert str(err) == (
        "kind: 'FOO' is not one of UnitKind's symbols (PROVINCIAL_COMMITTEE, OFFICE, BOARD, "
        "BOARD_OFFICE, INSPECTION_COMMITTEE, DISTRICT_COMMITTEE, GRASSROOTS_COMMITTEE, OTHER)"
    )
    # symbols are exact: no case folding
    assert "is not one of UnitKind's symbols" in str(error(line("unit.registered", kind="office")))


def test_unknown_field() -> None:
    err = error(line("task.completed", foo=1))
    assert str(err) == "unknown field 'foo'"
    assert err.field == "foo"


def test_missing_field() -> None:
    err = error(line("document.issued", title=DROP))
    assert str(err) == "missing field 'title'"
    assert err.field == "title"


def test_every_missing_field_is_named_at_once_in_schema_order() -> None:
    err = error(line("document.issued", title=DROP, unit_id=DROP, number=DROP))
    assert str(err) == "missing fields 'unit_id', 'number', 'title'"
    assert err.field == "unit_id" and err.fields == ("unit_id", "number", "title")
    # missing fields come before a bad value of a field that is there
    assert str(error(line("document.issued", title=DROP, appraised="yes"))) == (
        "missing field 'title'"
    )


def test_missing_and_unknown_type() -> None:
    assert str(error({"event_id": "x"})) == "missing field 'type'"
    err = error(line("task.completed", type="x"))
    assert err.field == "type"
    assert str(err) == (
        "type: unknown event type 'x' (expected one of unit.registered, document.issued, "
        "meeting.held, office.merged, award.granted, citizens.received, task.assigned, "
        "task.completed)"
    )
    assert str(error(line("task.completed", type=5))).startswith("type: expected one of")


def test_not_an_object() -> None:
    err = error(["task.completed"])
    assert err.field is None
    assert str(err) == "expected a JSON object, got array"


@pytest.mark.parametrize(
    ("type_", "change", "message"),
    [
        ("document.issued", {"title": None}, "title: must not be null (expected a string)"),
        ("document.issued", {"title": 5}, "title: expected a string, got integer 5"),
        (
            "document.issued",
            {"appraised": "yes"},
            "appraised: expected true or false, got string 'yes'",
        ),
        ("meeting.held", {"attendees": "20"}, "attendees: expected an integer, got string '20'"),
        ("meeting.held", {"attendees": 20.0}, "attendees: expected an integer, got number 20.0"),
        ("meeting.held", {"attendees": True}, "attendees: expected an integer, got boolean true"),
        (
            "meeting.held",
            {"attendees": 2**31},
            "attendees: 2147483648 is out of range (-2147483648..2147483647)",
        ),
        ("meeting.held", {"revision": None}, "revision: must not be null (expected an integer)"),
        (
            "office.merged",
            {"legal_basis": "18-NQ/TW"},
            "legal_basis: expected an array, got string '18-NQ/TW'",
        ),
        (
            "office.merged",
            {"legal_basis": ["a", 5]},
            "legal_basis[1]: expected a string, got integer 5",
        ),
        (
            "office.merged",
            {"absorbed_unit_ids": [None]},
            "absorbed_unit_ids[0]: must not be null (expected a string)",
        ),
        (
            "office.merged",
            {"effective_date": "01/03/2025"},
            "effective_date: '01/03/2025' is not a date YYYY-MM-DD",
        ),
        (
            "task.assigned",
            {"due_date": "2024-02-30"},
            "due_date: '2024-02-30' is not a valid date (day is out of range for month)",
        ),
        (
            "task.assigned",
            {"due_date": "2024-10-15T00:00:00Z"},
            "due_date: '2024-10-15T00:00:00Z' is not a date YYYY-MM-DD",
        ),
        ("unit.registered", {"kind": 3}, "kind: expected one of UnitKind's symbols"),
    ],
)
def test_field_errors(type_: str, change: dict[str, Any], message: str) -> None:
    err = error(line(type_, **change))
    assert str(err).startswith(message), str(err)
    assert err.field is not None and message.startswith(err.field)


def test_structural_only_business_rules_are_not_checked_here() -> None:
    # lengths, number formats and doc type vs number are the rules module's job
    _, datum = parse_line(
        line("document.issued", number="nonsense", doc_type="NGHI_QUYET"), shipped_schemas()
    )
    assert datum["number"] == "nonsense"
    _, datum = parse_line(line("citizens.received", citizens=0, event_id=""), shipped_schemas())
    assert datum["citizens"] == 0 and datum["event_id"] == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "task.completed", "type": "x"}', "duplicate field 'type'"),
        ('{"type": "task.completed", "n": NaN}', "NaN is not valid JSON"),
        ('{"type": ', "not valid JSON: "),
        ("", "not valid JSON: "),
    ],
)
def test_parse_json_line_errors(text: str, message: str) -> None:
    with pytest.raises(JsonInputError) as info:
        parse_json_line(text, shipped_schemas())
    assert str(info.value).startswith(message)


# -- `vanphong publish` refuses what the worker would dead-letter, naming the line -------------


def test_publish_rejects_the_limits_of_section_4_by_line_before_publishing() -> None:
    """vanphong.publish.prepare_all (what `vanphong publish` runs before it sends anything)
    applies the same rules as the worker: the same inputs are refused, with their line."""
    nfd = unicodedata.normalize("NFD", "ắ")
    objects = [
        line("document.issued"),
        line("document.issued", title="Kế hoạch\x00"),
        line("document.issued", document_id="d\x00"),
        line("document.issued", document_id="d" * 6000),
        line("document.issued", title="T" * 10_001),
        line("document.issued", event_id="e" * 129),
        line("office.merged", absorbed_unit_ids=["BTG", "u" * 200]),
        line("office.merged", legal_basis=["18-NQ/TW", "\x00"]),
        line("document.issued", title=nfd * 10_000),  # 30,000 as sent, 10,000 after NFC: valid
        line("meeting.held", occurred_at="0001-01-01T10:00:00Z"),
        line("meeting.held", title="\ud800"),  # JSON's "\ud800": not Unicode text
        line("document.issued", source=" "),
    ]
    lines = [("in.jsonl", i, json.dumps(obj)) for i, obj in enumerate(objects, start=1)]
    messages, errors = prepare_all(lines, Settings())
    assert len(messages) == 2
    assert [(e.line, e.reason) for e in errors] == [
        (2, "invalid_field: title contains U+0000 (NUL) at character 9"),
        (3, "invalid_field: document_id contains U+0000 (NUL) at character 2"),
        (4, "invalid_field: document_id has 6,000 characters, 1–128 allowed"),
        (5, "invalid_field: title has 10,001 characters, at most 10,000 allowed"),
        (6, "invalid_field: event_id has 129 characters, 1–128 allowed"),
        (7, "invalid_field: absorbed_unit_ids[1] has 200 characters, 1–128 allowed"),
        (8, "invalid_field: legal_basis[1] contains U+0000 (NUL) at character 1"),
        (
            10,
            "invalid_field: occurred_at 0001-01-01T10:00:00+00:00 is too close to the ends of "
            "the years 1–9999: 0001-01-02 to 9999-12-30 (UTC) allowed, so that its day exists "
            "in every time zone",
        ),
        (11, "title: contains a lone surrogate U+D800 at character 1, which is not Unicode text"),
        (12, "invalid_field: source is blank (only white space)"),
    ]
    # what is published is the line as given (NFD stays NFD on the wire)
    assert decode(messages[1].value).record["title"] == nfd * 10_000


def test_lone_surrogates_are_refused_in_arrays_too() -> None:
    assert str(error(line("office.merged", legal_basis=["18-NQ/TW", "x\udc00"]))) == (
        "legal_basis[1]: contains a lone surrogate U+DC00 at character 2, which is not Unicode text"
    )
