"""The demo's calendar (vanphong/demo/office_calendar.py): pure rules of an office's year."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from vanphong.demo.office_calendar import (
    TET,
    allocate,
    day_weight,
    month_weight,
    months,
    weekly,
    workday_near,
    working_days,
)


@pytest.mark.parametrize("year", sorted(TET))
def test_tet_is_a_break_of_a_week_with_slow_days_around_it(year: int) -> None:
    tet = TET[year]
    assert tet.month in (1, 2) and date(year, 1, 21) <= tet <= date(year, 2, 20)
    assert all(day_weight(tet + timedelta(days=k)) == 0 for k in range(-2, 5))
    after = [tet + timedelta(days=k) for k in range(5, 15)]
    assert {day_weight(d) for d in after if d.weekday() < 5} == {0.5}


def test_weekends_and_fixed_holidays_have_no_work() -> None:
    assert day_weight(date(2024, 9, 2)) == 0  # Quốc khánh, a Monday
    assert day_weight(date(2024, 4, 30)) == day_weight(date(2024, 5, 1)) == 0
    assert day_weight(date(2024, 6, 15)) == 0  # a Saturday
    assert day_weight(date(2024, 6, 18)) == 1.0


def test_a_fixed_occasion_on_a_weekend_moves_to_the_friday_before() -> None:
    assert workday_near(date(2020, 10, 18)) == date(2020, 10, 16)
    assert workday_near(date(2024, 10, 18)) == date(2024, 10, 18)


def test_working_days_hold_cumulative_weights_and_the_tet_month_weighs_less() -> None:
    days, cumulative = working_days(date(2024, 2, 1))
    assert len(days) == len(cumulative) and cumulative == sorted(cumulative)
    assert all(d.month == 2 and day_weight(d) > 0 for d in days)
    assert month_weight(date(2024, 2, 1)) < 0.7 * month_weight(date(2024, 3, 1))


def test_weekly_duties_skip_the_tet_break() -> None:
    assert weekly(date(2024, 3, 1), 3) == [date(2024, 3, d) for d in (7, 14, 21, 28)]
    assert len(weekly(date(2024, 2, 1), 3)) < 4


def test_allocate_is_exact_within_the_window_and_proportional_outside() -> None:
    weights = {m: float(m.month) for m in months(date(2023, 1, 1), date(2024, 12, 1))}
    window = (date(2024, 1, 1), date(2024, 9, 30))
    counts = allocate(weights, 1000, window)
    assert sum(n for m, n in counts.items() if window[0] <= m <= window[1]) == 1000
    assert counts[date(2024, 9, 1)] > counts[date(2024, 1, 1)]
    assert counts[date(2023, 5, 1)] == pytest.approx(counts[date(2024, 5, 1)], abs=1)
    with pytest.raises(ValueError, match="no weight"):
        allocate(weights, 10, (date(2030, 1, 1), date(2030, 12, 31)))
