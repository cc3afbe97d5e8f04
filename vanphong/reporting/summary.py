"""The summary paragraph, in the style of the offices' own year-end articles ("Từ ngày
01/01/2019 đến ngày 30/09/2024, Văn phòng Tỉnh ủy đã tham mưu ban hành 40.572 văn bản …"),
built from a report's figures. Pure: formatting rules and sentence assembly only."""

from __future__ import annotations

from datetime import date

from vanphong.reporting.labels import Lang
from vanphong.reporting.model import Report
from vanphong.reporting.periods import ComparisonKind, Period

#: What the figures are compared with (periods.Period.comparison), as column headings.
COMPARED: dict[Lang, dict[ComparisonKind, str]] = {
    "vi": {"year_earlier": "Cùng kỳ năm trước", "preceding": "Kỳ liền trước cùng độ dài"},
    "en": {"year_earlier": "A year earlier", "preceding": "The period just before, as long"},
}


def compared_phrase(period: Period, lang: Lang) -> str:
    """The paragraph's "compared with …" words, naming the days when they are not a year
    earlier."""
    before = period.comparison()
    if period.comparison_kind == "year_earlier":
        return "So với cùng kỳ năm trước" if lang == "vi" else "Compared with a year earlier"
    if lang == "vi":
        return f"So với kỳ liền trước cùng độ dài (từ {day(before.start)} đến {day(before.end)})"
    return (
        f"Compared with the period as long just before ({day(before.start)} to {day(before.end)})"
    )


def number(n: int, lang: Lang = "vi") -> str:
    """Thousands grouped the way the reader writes them: 40.572 (vi), 40,572 (en)."""
    grouped = f"{n:,}"
    return grouped.replace(",", ".") if lang == "vi" else grouped


def day(d: date) -> str:
    """dd/mm/yyyy, as Vietnamese documents write dates (and British English reads them)."""
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def percent_change(now: int, before: int, lang: Lang = "vi") -> str | None:
    """``tăng 5,2%`` / ``up 5.2%`` from ``before`` to ``now``; None when there is nothing to
    compare with (no activity the year before)."""
    if before <= 0:
        return None
    change = (now - before) * 100 / before
    size = f"{abs(change):,.1f}"
    if lang == "vi":
        size = size.translate(str.maketrans(",.", ".,"))
        if size == "0,0":
            return "không đổi"
        return f"{'tăng' if change > 0 else 'giảm'} {size}%"
    if size == "0.0":
        return "unchanged"
    return f"{'up' if change > 0 else 'down'} {size}%"


def period_phrase(period: Period, lang: Lang = "vi") -> str:
    """How the paragraph opens: ``Năm 2024`` for a year, ``Từ ngày … đến ngày …`` otherwise."""
    if period.kind == "year":
        return f"Năm {period.start.year}" if lang == "vi" else f"In {period.start.year}"
    if lang == "vi":
        return f"Từ ngày {day(period.start)} đến ngày {day(period.end)}"
    return f"From {day(period.start)} to {day(period.end)}"


