"""``vanphong report``: the activity summary of CONTRACT.md §7 for one unit and range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from vanphong.core.semantics import METRICS

# Vietnamese labels for the 12 metrics, as an office would name them in a report.
LABELS: dict[str, str] = {
    "documents_issued": "Văn bản ban hành",
    "documents_appraised": "Văn bản đã thẩm định",
    "meetings_held": "Hội nghị, cuộc họp phục vụ",
    "meeting_attendees": "Lượt đại biểu dự họp",
    "receptions_held": "Buổi tiếp dân",
    "citizens_received": "Lượt công dân được tiếp",
    "petitions_received": "Đơn thư tiếp nhận",
    "awards_granted": "Khen thưởng đã trao",
    "awards_received": "Khen thưởng được nhận",
    "tasks_assigned": "Nhiệm vụ được giao",
    "tasks_completed_on_time": "Nhiệm vụ hoàn thành đúng hạn",
    "tasks_completed_late": "Nhiệm vụ hoàn thành trễ hạn",
}


class ReportError(ValueError):
    """A request that cannot be answered (unknown unit, reversed range)."""


@dataclass(frozen=True)
class Summary:
    unit_id: str
    unit_name: str | None
    day_from: date
    day_to: date
    consolidated: bool
    metrics: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return {
            "unit_id": self.unit_id,
            "unit_name": self.unit_name,
            "from": self.day_from.isoformat(),
            "to": self.day_to.isoformat(),
            "consolidated": self.consolidated,
            "metrics": self.metrics,
        }


async def summarise(
    database_url: str, unit_id: str, day_from: date, day_to: date, consolidated: bool
) -> Summary:
    if day_from > day_to:
        raise ReportError(f"--from {day_from} is after --to {day_to}: the range is reversed")
    conn = await asyncpg.connect(database_url)
    try:
        unit = await conn.fetchrow(
            "SELECT unit_id, name FROM reporting.units WHERE unit_id = $1", unit_id
        )
        if unit is None:
            raise ReportError(
                f"unknown unit {unit_id!r}: it is neither registered nor has any activity"
                " (list units with: SELECT unit_id, name FROM reporting.units)"
            )
        row = await conn.fetchrow(
            "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
            unit_id,
            day_from,
            day_to,
            consolidated,
        )
    finally:
        await conn.close()
    assert row is not None
    return Summary(
        unit_id, unit["name"], day_from, day_to, consolidated, {m: int(row[m]) for m in METRICS}
    )


def thousands(n: int) -> str:
    """Numbers grouped by thousands the Vietnamese way: 40.512."""
    return f"{n:,}".replace(",", ".")
