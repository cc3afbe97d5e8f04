"""The demo's organisation: who exists, and how the reorganisations merged them, as events.

Vĩnh Long's provincial committee (``tu``), its office (``vptu``) with eleven departments, the
five boards with their own offices until those merged into ``vptu`` on 2019-01-01 (18-NQ/TW,
86-KH/TU), eight district committees (ended 2025-07-01), Ban Tuyên giáo and Ban Dân vận merged
into one board on 2025-03-01.

The 2025 province merger (60-NQ/TW; Nghị quyết 202/2025/QH15): Bến Tre and Trà Vinh became part
of Vĩnh Long on 2025-07-01. It arrives the two ways an upstream registry can say it (issue 19):

- **offices merged**: ``vptu-bentre`` and ``vptu-travinh`` (registered in provinces "Bến Tre"
  and "Trà Vinh") merge into ``vptu`` (merge ``2025-vptu-hop-nhat-tinh``), as their committees
  ``tu-bentre`` and ``tu-travinh`` merge into ``tu`` (``2025-hop-nhat-tinh``); their history
  stays registered in the old province and is attributed to ``vptu`` from 2025-07-01;
- **units re-registered**: the two reception points ``tcd-bentre`` and ``tcd-travinh`` carry
  on; on 2025-07-01 each is registered again at revision 2 with ``province`` "Vĩnh Long" and
  ``vptu`` as parent, so their whole history is the new province's.

Events are JSON objects in the ``vanphong publish`` format.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vanphong.demo.office_calendar import MERGED_PROVINCE
from vanphong.schemas.catalog import EventType

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
START, END = date(2018, 1, 1), date(2025, 12, 31)
OFFICE = "vptu"
PROVINCE = "Vĩnh Long"
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
# The provinces merged into Vĩnh Long on 2025-07-01: (short name, province) by id suffix.
NEIGHBOURS = {"bentre": "Bến Tre", "travinh": "Trà Vinh"}
# Their offices publish to the hub from this day (connected ahead of the merger).
NEIGHBOURS_FROM = date(2024, 1, 1)


def at(day: date, rnd: random.Random) -> str:
    """An office-hours instant on ``day`` (local time), as ISO 8601 UTC."""
    local = datetime(day.year, day.month, day.day, 7, 30, tzinfo=ZONE)
    local += timedelta(minutes=rnd.randrange(0, 9 * 60 + 30))
    return local.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Organisation:
    """The event list and the organisation's events; ``Demo`` adds the office's work."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.events: list[dict[str, Any]] = []

    def emit(
        self, event_type: EventType, key: str, day: date, /, revision: int = 1, **fields: Any
    ) -> dict[str, Any]:
        """One event in the ``vanphong publish`` format (its ``type`` a plain string); a
        revision above 1 is stated explicitly, with an ``event_id`` of its own."""
        record = {
            "type": event_type.type,
            "event_id": f"{event_type.type}-{key}-r{revision}",
            "occurred_at": at(day, self.rnd),
            "source": SOURCE[event_type],
            **({"revision": revision} if revision > 1 else {}),
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
        province: str = PROVINCE,
        day: date = START,
        revision: int = 1,
    ) -> None:
        self.emit(
            EventType.UNIT_REGISTERED,
            uid,
            day,
            revision=revision,
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
        for short, province in NEIGHBOURS.items():
            committee = f"tu-{short}"
            self.register(committee, f"Tỉnh ủy {province}", "PROVINCIAL_COMMITTEE", None, province)
            day = NEIGHBOURS_FROM
            office = f"vptu-{short}"
            self.register(
                office, f"Văn phòng Tỉnh ủy {province}", "OFFICE", committee, province, day
            )
            point = f"tcd-{short}"
            name = f"Bộ phận Tiếp công dân Tỉnh ủy {province}"
            self.register(point, name, "OTHER", office, province, day)
            self.register(  # the same unit, now the merged province's
                point,
                f"Bộ phận Tiếp công dân Tỉnh ủy (cơ sở {province})",
                "OTHER",
                OFFICE,
                PROVINCE,
                MERGED_PROVINCE,
                revision=2,
            )
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
        effective, announced = MERGED_PROVINCE.isoformat(), date(2025, 6, 30)
        self.merge("2025-cap-huyen", announced, list(DISTRICTS), "tu", effective, ["60-NQ/TW"])
        basis = ["60-NQ/TW", "202/2025/QH15"]
        self.merge(
            "2025-hop-nhat-tinh",
            announced,
            [f"tu-{short}" for short in NEIGHBOURS],
            "tu",
            effective,
            ["60-NQ/TW"],
        )
        self.merge(
            "2025-vptu-hop-nhat-tinh",
            announced,
            [f"vptu-{short}" for short in NEIGHBOURS],
            OFFICE,
            effective,
            basis,
        )