def paragraph(
    unit_name: str,
    period: Period,
    metrics: dict[str, int],
    previous: dict[str, int] | None = None,
    consolidated: bool = False,
    lang: Lang = "vi",
) -> str:
    """The paragraph for ``unit_name`` over ``period``; clauses whose figures are all zero are
    left out, and the year-earlier comparison when there was nothing a year earlier."""
    if lang == "en":
        return _english(unit_name, period, metrics, previous or {}, consolidated)
    m = metrics

    def n(key: str) -> str:
        return number(m.get(key, 0))

    first: list[str] = []  # the articles' own opening: documents, then meetings
    if m.get("documents_issued"):
        text = f"tham mưu ban hành {n('documents_issued')} văn bản"
        if m.get("documents_appraised"):
            text += f" (thẩm định {n('documents_appraised')} văn bản)"
        first.append(text)
    if m.get("meetings_held"):
        text = f"phục vụ {n('meetings_held')} cuộc hội nghị, cuộc họp"
        if m.get("meeting_attendees"):
            text += f" với {n('meeting_attendees')} lượt đại biểu"
        first.append(text)
    clauses: list[str] = [", ".join(first)] if first else []
    reception = [
        text
        for key, text in (
            ("receptions_held", f"tổ chức {n('receptions_held')} buổi tiếp dân"),
            ("citizens_received", f"tiếp {n('citizens_received')} lượt công dân"),
            ("petitions_received", f"tiếp nhận {n('petitions_received')} đơn thư"),
        )
        if m.get(key)
    ]
    if reception:
        clauses.append(", ".join(reception))
    if m.get("awards_granted") and m.get("awards_received"):
        clauses.append(
            f"trao {n('awards_granted')} và được nhận {n('awards_received')} hình thức khen thưởng"
        )
    elif m.get("awards_granted"):
        clauses.append(f"trao {n('awards_granted')} hình thức khen thưởng")
    elif m.get("awards_received"):
        clauses.append(f"được nhận {n('awards_received')} hình thức khen thưởng")
    done = [
        text
        for key, text in (
            ("tasks_completed_on_time", f"hoàn thành đúng hạn {n('tasks_completed_on_time')}"),
            ("tasks_completed_late", f"trễ hạn {n('tasks_completed_late')}"),
        )
        if m.get(key)
    ]
    if m.get("tasks_assigned") or done:
        clauses.append(
            f"được giao {n('tasks_assigned')} nhiệm vụ" + (", " + ", ".join(done) if done else "")
        )
    subject = unit_name + (" (tính cả các đơn vị tiền thân)" if consolidated else "")
    opening = period_phrase(period, "vi")
    if not clauses:
        return f"{opening}, {subject} chưa có số liệu hoạt động được ghi nhận."
    sentence = f"{opening}, {subject} đã " + "; ".join(clauses) + "."
    comparisons = [
        f"số {what} {change}"
        for key, what in (("documents_issued", "văn bản"), ("meetings_held", "cuộc họp"))
        if (change := percent_change(m.get(key, 0), (previous or {}).get(key, 0), "vi"))
    ]
    if comparisons:
        sentence += f" {compared_phrase(period, 'vi')}, " + ", ".join(comparisons) + "."
    return sentence


def report_paragraph(report: Report, lang: Lang = "vi") -> str:
    """:func:`paragraph` for a whole report: its unit, period, figures, the figures it is
    compared with and its basis (``vanphong report --summary``, the JSON's ``summary``, the
    workbook's last sheet)."""
    return paragraph(
        report.unit.title,
        report.period,
        report.metrics,
        report.previous,
        report.consolidated,
        lang,
    )


def _english(
    unit_name: str,
    period: Period,
    m: dict[str, int],
    previous: dict[str, int],
    consolidated: bool,
) -> str:
    def n(key: str) -> str:
        return number(m.get(key, 0), "en")

    clauses: list[str] = []
    if m.get("documents_issued"):
        text = f"advised on the issue of {n('documents_issued')} documents"
        if m.get("documents_appraised"):
            text += f" (appraising {n('documents_appraised')})"
        clauses.append(text)
    if m.get("meetings_held"):
        text = f"served {n('meetings_held')} conferences and meetings"
        if m.get("meeting_attendees"):
            text += f" with {n('meeting_attendees')} attendees"
        clauses.append(text)
    if m.get("receptions_held") or m.get("citizens_received") or m.get("petitions_received"):
        clauses.append(
            f"held {n('receptions_held')} citizen receptions for {n('citizens_received')}"
            f" citizens and received {n('petitions_received')} petitions"
        )
    if m.get("awards_granted"):
        clauses.append(f"granted {n('awards_granted')} awards")
    if m.get("awards_received"):
        clauses.append(f"received {n('awards_received')} awards")
    if m.get("tasks_assigned") or m.get("tasks_completed_on_time") or m.get("tasks_completed_late"):
        clauses.append(
            f"was assigned {n('tasks_assigned')} tasks, completing"
            f" {n('tasks_completed_on_time')} on time and {n('tasks_completed_late')} late"
        )
    subject = unit_name + (" (including its predecessors)" if consolidated else "")
    opening = period_phrase(period, "en")
    if not clauses:
        return f"{opening}, no activity of {subject} was recorded."
    sentence = f"{opening}, {subject} " + "; ".join(clauses) + "."
    comparisons = [
        f"{what} {change}"
        for key, what in (("documents_issued", "documents"), ("meetings_held", "meetings"))
        if (change := percent_change(m.get(key, 0), previous.get(key, 0), "en"))
    ]
    if comparisons:
        sentence += f" {compared_phrase(period, 'en')}: " + ", ".join(comparisons) + "."
    return sentence
