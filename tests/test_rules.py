import unicodedata
from typing import Any

import pytest

from schemas.catalog import BY_TYPE
from tests.events import event
from vanphong.rejection import Reason, Rejection
from vanphong.rules import accept


def reason_of(event_type: str, **fields: Any) -> Reason | None:
    try:
        accept(BY_TYPE[event_type], event(event_type, **fields))
    except Rejection as rejection:
        return rejection.reason
    return None


def test_text_is_normalised_to_nfc_everywhere_including_lists() -> None:
    nfd = unicodedata.normalize("NFD", "Văn phòng Tỉnh ủy")
    record = accept(BY_TYPE["unit.registered"], event("unit.registered", name=nfd))
    assert record["name"] == unicodedata.normalize("NFC", nfd) != nfd
    merge = accept(
        BY_TYPE["office.merged"],
        event("office.merged", absorbed_unit_ids=[unicodedata.normalize("NFD", "ủy")]),
    )
    assert merge["absorbed_unit_ids"] == ["ủy"]


@pytest.mark.parametrize(
    ("event_type", "fields", "reason"),
    [
        ("document.issued", {}, None),
        ("document.issued", {"event_id": ""}, Reason.INVALID_FIELD),
        ("document.issued", {"event_id": "x" * 129}, Reason.INVALID_FIELD),
        ("document.issued", {"event_id": "x" * 128}, None),
        ("document.issued", {"revision": 0}, Reason.INVALID_FIELD),
        ("document.issued", {"unit_id": " "}, Reason.INVALID_FIELD),
        ("document.issued", {"number": "163/QĐ-UBND"}, Reason.INVALID_DOCUMENT_NUMBER),
        ("document.issued", {"number": "01-NQ/TU"}, Reason.DOCUMENT_TYPE_MISMATCH),
        ("meeting.held", {"attendees": -1}, Reason.INVALID_FIELD),
        ("meeting.held", {"attendees": 0, "duration_minutes": 0}, None),
        ("meeting.held", {"duration_minutes": -5}, Reason.INVALID_FIELD),
        ("citizens.received", {"citizens": 0}, Reason.INVALID_FIELD),
        ("citizens.received", {"petitions": -1}, Reason.INVALID_FIELD),
        ("office.merged", {"absorbed_unit_ids": []}, Reason.INVALID_FIELD),
        ("office.merged", {"absorbed_unit_ids": ["a", "a"]}, Reason.INVALID_FIELD),
        ("office.merged", {"absorbed_unit_ids": ["vptu"]}, Reason.INVALID_FIELD),
        (
            "office.merged",
            {"absorbed_unit_ids": [f"u{i}" for i in range(51)]},
            Reason.INVALID_FIELD,
        ),
        ("office.merged", {"absorbed_unit_ids": [f"u{i}" for i in range(50)]}, None),
        ("award.granted", {"granted_by_unit_id": None}, None),
        ("task.completed", {"task_id": ""}, Reason.INVALID_FIELD),
    ],
)
def test_rules_of_section_4(event_type: str, fields: dict[str, Any], reason: Reason | None) -> None:
    assert reason_of(event_type, **fields) == reason
