"""``vanphong demo``: a believable, deterministic history of one province, 2018–2025.

Shaped by the seed articles and pinned to them:

- Vĩnh Long's Provincial Party Committee office (``vptu``) "giai đoạn 2019 đến tháng 9/2024 đã
  tham mưu ban hành hơn 40.500 văn bản; phục vụ chu đáo trên 960 cuộc hội, họp" (seed 004):
  exactly ``ARTICLE_DOCUMENTS`` documents and ``ARTICLE_MEETINGS`` meetings in that window;
- "trao 11 Giấy khen cho các tập thể đã hoàn thành tốt nhiệm vụ trong 3 năm 2016 - 2018" at
  the office's review of 2018 (seed 000, Tiền Giang's office; here ``vptu``'s, January 2019);
- "Giao ban các Ban Đảng, Văn phòng Tỉnh ủy 6 tháng đầu năm" every June (seed 003, 18/6/2018),
  where in 2018 Ban Tổ chức was told to finish the offices' merger scheme by 30/6;
- the reorganisations (``organisation``).

Around those figures the months and years take an office's shape (``office_calendar``): Tết
empties late January or February, the run-ups to the mid-year and year-end reviews fill June–July
and November–December, the congress years 2020 and 2025 change the mix, and the workload grows,
dips in 2021's lockdown and nearly doubles when the office serves the merged province. The
figures of a month come from weights times a seeded noise, so another seed gives another history
with the same shape and the same pinned totals.

A few percent of events are re-sent (same event_id) or corrected (a higher revision), as
upstream systems do. Events are JSON objects in the ``vanphong publish`` format, so the demo
exercises the same path as any integrator.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from vanphong.demo.events import Events
from vanphong.demo.office_calendar import (
    MERGED_PROVINCE,
    PROVINCIAL_CONGRESS,
    TET,
    allocate,
    doc_weights,
    meeting_weights,
    month_weight,
    months,
    weekly,
    workday_near,
    working_days,
)
from vanphong.demo.organisation import (
    BOARDS,
    DEPARTMENTS,
    DISTRICTS,
    END,
    NEIGHBOURS,
    NEIGHBOURS_FROM,
    OFFICE,
    START,
)
from vanphong.schemas.catalog import EventType

ARTICLE_FROM, ARTICLE_TO = date(2019, 1, 1), date(2024, 9, 30)
ARTICLE_DOCUMENTS = 40_572  # "hơn 40.500 văn bản", 2019 – 9/2024
ARTICLE_MEETINGS = 971  # "trên 960 cuộc hội, họp", 2019 – 9/2024
ORDINARY_MONTH = 21.0  # the weight of a month of 21 full working days at level 1
NEIGHBOUR_SCALE = 0.45  # a neighbouring office's monthly work beside vptu's, before the merger
CONGRESS = {
    2020: "Đại hội đại biểu Đảng bộ tỉnh Vĩnh Long lần thứ XI, nhiệm kỳ 2020 - 2025",
    2025: "Đại hội đại biểu Đảng bộ tỉnh Vĩnh Long lần thứ I, nhiệm kỳ 2025 - 2030",
}
Occasion = tuple[date, str, str]  # (day, MeetingKind, title)
# Who assigns the office's follow-up tasks, and the kind of document that assigns them.
ASSIGNING_BODIES = (
    ("Ban Thường vụ Tỉnh ủy", "KL"),
    ("Thường trực Tỉnh ủy", "TB"),
    ("Ban Chấp hành Đảng bộ tỉnh", "NQ"),
)


class Demo(Events):
    """Builds the event list; one instance per seed (``units``, ``mergers``, ``activity``)."""

    def spread(self, total: int, noise: float) -> dict[date, int]:
        """``total`` pinned within the article's window, spread over every month by the
        office's workload times a seeded noise of about ``noise`` (relative)."""
        weights = {
            m: month_weight(m) * (1 + max(-2 * noise, min(2 * noise, self.rnd.gauss(0, noise))))
            for m in months(START, END)
        }
        return allocate(weights, total, (ARTICLE_FROM.replace(day=1), ARTICLE_TO))

    def activity(self) -> None:
        occasions = self.occasions()
        fixed = sum(ARTICLE_FROM <= day <= ARTICLE_TO for day, _, _ in occasions)
        documents = self.spread(ARTICLE_DOCUMENTS, 0.05)
        meetings = self.spread(ARTICLE_MEETINGS - fixed, 0.08)
        for month in months(START, END):
            days, cumulative = working_days(month)
            kinds = doc_weights(month)
            for day in self.rnd.choices(days, cum_weights=cumulative, k=documents[month]):
                self.document(OFFICE, self.rnd.choice(["TU", "TU", "VPTU"]), day, kinds)
            kinds = meeting_weights(month)
            for day in self.rnd.choices(days, cum_weights=cumulative, k=meetings[month]):
                self.meeting(OFFICE, day, weights=kinds)
            self.neighbours(month, documents[month], meetings[month])
            self.board_offices(month)
            self.districts(month)
            self.receptions(month)
            self.tasks(month)
        for day, kind, title in occasions:
            self.meeting(OFFICE, day, kind, title)
        self.awards()

    def occasions(self) -> list[Occasion]:
        """The office's fixed meetings of every year (the reviews, the giao ban 6 tháng, the
        founding day 18/10) and the congresses."""
        out: list[Occasion] = []
        for year in range(START.year, END.year + 1):
            out += [
                (
                    self.review_day(year),
                    "TONG_KET",
                    f"Hội nghị tổng kết công tác văn phòng cấp ủy năm {year - 1}",
                ),
                (
                    workday_near(date(year, 6, 18)),
                    "GIAO_BAN",
                    f"Giao ban các ban đảng, Văn phòng Tỉnh ủy 6 tháng đầu năm {year}",
                ),
                (
                    workday_near(date(year, 7, 15)),
                    "SO_KET",
                    f"Hội nghị Tỉnh ủy sơ kết 6 tháng đầu năm {year}",
                ),
                (
                    workday_near(date(year, 10, 18)),
                    "HOP_MAT",
                    "Họp mặt kỷ niệm Ngày truyền thống Văn phòng cấp ủy 18/10",
                ),
                (
                    workday_near(date(year, 12, 15)),
                    "TONG_KET",
                    f"Hội nghị Ban Chấp hành Đảng bộ tỉnh tổng kết năm {year}",
                ),
            ]
        for year, first in PROVINCIAL_CONGRESS.items():
            sessions = ("phiên trù bị", "phiên thứ nhất", "phiên bế mạc")
            for offset, session in enumerate(sessions):
                day = first + timedelta(days=offset)
                out.append((day, "DAI_HOI", f"{CONGRESS[year]} ({session})"))
        return out

    @staticmethod
    def review_day(year: int) -> date:
        """The office's own review of the year before, in January and clear of Tết."""
        day = workday_near(date(year, 1, 12))
        while (TET[year] - day).days < 10:
            day = workday_near(day - timedelta(days=1))
        return day

    def neighbours(self, month: date, documents: int, meetings: int) -> None:
        """Bến Tre's and Trà Vinh's offices, from their connection until the merger (then
        their work is ``vptu``'s); their reception points throughout (re-registered)."""
        if month < NEIGHBOURS_FROM:
            return
        days, cumulative = working_days(month)
        for short in NEIGHBOURS:
            if month < MERGED_PROVINCE:
                scale = NEIGHBOUR_SCALE * (1 + self.rnd.uniform(-0.1, 0.1))
                kinds = doc_weights(month)
                office = f"vptu-{short}"
                for day in self.rnd.choices(
                    days, cum_weights=cumulative, k=round(documents * scale)
                ):
                    self.document(office, "TU", day, kinds, ns=f"{short}-")
                for day in self.rnd.choices(
                    days, cum_weights=cumulative, k=round(meetings * scale)
                ):
                    self.meeting(office, day, weights=meeting_weights(month))
            for i, day in enumerate(self.rnd.choices(days, cum_weights=cumulative, k=2)):
                self.reception(f"tcd-{short}", f"{short}-{month:%Y%m}-{i}", day)

    def board_offices(self, month: date) -> None:
        if month >= date(2019, 1, 1):
            return  # merged into the office: their work is the office's from now on
        days, cumulative = working_days(month)
        for board in BOARDS:
            for day in self.rnd.choices(days, cum_weights=cumulative, k=25):
                self.document(f"vp-{board}", board.upper(), day, doc_weights(month))
            for day in self.rnd.choices(days, cum_weights=cumulative, k=3):
                self.meeting(f"vp-{board}", day)

    def districts(self, month: date) -> None:
        """A meeting a month each until they end; their congresses in mid-2020."""
        if month >= MERGED_PROVINCE:
            return
        days, cumulative = working_days(month)
        for i, district in enumerate(DISTRICTS):
            self.meeting(district, self.rnd.choices(days, cum_weights=cumulative)[0])
            if month == date(2020, 6 + i % 2, 1):
                self.meeting(
                    district,
                    workday_near(month + timedelta(days=8 + i)),
                    "DAI_HOI",
                    f"Đại hội đại biểu {DISTRICTS[district]} nhiệm kỳ 2020 - 2025",
                )

    def receptions(self, month: date) -> None:
        """Tiếp dân every Thursday the office works (four or five a month, fewer around Tết);
        in the run-up to a congress (from the July before it), letters about cadres multiply
        and the office receives on Tuesdays too."""
        days = weekly(month, 3)
        if any(date(y - 1, 7, 1) <= month <= first for y, first in PROVINCIAL_CONGRESS.items()):
            days = sorted(days + weekly(month, 1))
        for week, day in enumerate(days):
            self.reception(OFFICE, f"{OFFICE}-{month:%Y%m}-{week}", day)

    def awards(self) -> None:
        """At the office's January review: Giấy khen to its collectives (in 2019, for the
        three years 2016–2018, to all eleven), and the Standing Committee's Bằng khen."""
        for year in range(START.year, END.year + 1):
            day = self.review_day(year)
            count = len(DEPARTMENTS) if year == 2019 else self.rnd.randint(6, len(DEPARTMENTS) - 1)
            chosen = sorted(self.rnd.sample(range(1, len(DEPARTMENTS) + 1), count))
            for i in chosen:
                key = f"gk-{year}-{i}"
                self.emit(
                    EventType.AWARD_GRANTED,
                    key,
                    day,
                    award_id=key,
                    kind="GIAY_KHEN",
                    granted_by_unit_id=OFFICE,
                    granting_authority="Chánh Văn phòng Tỉnh ủy",
                    recipient_kind="COLLECTIVE",
                    recipient_unit_id=f"vptu-p{i}",
                    decision_number=f"{i:02d}-QĐ/VPTU",
                )
            key = f"bk-{year}"
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
        """Tasks follow the work: many after the year's programme (January) and the mid-year
        review (July), few in the Tết month; one from the 2018 giao ban (seed 003)."""
        days, cumulative = working_days(month)
        factor = {1: 1.5, 7: 1.3}.get(month.month, 1.0)
        if TET[month.year].month == month.month:
            factor *= 0.6
        count = round(6 * factor * month_weight(month) / ORDINARY_MONTH)
        assignees = [OFFICE, *BOARDS]
        for i, day in enumerate(self.rnd.choices(days, cum_weights=cumulative, k=count)):
            due = day + timedelta(days=self.rnd.choice([15, 30, 45, 90]))
            # who assigns, and in which conclusion: drawn from the position, not the generator,
            # so that the rest of the history stays as it was (Quy chế 08-QC/TW's board)
            body, code = ASSIGNING_BODIES[(month.month + i // 3) % len(ASSIGNING_BODIES)]
            source = f"{(month.year - 2015) * 130 + month.month * 10 + i // 3}-{code}/TU"
            unit = self.rnd.choice(assignees)
            self.task(
                f"nv-{month:%Y%m}-{i}", unit, day, due, assigned_by=body, source_document=source
            )
        if month == date(2018, 6, 1):
            self.task(
                "nv-2018-de-an-vp-phuc-vu-chung",
                "btctu",
                workday_near(date(2018, 6, 18)),
                date(2018, 6, 30),
                "Hoàn thành đề án sáp nhập văn phòng các ban đảng về Văn phòng Tỉnh ủy",
            )

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
