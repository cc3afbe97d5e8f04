"""The demo's year: when a provincial Party committee's office works, and how much.

Why a calendar of its own: a flat history (the same count every month and every year) makes
every chart a row of equal bars and every year-on-year comparison "không đổi" (issue 20). An
office's year has a shape, and the demo takes it from here, all of it pure and deterministic:

- **Tết** (lunar new year, a table per year) empties the office for about a week, slows the
  week before and the fortnight after (``day_weight``); fixed holidays (1/1, 30/4, 1/5, 2/9)
  are days off too.
- **The reviews**: the run-up to the mid-year review (sơ kết 6 tháng) fills June and July, the
  year-end review (tổng kết năm) November and December, with reports (BAO_CAO), plans
  (KE_HOACH) and programmes, and SO_KET / TONG_KET conferences (``SEASON``, ``doc_weights``,
  ``meeting_weights``).
- **Party congress years** change the mix and the volume: 2020 for the provinces (the demo's
  provincial congress is in mid-October 2020, where its term starts), 2025 with the
  reorganisation (the boards and the district committees in the first half, the merged
  province's congress in October).
- **Years differ** (``YEAR``): the workload grows; 2021's lockdown months slow it; from
  2025-07-01 the office serves the merged province (Vĩnh Long, Bến Tre, Trà Vinh).

``allocate`` turns monthly weights into whole counts that sum *exactly* to a figure within a
window, so the articles' totals stay pinned while the months around them take the shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from itertools import accumulate

# Mùng 1 Tết, 2016–2026 (the lunar new year's day, Vietnamese calendar, UTC+7).
TET = {
    2016: date(2016, 2, 8),
    2017: date(2017, 1, 28),
    2018: date(2018, 2, 16),
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
}
FIXED_HOLIDAYS = frozenset({(1, 1), (4, 30), (5, 1), (9, 2)})
CONGRESS_YEARS = frozenset({2020, 2025})
PROVINCIAL_CONGRESS = {2020: date(2020, 10, 13), 2025: date(2025, 10, 8)}  # the demo's dates
MERGED_PROVINCE = date(2025, 7, 1)  # 60-NQ/TW: Vĩnh Long, Bến Tre and Trà Vinh as one province

# How much work each month carries beside its working days: reports and plans before the
# mid-year and year-end reviews; a quieter August.
SEASON = {
    1: 1.05,
    2: 0.95,
    3: 1.0,
    4: 0.95,
    5: 0.95,
    6: 1.2,
    7: 1.15,
    8: 0.88,
    9: 0.95,
    10: 1.0,
    11: 1.15,
    12: 1.3,
}
# Growth year on year; 2021 had the lockdown (July to September in the Mekong delta).
YEAR = {2018: 0.88, 2019: 0.93, 2020: 0.97, 2021: 0.95, 2022: 1.0, 2023: 1.04, 2024: 1.08}
LOCKDOWN = (date(2021, 7, 19), date(2021, 9, 30))

# (DocType, code, weight): the office's documents in an ordinary month.
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
# (MeetingKind, weight): the office's ordinary meetings.
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
_REVIEW_DOCS = {"BAO_CAO": 2.0, "KE_HOACH": 1.8, "CHUONG_TRINH": 1.6}
_CONGRESS_DOCS = {
    "NGHI_QUYET": 2.5,
    "HUONG_DAN": 2.0,
    "TO_TRINH": 1.8,
    "QUYET_DINH": 1.5,
    "KE_HOACH": 1.5,
}
_REORGANISATION_DOCS = {"QUYET_DINH": 2.0, "DE_AN": 4.0, "TO_TRINH": 2.0, "KE_HOACH": 1.5}


def months(first: date, last: date) -> Iterator[date]:
    """The first day of every month from ``first``'s to ``last``'s."""
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month + timedelta(days=32)).replace(day=1)


def day_weight(day: date) -> float:
    """How much of an ordinary working day's work ``day`` carries: 0 on weekends, holidays
    and the Tết break (28 tháng Chạp to mùng 5), less the week before Tết and the fortnight
    after it (the first days of the year are for visits and festivals)."""
    if day.weekday() >= 5 or (day.month, day.day) in FIXED_HOLIDAYS:
        return 0.0
    offset = (day - TET[day.year]).days
    if -2 <= offset <= 4:
        return 0.0
    if -9 <= offset < -2:
        return 0.7
    if 4 < offset <= 14:
        return 0.5
    return 1.0


def working_days(month: date) -> tuple[list[date], list[float]]:
    """The month's days with work, and their cumulative weights (for ``random.choices``)."""
    days = [d for d in _days(month) if day_weight(d) > 0]
    return days, list(accumulate(day_weight(d) for d in days))


