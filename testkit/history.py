"""Random but reproducible histories to publish: valid events with duplicates, re-keyed
duplicates, corrections before originals and voids, plus invalid messages of every kind."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vanphong.schemas.catalog import BY_TYPE
from vanphong.schemas.codec import encode, shipped_schemas
from vanphong.schemas.json_input import parse_line

UNITS = ["vptu", "btctu", "btgtu", "bdvtu", "ubkttu", "hu-longho", "hu-traon", "tu"]
DOC_CODES = [
    ("CONG_VAN", "CV"),
    ("BAO_CAO", "BC"),
    ("KE_HOACH", "KH"),
    ("QUY_DINH", "QĐi"),
    ("QUYET_DINH", "QĐ"),
    ("CHUONG_TRINH", "CTHĐ"),
    ("DE_AN", "ĐA"),
]
MEETING_KINDS = ["GIAO_BAN", "HOI_NGHI_BTV", "THUONG_TRUC", "HOP_MAT"]


@dataclass(frozen=True)
class Message:
    topic: str  # without prefix
    key: bytes | None
    value: bytes
    event: dict[str, Any] | None  # the JSON form, for the model; None if invalid
    reason: str | None = None  # the expected dead-letter reason


def instant(rnd: random.Random) -> str:
    """Often within minutes of local midnight (17:00Z), to test day bucketing."""
    day = date(2023, 1, 1) + timedelta(days=rnd.randrange(0, 800))
    base = datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)
    offset = (
        timedelta(minutes=rnd.randint(-3, 3))
        if rnd.random() < 0.3
        else timedelta(minutes=rnd.randrange(-17 * 60, 7 * 60))
    )
    return (base + offset).isoformat().replace("+00:00", "Z")


def to_message(
    event: dict[str, Any],
    key: bytes | None = ...,  # type: ignore[assignment]
    reason: str | None = None,
) -> Message:
    event_type, datum = parse_line(event, shipped_schemas())
    if key is ...:
        key = str(datum[event_type.key_field]).encode()
    return Message(
        event_type.topic, key, encode(event_type, datum), None if reason else event, reason
    )


class History:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.messages: list[Message] = []

    def units(self) -> None:
        for unit in UNITS:
            name = f"Đơn vị {unit} – Tỉnh ủy"
            if self.rnd.random() < 0.5:
                name = unicodedata.normalize("NFD", name)
            self.entity(
                {
                    "type": "unit.registered",
                    "unit_id": unit,
                    "name": name,
                    "kind": "OFFICE",
                    "province": "Vĩnh Long",
                },
                "unit_id",
            )

    def document(self, i: int) -> None:
        doc_type, code = self.rnd.choice(DOC_CODES)
        self.entity(
            {
                "type": "document.issued",
                "document_id": f"d{i}",
                "unit_id": self.rnd.choice(UNITS),
                "number": f"{i}-{code}/TU",
                "doc_type": doc_type,
                "issuing_organ": "BTV Tỉnh ủy",
                "title": f"Văn bản {i}",
                "appraised": self.rnd.random() < 0.6,
                "secrecy": "NONE",
                "urgency": "NONE",
            },
            "document_id",
        )

    def meeting(self, i: int) -> None:
        self.entity(
            {
                "type": "meeting.held",
                "meeting_id": f"m{i}",
                "unit_id": self.rnd.choice(UNITS),
                "kind": self.rnd.choice(MEETING_KINDS),
                "title": f"Cuộc họp {i}",
                "attendees": self.rnd.randint(0, 200),
                "mode": "IN_PERSON",
            },
            "meeting_id",
        )

    def entity(self, base: dict[str, Any], key_field: str) -> None:
        """1–3 revisions, maybe a void, published in a shuffled order, with duplicates."""
        revisions = []
        for rev in range(1, self.rnd.randint(1, 3) + 1):
            event = {
                **base,
                "event_id": f"{base[key_field]}-r{rev}",
                "occurred_at": instant(self.rnd),
                "source": "test",
                "revision": rev,
                "voided": rev > 1 and self.rnd.random() < 0.25,
            }
            if "unit_id" in base and key_field != "unit_id" and self.rnd.random() < 0.3:
                event["unit_id"] = self.rnd.choice(UNITS)  # a correction moves it
            revisions.append(event)
        self.rnd.shuffle(revisions)  # corrections may arrive before originals
        for event in revisions:
            self.messages.append(to_message(event))
            roll = self.rnd.random()
            if roll < 0.1:
                self.messages.append(to_message(event))  # a retry
            elif roll < 0.15:
                self.messages.append(to_message(event, key=self.rnd.choice([None, b"wrong"])))

    def invalid(self) -> None:
        good = {
            "type": "document.issued",
            "document_id": "bad",
            "unit_id": "vptu",
            "number": "1-CV/TU",
            "doc_type": "CONG_VAN",
            "issuing_organ": "VP",
            "title": "x",
            "appraised": False,
            "secrecy": "NONE",
            "urgency": "NONE",
            "event_id": "bad-1",
            "occurred_at": "2024-01-01T00:00:00Z",
            "source": "t",
        }
        topic = BY_TYPE["document.issued"].topic
        self.messages += [
            Message(topic, b"k1", b"not avro at all", None, "undecodable"),
            Message(topic, None, b"", None, "undecodable"),
            Message(topic, b"k2", b"\xc3\x01" + bytes(8) + b"\x02", None, "unknown_schema"),
            to_message({**good, "number": "163/QĐ-UBND"}, reason="invalid_document_number"),
            to_message({**good, "number": "7-NQ/TU"}, reason="document_type_mismatch"),
            to_message({**good, "event_id": ""}, reason="invalid_field"),
            to_message({**good, "revision": 0}, reason="invalid_field"),
        ]
        meeting = to_message(
            {
                "type": "meeting.held",
                "meeting_id": "bad-m",
                "unit_id": "vptu",
                "kind": "GIAO_BAN",
                "title": "x",
                "attendees": -3,
                "mode": "ONLINE",
                "event_id": "bm",
                "occurred_at": "2024-01-01T00:00:00Z",
                "source": "t",
            },
            reason="invalid_field",
        )
        misplaced = to_message({**good, "document_id": "misplaced"}, reason="invalid_field")
        self.messages += [
            meeting,
            Message(BY_TYPE["meeting.held"].topic, b"x", misplaced.value, None, "invalid_field"),
        ]

    def other_entities(self, n: int) -> None:
        """Awards, receptions and tasks (completions sometimes published first)."""
        for i in range(n):
            unit, other = self.rnd.sample(UNITS, 2)
            self.entity(
                {
                    "type": "award.granted",
                    "award_id": f"a{i}",
                    "kind": "GIAY_KHEN",
                    "granted_by_unit_id": other if i % 3 else None,
                    "granting_authority": "Chánh Văn phòng",
                    "recipient_kind": "INDIVIDUAL",
                    "recipient_unit_id": unit,
                    "recipient_name": "Trần Thị B",
                },
                "award_id",
            )
            citizens = self.rnd.randint(1, 20)
            self.entity(
                {
                    "type": "citizens.received",
                    "reception_id": f"r{i}",
                    "unit_id": unit,
                    "citizens": citizens,
                    "petitions": self.rnd.randint(0, citizens),
                },
                "reception_id",
            )
            due = date(2023, 1, 1) + timedelta(days=self.rnd.randrange(0, 800))
            self.entity(
                {
                    "type": "task.assigned",
                    "task_id": f"t{i}",
                    "unit_id": unit,
                    "assigned_by": "BTV",
                    "title": f"Nhiệm vụ {i}",
                    "due_date": due.isoformat(),
                },
                "task_id",
            )
            if self.rnd.random() < 0.7:
                self.entity(
                    {"type": "task.completed", "task_id": f"t{i}", "unit_id": unit}, "task_id"
                )

    def mergers(self) -> None:
        """A chain, a correction that moves a date, and two that must be rejected; published in
        this order on the single-partition topic, after everything else was shuffled."""

        def merge(
            merge_id: str,
            absorbed: list[str],
            into: str,
            on: str,
            rev: int = 1,
            reason: str | None = None,
        ) -> Message:
            return to_message(
                {
                    "type": "office.merged",
                    "merge_id": merge_id,
                    "absorbed_unit_ids": absorbed,
                    "into_unit_id": into,
                    "effective_date": on,
                    "legal_basis": ["18-NQ/TW", "86-KH/TU"],
                    "event_id": f"{merge_id}-r{rev}",
                    "revision": rev,
                    "occurred_at": "2023-01-01T00:00:00Z",
                    "source": "t",
                },
                reason=reason,
            )

        self.messages += [
            merge("g1", ["btctu", "btgtu"], "vptu", "2023-07-01"),
            merge("g2", ["vptu"], "tu", "2024-03-01"),
            merge("g1", ["btctu", "btgtu"], "vptu", "2023-09-15", rev=2),
            merge("g3", ["tu"], "btctu", "2024-06-01", reason="merge_cycle"),
            merge("g4", ["btctu"], "hu-traon", "2024-06-01", reason="unit_already_merged"),
        ]


def all_event_types(seed: int, entities: int) -> list[Message]:
    """Every event type, with every kind of duplicate, correction, void and invalid input."""
    history = History(seed)
    history.units()
    for i in range(entities):
        history.document(i)
        if i % 3 == 0:
            history.meeting(i)
    history.other_entities(entities // 3)
    history.invalid()
    history.rnd.shuffle(history.messages)
    history.mergers()
    return history.messages


def documents_and_meetings(seed: int, documents: int, meetings: int) -> list[Message]:
    history = History(seed)
    history.units()
    for i in range(documents):
        history.document(i)
    for i in range(meetings):
        history.meeting(i)
    history.invalid()
    history.rnd.shuffle(history.messages)
    return history.messages
