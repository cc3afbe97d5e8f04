"""The demo's single events, one method per kind: a document with its number in its organ's
series for the term, a meeting, a reception of citizens, a task and, mostly, its completion.

Why apart from the history (vanphong/demo/history.py): the history decides *when* and *how
many* (the office's calendar, the pinned totals); these decide what one event says. Each draws
from the seeded generator in a fixed order, so a seed gives the same history.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from vanphong.demo.office_calendar import DOC_MIX, LOCKDOWN, MEETING_MIX
from vanphong.demo.organisation import END, START, Organisation
from vanphong.schemas.catalog import EventType

# A committee term starts at its congress; document numbers run from 01 within a term.
TERMS = ((date(2025, 10, 10), 2025), (date(2020, 10, 15), 2020), (START, 2015))


class Events(Organisation):
    """The organisation's events plus one method per kind of activity event."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.serials: dict[tuple[str, str, str, int], int] = {}

    def document(
        self, unit: str, organ: str, day: date, weights: list[float], ns: str = ""
    ) -> None:
        """One document; ``ns`` keeps another province's numbering (and ids) apart."""
        doc_type, code, _ = self.rnd.choices(DOC_MIX, weights=weights)[0]
        term = next(term for start, term in TERMS if day >= start)
        serial = self.serials.get((ns, code, organ, term), 0) + 1
        self.serials[(ns, code, organ, term)] = serial
        key = f"{ns}{organ.lower()}-{term}-{code}-{serial}"
        self.emit(
            EventType.DOCUMENT_ISSUED,
            key,
            day,
            document_id=key,
            unit_id=unit,
            number=f"{serial:02d}-{code}/{organ}",
            doc_type=doc_type,
            issuing_organ="BTV Tỉnh ủy" if organ == "TU" else "Văn phòng Tỉnh ủy",
            title=f"Văn bản số {serial:02d}-{code}/{organ}",
            appraised=organ == "TU" and self.rnd.random() < 0.7,
            secrecy="MAT" if self.rnd.random() < 0.04 else "NONE",
            urgency="KHAN" if self.rnd.random() < 0.06 else "NONE",
        )

    def meeting(
        self,
        unit: str,
        day: date,
        kind: str | None = None,
        title: str = "",
        weights: list[float] | None = None,
    ) -> None:
        weights = weights or [w for _, w in MEETING_MIX]
        kind = kind or self.rnd.choices(MEETING_MIX, weights=weights)[0][0]
        key = f"{unit}-{day.isoformat()}-{len(self.events)}"
        remote = LOCKDOWN[0] <= day <= LOCKDOWN[1]  # the 2021 lockdown: mostly online
        self.emit(
            EventType.MEETING_HELD,
            key,
            day,
            meeting_id=key,
            unit_id=unit,
            kind=kind,
            title=title or f"{kind.replace('_', ' ').title()} ngày {day:%d/%m/%Y}",
            attendees=self.rnd.randint(300, 450) if kind == "DAI_HOI" else self.rnd.randint(8, 250),
            mode=self.rnd.choices(
                ["IN_PERSON", "ONLINE", "HYBRID"], [20, 50, 30] if remote else [80, 5, 15]
            )[0],
            duration_minutes=self.rnd.choice([60, 90, 120, 180, 240]),
        )

    def reception(self, unit: str, key: str, day: date) -> None:
        citizens = self.rnd.randint(1, 12)
        self.emit(
            EventType.CITIZENS_RECEIVED,
            key,
            day,
            reception_id=key,
            unit_id=unit,
            citizens=citizens,
            petitions=self.rnd.randint(0, citizens),
            led_by="Phó Chánh Văn phòng",
        )

    def task(self, key: str, unit: str, day: date, due: date, title: str = "", **by: str) -> None:
        """A task and, mostly, its completion; ``by``: ``assigned_by``, ``source_document``."""
        assigned: dict[str, Any] = {"assigned_by": "Ban Thường vụ Tỉnh ủy", **by}
        self.emit(
            EventType.TASK_ASSIGNED,
            key,
            day,
            task_id=key,
            unit_id=unit,
            title=title or f"Nhiệm vụ {key}",
            due_date=due.isoformat(),
            **assigned,
        )
        if self.rnd.random() < 0.85:
            late = self.rnd.random() < 0.2
            done = (
                due + timedelta(days=self.rnd.randint(1, 20))
                if late
                else day + timedelta(days=self.rnd.randint(1, (due - day).days))
            )
            if done <= END:
                self.emit(EventType.TASK_COMPLETED, key, done, task_id=key, unit_id=unit)
