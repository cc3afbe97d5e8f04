"""A report as tables: the same rows for the page's downloads, the command line's CSV and the
workbook's sheets. Headers in the reader's language (Vietnamese first); each column says what
kind of value it holds, so the exports can keep numbers numbers and dates dates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeVar

from vanphong.core.semantics import METRICS
from vanphong.reporting.labels import (
    DOC_TYPES,
    MEETING_KINDS,
    METRIC_LABELS,
    TASK_STATES,
    Lang,
    label,
)
from vanphong.reporting.model import Report
from vanphong.reporting.summary import COMPARED, day

ColumnKind = Literal["text", "int", "date", "month"]
Cell = str | int | date | None
S = TypeVar("S")


@dataclass(frozen=True)
class Column:
    key: str
    vi: str
    en: str
    kind: ColumnKind = "text"

    def header(self, lang: Lang) -> str:
        return self.vi if lang == "vi" else self.en


@dataclass(frozen=True)
class Table:
    key: str  # in URLs: ?table=metrics
    vi: str  # the sheet's name (at most 31 characters, Excel's limit)
    en: str
    columns: tuple[Column, ...]
    rows: list[tuple[Cell, ...]]

    def title(self, lang: Lang) -> str:
        return self.vi if lang == "vi" else self.en


def cells_of(item: object, columns: tuple[Column, ...], **given: Cell) -> tuple[Cell, ...]:
    """A row of ``columns`` for ``item``: each column's cell is the attribute of ``item`` that
    the column's key names, or what ``given`` says for that key."""
    return tuple(given[c.key] if c.key in given else getattr(item, c.key) for c in columns)


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def metrics_table(report: Report, lang: Lang = "vi") -> Table:
    now, before = report.period, report.previous_period
    return Table(
        "metrics",
        "Chỉ tiêu",
        "Metrics",
        (
            Column("metric", "Mã chỉ tiêu", "Metric"),
            Column("label", "Chỉ tiêu", "Name"),
            Column(
                "value",
                f"Kỳ này ({day(now.start)}–{day(now.end)})",
                f"This period ({day(now.start)}–{day(now.end)})",
                "int",
            ),
            Column(
                "previous",
                f"{COMPARED['vi'][now.comparison_kind]} ({day(before.start)}–{day(before.end)})",
                f"{COMPARED['en'][now.comparison_kind]} ({day(before.start)}–{day(before.end)})",
                "int",
            ),
            Column("change", "Chênh lệch", "Change", "int"),
        ),
        [
            (
                m,
                label(METRIC_LABELS, m, lang),
                report.metrics[m],
                report.previous[m],
                report.metrics[m] - report.previous[m],
            )
            for m in METRICS
        ],
    )


def monthly_table(report: Report, lang: Lang = "vi") -> Table:
    return Table(
        "monthly",
        "Theo tháng",
        "By month",
        (
            Column("month", "Tháng", "Month", "month"),
            *(Column(m, *METRIC_LABELS[m], "int") for m in METRICS),
        ),
        [(row.month, *(row.metrics[m] for m in METRICS)) for row in report.monthly],
    )


def documents_table(report: Report, lang: Lang = "vi") -> Table:
    return Table(
        "documents_by_type",
        "Văn bản theo loại",
        "Documents by type",
        (
            Column("doc_type", "Mã loại", "Type code"),
            Column("label", "Loại văn bản", "Document type"),
            Column("documents_issued", "Số văn bản", "Documents", "int"),
        ),
        [(b.code, label(DOC_TYPES, b.code, lang), b.count) for b in report.by_type],
    )


def meetings_table(report: Report, lang: Lang = "vi") -> Table:
    return Table(
        "meetings_by_kind",
        "Hội họp theo loại",
        "Meetings by kind",
        (
            Column("kind", "Mã loại", "Kind code"),
            Column("label", "Loại hội nghị, cuộc họp", "Meeting kind"),
            Column("meetings_held", "Số cuộc", "Meetings", "int"),
            Column("meeting_attendees", "Lượt đại biểu", "Attendees", "int"),
        ),
        [
            (b.code, label(MEETING_KINDS, b.code, lang), b.count, b.attendees)
            for b in report.by_kind
        ],
    )


def tasks_table(report: Report, lang: Lang = "vi") -> Table:
    return Table(
        "tasks",
        "Nhiệm vụ",
        "Tasks",
        (
            Column("state", "Mã tình trạng", "State"),
            Column("label", "Tình trạng", "Name"),
            Column("tasks", "Số nhiệm vụ", "Tasks", "int"),
        ),
        [(k, label(TASK_STATES, k, lang), v) for k, v in report.tasks.as_dict().items()],
    )


def history_table(report: Report, lang: Lang = "vi") -> Table:
    relation = {
        "predecessor": ("Tiền thân", "Predecessor"),
        "successor": ("Kế thừa", "Successor"),
    }
    rows: list[tuple[Cell, ...]] = []
    for step in report.history:
        other = step.merge.absorbed if step.relation == "predecessor" else step.merge.into
        rows.append(
            (
                label(relation, step.relation, lang),
                other,
                report.names.get(other, ""),
                step.merge.absorbed,
                step.merge.into,
                step.merge.effective,
                ", ".join(step.merge.legal_basis),
                step.merge.merge_id,
            )
        )
    return Table(
        "history",
        "Lịch sử đơn vị",
        "Unit history",
        (
            Column("relation", "Quan hệ", "Relation"),
            Column("unit_id", "Mã đơn vị", "Unit id"),
            Column("name", "Tên đơn vị", "Unit name"),
            Column("absorbed_unit_id", "Đơn vị được sáp nhập", "Absorbed unit"),
            Column("into_unit_id", "Sáp nhập vào", "Merged into"),
            Column("effective_date", "Ngày hiệu lực", "Effective date", "date"),
            Column("legal_basis", "Căn cứ", "Legal basis"),
            Column("merge_id", "Mã sáp nhập", "Merger id"),
        ),
        rows,
    )


BUILDERS = {
    "metrics": metrics_table,
    "monthly": monthly_table,
    "documents_by_type": documents_table,
    "meetings_by_kind": meetings_table,
    "tasks": tasks_table,
    "history": history_table,
}


#: The tables' keys, as URLs name them (?table=metrics), in the order of the page.
TABLE_KEYS = tuple(BUILDERS)


def every_table(
    builders: Mapping[str, Callable[[S, Lang], Table]], source: S, lang: Lang = "vi"
) -> list[Table]:
    """The tables ``builders`` make of ``source`` (a report, the task board), in their order:
    the page's."""
    return [build(source, lang) for build in builders.values()]


def tables(report: Report, lang: Lang = "vi") -> list[Table]:
    """Every table of a report, in the order of the page."""
    return every_table(BUILDERS, report, lang)


def cell_text(value: Cell) -> str:
    return _text(value)
