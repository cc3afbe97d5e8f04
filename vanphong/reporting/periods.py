"""Periods a report builder asks for: a year, a term (2020-2025) or a range of days, and what
its figures are compared with (:meth:`Period.comparison`). Pure: parsing and date arithmetic
only, so the command line and the page refuse the same inputs with the same words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

PeriodKind = Literal["year", "term", "range"]
ComparisonKind = Literal["year_earlier", "preceding"]

#: Years a report may name: the year before must exist too.
FIRST_YEAR, LAST_YEAR = 1900, 9998

_TERM = re.compile(r"^\s*(\d{4})\s*[-–]\s*(\d{4})\s*$")


class PeriodError(ValueError):
    """A period that cannot be read or makes no sense; ``code`` for JSON, the text for people.

    ``field`` is the input it is about (``year``, ``term``, ``from``, ``to``)."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Period:
    """Days ``start``..``end``, inclusive."""

    kind: PeriodKind
    start: date
    end: date

    @property
    def token(self) -> str:
        """How the period is written in a URL or on the command line."""
        if self.kind == "year":
            return str(self.start.year)
        if self.kind == "term":
            return f"{self.start.year}-{self.end.year}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def year_earlier(self) -> Period:
        """The same days a year before (29 February becomes the 28th)."""
        return Period(self.kind, _year_before(self.start), _year_before(self.end))

    @property
    def comparison_kind(self) -> ComparisonKind:
        """``year_earlier`` for a period of at most a year, ``preceding`` for a longer one."""
        if self.start.year >= date.max.year:
            return "year_earlier"
        return "year_earlier" if self.end < _year_after(self.start) else "preceding"

    def comparison(self) -> Period:
        """What the figures are compared with ("cùng kỳ"). A period of at most a year: the same
        days a year earlier (cùng kỳ năm trước). A longer one (a term, a range over years),
        whose copy a year earlier would overlap it by all but one year (2019 – 9/2024 against
        2018 – 9/2023 shares almost five years), is compared with the period of the same
        length just before it (kỳ liền trước, cùng độ dài), so the two never overlap: whole
        months go back by their number of months (1/2019 – 9/2024, 69 months, against
        4/2013 – 12/2018; the term 2020 – 2025 against 2014 – 2019), other ranges by their
        number of days."""
        if self.comparison_kind == "year_earlier":
            return self.year_earlier()
        if self.whole_months:
            months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            index = self.start.year * 12 + self.start.month - 1 - months
            first = date(max(1, index // 12), index % 12 + 1, 1) if index >= 12 else date.min
        else:
            length = self.end.toordinal() - self.start.toordinal() + 1
            first = date.fromordinal(max(1, self.start.toordinal() - length))
        return Period(self.kind, first, date.fromordinal(max(1, self.start.toordinal() - 1)))

    @property
    def whole_months(self) -> bool:
        """True when the period starts on a first and ends on a last day of a month: monthly
        tables then cover exactly its days."""
        return self.start.day == 1 and _next_day(self.end).day == 1


def _next_day(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _year_after(day: date) -> date:
    if day.month == 2 and day.day == 29:
        return date(day.year + 1, 3, 1)
    return day.replace(year=day.year + 1)


def _year_before(day: date) -> date:
    if day.month == 2 and day.day == 29:
        return date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


def _year(text: str, field: str) -> int:
    text = text.strip()
    if not re.fullmatch(r"\d{4}", text):
        raise PeriodError("malformed_year", field, f"{text!r} is not a year (YYYY)")
    year = int(text)
    if not FIRST_YEAR < year <= LAST_YEAR:
        raise PeriodError(
            "malformed_year", field, f"{year} is outside {FIRST_YEAR + 1}–{LAST_YEAR}"
        )
    return year


def year(text: str) -> Period:
    """``2024`` → 1 January .. 31 December 2024."""
    y = _year(text, "year")
    return Period("year", date(y, 1, 1), date(y, 12, 31))


def term(text: str) -> Period:
    """``2020-2025`` → 1 January 2020 .. 31 December 2025 (a Party congress term, by whole
    years: the contract defines no finer term)."""
    match = _TERM.match(text)
    if match is None:
        raise PeriodError("malformed_term", "term", f"{text!r} is not a term (YYYY-YYYY)")
    first, last = _year(match[1], "term"), _year(match[2], "term")
    if first > last:
        raise PeriodError(
            "reversed_range", "term", f"the term {text!r} is reversed: {first} is after {last}"
        )
    return Period("term", date(first, 1, 1), date(last, 12, 31))


def day(text: str, field: str) -> date:
    """A day written ``YYYY-MM-DD``."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        value = None
    if value is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise PeriodError("malformed_date", field, f"{text!r} is not a date YYYY-MM-DD")
    if value.year <= FIRST_YEAR:
        raise PeriodError("malformed_date", field, f"{text!r} is before {FIRST_YEAR + 1}")
    return value


def days(first: str, last: str) -> Period:
    """From ``first`` to ``last``, inclusive."""
    start, end = day(first, "from"), day(last, "to")
    if start > end:
        raise PeriodError(
            "reversed_range",
            "from",
            f"from {start.isoformat()} is after to {end.isoformat()}: the range is reversed",
        )
    return Period("range", start, end)


def choose(
    *,
    year_text: str | None = None,
    term_text: str | None = None,
    from_text: str | None = None,
    to_text: str | None = None,
    default_year: int | None = None,
) -> Period:
    """The one period a request names: a year, a term, or from and to. More than one, or half
    a range, is refused; none gives ``default_year`` (when there is one)."""
    given = [
        name
        for name, value in (("year", year_text), ("term", term_text), ("from/to", from_text))
        if value
    ]
    if to_text and not from_text:
        given.append("from/to")
    if len(set(given)) > 1:
        raise PeriodError(
            "ambiguous_period", given[0], f"give one period, not {' and '.join(given)}"
        )
    if year_text:
        return year(year_text)
    if term_text:
        return term(term_text)
    if from_text or to_text:
        if not (from_text and to_text):
            missing = "to" if from_text else "from"
            raise PeriodError("malformed_date", missing, "a range needs both from and to")
        return days(from_text, to_text)
    if default_year is not None:
        return year(str(default_year))
    raise PeriodError("missing_period", "year", "give a period: a year, a term or from and to")
