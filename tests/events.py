"""Builders of event records for tests: every field of §4 with sensible defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from vanphong.schemas.catalog import BY_TYPE

BASE_TIME = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)

_DEFAULTS: dict[str, dict[str, Any]] = {
    "unit.registered": {
        "unit_id": "vptu",
        "name": "Văn phòng Tỉnh ủy",
        "kind": "OFFICE",
        "parent_unit_id": "tu",
        "province": "Vĩnh Long",
    },
    "document.issued": {
        "document_id": "d1",
        "unit_id": "vptu",
        "number": "86-KH/TU",
        "doc_type": "KE_HOACH",
        "issuing_organ": "BTV Tỉnh ủy",
        "title": "Kế hoạch",
        "appraised": True,
        "secrecy": "NONE",
        "urgency": "NONE",
        "signed_by": None,  # schemas/v2 (optional)
    },
    "meeting.held": {
        "meeting_id": "m1",
        "unit_id": "vptu",
        "kind": "HOI_NGHI_BTV",
        "title": "Hội nghị",
        "chaired_by": None,
        "attendees": 40,
        "mode": "IN_PERSON",
        "duration_minutes": 120,
    },
    "office.merged": {
        "merge_id": "g1",
        "absorbed_unit_ids": ["vpbtc"],
        "into_unit_id": "vptu",
        "effective_date": date(2019, 1, 1),
        "legal_basis": ["18-NQ/TW"],
    },
    "award.granted": {
        "award_id": "a1",
        "kind": "GIAY_KHEN",
        "granted_by_unit_id": "vptu",
        "granting_authority": "Chánh Văn phòng",
        "recipient_kind": "COLLECTIVE",
        "recipient_unit_id": "phong-th",
        "recipient_name": None,
        "decision_number": None,
    },
    "citizens.received": {
        "reception_id": "r1",
        "unit_id": "vptu",
        "citizens": 3,
        "petitions": 2,
        "led_by": None,
    },
    "task.assigned": {
        "task_id": "t1",
        "unit_id": "btctu",
        "assigned_by": "BTV Tỉnh ủy",
        "title": "Đề án",
        "source_document": None,
        "due_date": date(2024, 6, 30),
    },
    "task.completed": {"task_id": "t1", "unit_id": "btctu"},
}


def event(event_type: str, **fields: Any) -> dict[str, Any]:
    """A record of ``event_type``: common fields, the type's defaults, then ``fields``."""
    assert event_type in BY_TYPE
    record: dict[str, Any] = {
        "event_id": f"{event_type}-{fields.get(BY_TYPE[event_type].key_field, 'x')}"
        f"-r{fields.get('revision', 1)}",
        "occurred_at": BASE_TIME,
        "source": "test",
        "revision": 1,
        "voided": False,
    }
    record.update(_DEFAULTS[event_type])
    record.update(fields)
    return record
