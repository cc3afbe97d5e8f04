"""``vanphong demo``: a realistic, deterministic history of one province, 2018–2025.

Shaped by the seed articles: Vĩnh Long's Provincial Party Committee office (Văn phòng Tỉnh ủy)
advised on over 40,500 documents and served over 960 meetings from 2019 to 9/2024; the boards'
own offices merged into it on 2019-01-01 (18-NQ/TW, 86-KH/TU); "11 Giấy khen" at a year-end
review; tasks with deadlines; in 2025 Ban Tuyên giáo and Ban Dân vận merged, district committees
ended on 2025-07-01, and Bến Tre and Trà Vinh merged into Vĩnh Long. A few percent of events are
re-sent (same event_id) or corrected (a higher revision), as upstream systems do.

Events are JSON objects in the ``vanphong publish`` format, so the demo exercises the same path
as any integrator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.catalog import EventType

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
START, END = date(2018, 1, 1), date(2025, 12, 31)
OFFICE = "vptu"
# The upstream system that publishes each event type.
SOURCE = {
    EventType.UNIT_REGISTERED: "so-do-to-chuc",
    EventType.DOCUMENT_ISSUED: "quan-ly-van-ban",
    EventType.MEETING_HELD: "lich-hop",
    EventType.OFFICE_MERGED: "so-do-to-chuc",
    EventType.AWARD_GRANTED: "thi-dua-khen-thuong",
    EventType.CITIZENS_RECEIVED: "tiep-cong-dan",
    EventType.TASK_ASSIGNED: "theo-doi-nhiem-vu",
    EventType.TASK_COMPLETED: "theo-doi-nhiem-vu",
}

BOARDS = {
    "btctu": "Ban Tổ chức Tỉnh ủy",
    "btgtu": "Ban Tuyên giáo Tỉnh ủy",
    "bdvtu": "Ban Dân vận Tỉnh ủy",
    "bnctu": "Ban Nội chính Tỉnh ủy",
    "ubkttu": "Ủy ban Kiểm tra Tỉnh ủy",
}
DISTRICTS = {
    "hu-longho": "Huyện ủy Long Hồ",
    "hu-mangthit": "Huyện ủy Mang Thít",
    "hu-vungliem": "Huyện ủy Vũng Liêm",
    "hu-tambinh": "Huyện ủy Tam Bình",
    "hu-traon": "Huyện ủy Trà Ôn",
    "hu-binhtan": "Huyện ủy Bình Tân",
    "tu-binhminh": "Thị ủy Bình Minh",
    "tu-vinhlong": "Thành ủy Vĩnh Long",
}
DEPARTMENTS = {
    f"vptu-p{i}": name
    for i, name in enumerate(
        [
            "Phòng Tổng hợp",
            "Phòng Hành chính - Lưu trữ",
            "Phòng Quản trị - Tài vụ",
            "Phòng Cơ yếu",
            "Phòng Công nghệ thông tin",
            "Phòng Thẩm định văn bản",
            "Phòng Tài chính Đảng",
            "Phòng Tiếp dân",
            "Phòng Lễ tân",
            "Phòng Biên tập",
            "Nhà khách Tỉnh ủy",
        ],
        start=1,
    )
}

# (DocType, code, weight) for the office's documents.
DOC_MIX = [
    ("CONG_VAN", "CV", 30),
    ("BAO_CAO", "BC", 16),
    ("THONG_BAO", "TB", 16),
    ("QUYET_DINH", "QĐ", 10),
    ("KE_HOACH", "KH", 8),
    ("TO_TRINH", "TTr", 5),
    ("KET_LUAN", "KL", 4),
    ("HUONG_DAN", "HD", 3),
    ("CHUONG_TRINH", "CTr", 2),
    ("NGHI_QUYET", "NQ", 2),
    ("CHI_THI", "CT", 1),
    ("QUY_DINH", "QĐi", 1),
    ("QUY_CHE", "QC", 1),
    ("DE_AN", "ĐA", 1),
]
MEETING_MIX = [
    ("GIAO_BAN", 30),
    ("HOI_NGHI_BTV", 22),
    ("THUONG_TRUC", 18),
    ("LAM_VIEC", 12),
    ("QUAN_TRIET", 6),
    ("HOI_NGHI_BCH", 5),
    ("SO_KET", 3),
    ("CHO_Y_KIEN", 3),
    ("TONG_KET", 1),
]


def _months(first: date, last: date) -> Iterator[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month + timedelta(days=32)).replace(day=1)


def _at(day: date, rnd: random.Random) -> str:
    """An office-hours instant on ``day`` (local time), as ISO 8601 UTC."""
    local = datetime(day.year, day.month, day.day, 7, 30, tzinfo=ZONE)
    local += timedelta(minutes=rnd.randrange(0, 9 * 60 + 30))
    return local.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _workday(month: date, rnd: random.Random) -> date:
    while True:
        day = month + timedelta(days=rnd.randrange(0, 28))
        if day.weekday() < 5:
            return day


class Demo:
    """Builds the event list; one instance per seed."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.events: list[dict[str, Any]] = []
        self.serials: dict[tuple[str, str, int], int] = {}

    def emit(self, event_type: EventType, key: str, day: date, /, **fields: Any) -> dict[str, Any]:
        """One event in the ``vanphong publish`` format (its ``type`` a plain string)."""
        record = {
            "type": event_type.type,
            "event_id": f"{event_type.type}-{key}-r1",
            "occurred_at": _at(day, self.rnd),
            "source": SOURCE[event_type],
            **fields,
        }
        self.events.append(record)
        return record

    def register(
        self,
        uid: str,
        name: str,
        kind: str,
        parent: str | None,
        province: str = "Vĩnh Long",
        day: date = START,
    ) -> None:
        self.emit(
            EventType.UNIT_REGISTERED,
            uid,
            day,
            unit_id=uid,
            name=name,
            kind=kind,
            parent_unit_id=parent,
            province=province,
        )

    def units(self) -> None:
        self.register("tu", "Tỉnh ủy Vĩnh Long", "PROVINCIAL_COMMITTEE", None)
        self.register(OFFICE, "Văn phòng Tỉnh ủy", "OFFICE", "tu")
        for uid, name in BOARDS.items():
            self.register(uid, name, "INSPECTION_COMMITTEE" if uid == "ubkttu" else "BOARD", "tu")
            self.register(f"vp-{uid}", f"Văn phòng {name}", "BOARD_OFFICE", uid)
        for uid, name in DISTRICTS.items():
            self.register(uid, name, "DISTRICT_COMMITTEE", "tu")
        for uid, name in DEPARTMENTS.items():
            self.register(uid, name, "OTHER", OFFICE)
        self.register("tu-bentre", "Tỉnh ủy Bến Tre", "PROVINCIAL_COMMITTEE", None, "Bến Tre")
        self.register("tu-travinh", "Tỉnh ủy Trà Vinh", "PROVINCIAL_COMMITTEE", None, "Trà Vinh")
        self.register(
            "btgdvtu", "Ban Tuyên giáo và Dân vận Tỉnh ủy", "BOARD", "tu", day=date(2025, 3, 1)
        )

    def merge(
        self,
        merge_id: str,
        announced: date,
        absorbed: list[str],
        into: str,
        effective: str,
        legal_basis: list[str],
    ) -> None:
        self.emit(
            EventType.OFFICE_MERGED,
            merge_id,
            announced,
            merge_id=merge_id,
            absorbed_unit_ids=absorbed,
            into_unit_id=into,
            effective_date=effective,
            legal_basis=legal_basis,
        )

    def mergers(self) -> None:
        boards_offices = [f"vp-{b}" for b in BOARDS]
        self.merge(
            "2019-vp-ban",
            date(2018, 12, 20),
            boards_offices,
            OFFICE,
            "2019-01-01",
            ["18-NQ/TW", "86-KH/TU"],
        )
        self.merge(
            "2025-btg-bdv",
            date(2025, 2, 27),
            ["btgtu", "bdvtu"],
            "btgdvtu",
            "2025-03-01",
            ["18-NQ/TW", "137-KH/TW"],
        )
        self.merge(
            "2025-cap-huyen", date(2025, 6, 30), list(DISTRICTS), "tu", "2025-07-01", ["60-NQ/TW"]
        )
        self.merge(
            "2025-hop-nhat-tinh",
            date(2025, 6, 30),
            ["tu-bentre", "tu-travinh"],
            "tu",
            "2025-07-01",
            ["60-NQ/TW"],
        )

    def document(self, unit: str, organ: str, day: date) -> None:
        doc_type, code, _ = self.rnd.choices(DOC_MIX, weights=[w for *_, w in DOC_MIX])[0]
        term = 2020 if day >= date(2020, 10, 15) else 2015
        serial = self.serials[(code, organ, term)] = self.serials.get((code, organ, term), 0) + 1
        key = f"{organ.lower()}-{term}-{code}-{serial}"
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

    def meeting(self, unit: str, day: date, kind: str | None = None, title: str = "") -> None:
        kind = kind or self.rnd.choices(MEETING_MIX, weights=[w for _, w in MEETING_MIX])[0][0]
        key = f"{unit}-{day.isoformat()}-{len(self.events)}"
        self.emit(
            EventType.MEETING_HELD,
            key,
            day,
            meeting_id=key,
            unit_id=unit,
            kind=kind,
            title=title or f"{kind.replace('_', ' ').title()} ngày {day:%d/%m/%Y}",
            attendees=self.rnd.randint(8, 250),
            mode=self.rnd.choices(["IN_PERSON", "ONLINE", "HYBRID"], [80, 5, 15])[0],
            duration_minutes=self.rnd.choice([60, 90, 120, 180, 240]),
        )

    def activity(self) -> None:
        for month in _months(START, END):
            for _ in range(588):  # ≈ 40,500 documents 2019 – 9/2024
                self.document(
                    OFFICE, self.rnd.choice(["TU", "TU", "VPTU"]), _workday(month, self.rnd)
                )
            for _ in range(14):  # ≈ 960 meetings 2019 – 9/2024
                self.meeting(OFFICE, _workday(month, self.rnd))
            if month.month == 10:
                self.meeting(
                    OFFICE,
                    month.replace(day=18),
                    "HOP_MAT",
                    "Họp mặt kỷ niệm Ngày truyền thống Văn phòng cấp ủy 18/10",
                )
            self.board_offices(month)
            self.districts(month)
            self.receptions(month)
            self.tasks(month)
            if month.month == 1:
                self.awards(month)

    def board_offices(self, month: date) -> None:
        if month >= date(2019, 1, 1):
            return  # merged into the office: their work is the office's from now on
        for board in BOARDS:
            for _ in range(25):
                self.document(f"vp-{board}", board.upper(), _workday(month, self.rnd))
            for _ in range(3):
                self.meeting(f"vp-{board}", _workday(month, self.rnd))

    def districts(self, month: date) -> None:
        if month >= date(2025, 7, 1):
            return
        for district in DISTRICTS:
            self.meeting(district, _workday(month, self.rnd))

    def receptions(self, month: date) -> None:
        for week in range(4):
            day = _workday(month, self.rnd)
            key = f"{OFFICE}-{month:%Y%m}-{week}"
            citizens = self.rnd.randint(1, 12)
            self.emit(
                EventType.CITIZENS_RECEIVED,
                key,
                day,
                reception_id=key,
                unit_id=OFFICE,
                citizens=citizens,
                petitions=self.rnd.randint(0, citizens),
                led_by="Phó Chánh Văn phòng",
            )

    def awards(self, month: date) -> None:
        """January: the office's year-end review awards 11 Giấy khen to its collectives."""
        day = _workday(month, self.rnd)
        for i, dept in enumerate(DEPARTMENTS, start=1):
            key = f"gk-{month.year}-{i}"
            self.emit(
                EventType.AWARD_GRANTED,
                key,
                day,
                award_id=key,
                kind="GIAY_KHEN",
                granted_by_unit_id=OFFICE,
                granting_authority="Chánh Văn phòng Tỉnh ủy",
                recipient_kind="COLLECTIVE",
                recipient_unit_id=dept,
                decision_number=f"{i:02d}-QĐ/VPTU",
            )
        key = f"bk-{month.year}"
        self.emit(
            EventType.AWARD_GRANTED,
            key,
            day,
            award_id=key,
            kind="BANG_KHEN",
            granted_by_unit_id="tu",
            granting_authority="Ban Thường vụ Tỉnh ủy",
            recipient_kind="COLLECTIVE",
            recipient_unit_id=OFFICE,
        )

    def tasks(self, month: date) -> None:
        assignees = [OFFICE, *BOARDS]
        for i in range(6):
            day = _workday(month, self.rnd)
            key = f"nv-{month:%Y%m}-{i}"
            unit = self.rnd.choice(assignees)
            due = day + timedelta(days=self.rnd.choice([15, 30, 45, 90]))
            self.emit(
                EventType.TASK_ASSIGNED,
                key,
                day,
                task_id=key,
                unit_id=unit,
                assigned_by="Ban Thường vụ Tỉnh ủy",
                title=f"Nhiệm vụ {key}",
                due_date=due.isoformat(),
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

    def upstream_noise(self) -> None:
        """Retries (same event_id) and corrections (higher revision), as real upstreams send."""
        extra = []
        for record in self.events:
            roll = self.rnd.random()
            if roll < 0.03:
                extra.append(dict(record))
            elif roll < 0.04 and record["type"] == EventType.DOCUMENT_ISSUED:
                extra.append(
                    {
                        **record,
                        "revision": 2,
                        "event_id": record["event_id"][:-1] + "2",
                        "title": record["title"] + " (đính chính)",
                    }
                )
        self.events.extend(extra)


def demo_events(seed: int = 2024) -> list[dict[str, Any]]:
    """The whole history, in publication order (by time; retries and corrections last)."""
    demo = Demo(seed)
    demo.units()
    demo.mergers()
    demo.activity()
    demo.events.sort(key=lambda e: e["occurred_at"])
    demo.upstream_noise()
    return demo.events