def weekly(month: date, weekday: int) -> list[date]:
    """The month's ``weekday``s (0 is Monday) that are working days outside the Tết break and
    the slow fortnight after it: when a weekly duty such as tiếp dân is held."""
    return [d for d in _days(month) if d.weekday() == weekday and day_weight(d) >= 0.7]


def workday_near(day: date) -> date:
    """``day`` if it is a full working day, else the closest one before it (a fixed
    occasion held on a weekend moves to the Friday before)."""
    while day_weight(day) < 1.0:
        day -= timedelta(days=1)
    return day


def month_weight(month: date) -> float:
    """The office's expected workload in ``month``, relative to an ordinary day's."""
    workload = sum(day_weight(d) for d in _days(month)) * SEASON[month.month]
    return workload * year_factor(month)


def year_factor(month: date) -> float:
    """The year's level, with what moved it: a congress's run-up (April–October), the
    lockdown, the 2025 reorganisation, and the merged province from 2025-07-01."""
    if month.year == 2025:
        if month >= MERGED_PROVINCE:  # three provinces' work through one office
            return 1.9 * (1.1 if month.month in (8, 9, 10) else 1.0)
        return 1.15  # merging boards, ending the district committees
    factor = YEAR[month.year]
    if month.year in CONGRESS_YEARS and 4 <= month.month <= 10:
        factor *= 1.12
    if LOCKDOWN[0].replace(day=1) <= month <= LOCKDOWN[1]:
        factor *= 0.85
    return factor


def doc_weights(month: date) -> list[float]:
    """``DOC_MIX``'s weights for ``month``: reports and plans before the reviews, resolutions
    and guidance before a congress, schemes and decisions in the 2025 reorganisation."""
    boost: dict[str, float] = {}
    if month.month in (6, 7, 11, 12):
        boost.update(_REVIEW_DOCS)
    if month.year in CONGRESS_YEARS and 3 <= month.month <= 10:
        for kind, times in _CONGRESS_DOCS.items():
            boost[kind] = boost.get(kind, 1.0) * times
    if month.year == 2025 and month < MERGED_PROVINCE:
        for kind, times in _REORGANISATION_DOCS.items():
            boost[kind] = boost.get(kind, 1.0) * times
    return [weight * boost.get(kind, 1.0) for kind, _, weight in DOC_MIX]


def meeting_weights(month: date) -> list[float]:
    """``MEETING_MIX``'s weights for ``month``: sơ kết conferences in June and July, tổng kết
    from November to January, dissemination (quán triệt) after a congress."""
    boost: dict[str, float] = {}
    if month.month in (6, 7):
        boost["SO_KET"] = 5.0
    if month.month in (11, 12, 1):
        boost["TONG_KET"] = 8.0
    if month.year in CONGRESS_YEARS and month.month >= 10:
        boost["QUAN_TRIET"] = 3.0
        boost["HOI_NGHI_BCH"] = 2.0
    return [weight * boost.get(kind, 1.0) for kind, weight in MEETING_MIX]


def allocate(
    weights: Mapping[date, float], total: int, window: tuple[date, date]
) -> dict[date, int]:
    """Whole counts per month in proportion to ``weights``: exactly ``total`` over the months
    within ``window`` (largest remainders), the same scale rounded outside it.

    Raises ValueError when the window holds no weight (nothing to scale by)."""
    inside = [m for m in weights if window[0] <= m <= window[1]]
    mass = sum(weights[m] for m in inside)
    if mass <= 0:
        raise ValueError(f"no weight within {window[0]} – {window[1]}")
    scale = total / mass
    counts = {m: round(w * scale) for m, w in weights.items()}
    exact = {m: weights[m] * scale for m in inside}
    floors = {m: int(exact[m]) for m in inside}
    short = total - sum(floors.values())
    by_remainder: Sequence[date] = sorted(inside, key=lambda m: (floors[m] - exact[m], m))
    for m in inside:
        counts[m] = floors[m]
    for m in by_remainder[:short]:
        counts[m] += 1
    return counts


def _days(month: date) -> Iterator[date]:
    day = month
    while day.month == month.month:
        yield day
        day += timedelta(days=1)
