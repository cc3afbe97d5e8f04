"""The task follow-up board (:mod:`.board`) as tables and JSON: the same rows for the page, its
CSV files and its workbook. Headers in the reader's language, Vietnamese first. Pure."""

from __future__ import annotations

from datetime import date
from typing import Any

from vanphong.reporting.board import Board, TaskLine
from vanphong.reporting.labels import Lang, label
from vanphong.reporting.tables import Cell, Column, Table, cells_of, every_table

#: ``reporting.task_followup.status``, as people say it.
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "open": ("Đang thực hiện", "Open"),
    "overdue": ("Quá hạn", "Overdue"),
    "done_on_time": ("Hoàn thành đúng hạn", "Done on time"),
    "done_late": ("Hoàn thành trễ hạn", "Done late"),
}

_TALLY_COLUMNS = (
    Column("open", "Đang thực hiện", "Open", "int"),
    Column("due_within_7_days", "Đến hạn trong 7 ngày", "Due within 7 days", "int"),
    Column("overdue", "Quá hạn", "Overdue", "int"),
    Column("most_days_overdue", "Quá hạn lâu nhất (ngày)", "Longest overdue (days)", "int"),
    Column("done_on_time", "Đúng hạn trong kỳ", "Done on time (period)", "int"),
    Column("done_late", "Trễ hạn trong kỳ", "Done late (period)", "int"),
    Column("on_time_rate", "Tỷ lệ đúng hạn (%)", "On-time rate (%)", "int"),
)
_BY_UNIT_COLUMNS = (
    Column("unit_id", "Mã đơn vị", "Unit id"),
    Column("name", "Đơn vị chủ trì", "Responsible unit"),
    *_TALLY_COLUMNS,
)
_BY_BODY_COLUMNS = (Column("assigned_by", "Cơ quan giao", "Assigning body"), *_TALLY_COLUMNS)
_TASK_COLUMNS = (
    Column("task_id", "Mã nhiệm vụ", "Task id"),
    Column("title", "Nhiệm vụ", "Task"),
    Column("unit_id", "Mã đơn vị", "Unit id"),
    Column("unit_name", "Đơn vị chủ trì", "Responsible unit"),
    Column("assigned_by", "Cơ quan giao", "Assigning body"),
    Column("source_document", "Văn bản giao", "Source document"),
    Column("assigned_on", "Ngày giao", "Assigned on", "date"),
    Column("due_on", "Hạn", "Due on", "date"),
    Column("completed_on", "Ngày hoàn thành", "Completed on", "date"),
    Column("status", "Tình trạng", "State"),
    Column("days_overdue", "Số ngày quá hạn", "Days overdue", "int"),
    Column("days_late", "Số ngày trễ", "Days late", "int"),
)
_DOCUMENT_COLUMNS = (
    Column("source_document", "Văn bản giao", "Source document"),
    Column("tasks", "Số nhiệm vụ", "Tasks", "int"),
    Column("open", "Đang thực hiện", "Open", "int"),
    Column("overdue", "Quá hạn", "Overdue", "int"),
    Column("done_on_time", "Hoàn thành đúng hạn", "Done on time", "int"),
    Column("done_late", "Hoàn thành trễ hạn", "Done late", "int"),
    Column("last_due_on", "Hạn cuối", "Last due on", "date"),
)


def by_unit_table(board: Board, lang: Lang = "vi") -> Table:
    rows = [cells_of(t, _BY_UNIT_COLUMNS, unit_id=t.key) for t in board.by_unit]
    return Table("by_unit", "Theo đơn vị chủ trì", "By responsible unit", _BY_UNIT_COLUMNS, rows)


def by_body_table(board: Board, lang: Lang = "vi") -> Table:
    none = "(không ghi)" if lang == "vi" else "(not given)"
    rows = [cells_of(t, _BY_BODY_COLUMNS, assigned_by=t.key or none) for t in board.by_body]
    return Table("by_body", "Theo cơ quan giao", "By assigning body", _BY_BODY_COLUMNS, rows)


def _task_rows(tasks: list[TaskLine], lang: Lang) -> list[tuple[Cell, ...]]:
    return [cells_of(t, _TASK_COLUMNS, status=label(STATUS_LABELS, t.status, lang)) for t in tasks]


def overdue_table(board: Board, lang: Lang = "vi") -> Table:
    rows = _task_rows(board.overdue, lang)
    return Table("overdue", "Nhiệm vụ quá hạn", "Overdue tasks", _TASK_COLUMNS, rows)


def tasks_table(tasks: list[TaskLine], lang: Lang = "vi") -> Table:
    """The tasks of one source document."""
    rows = _task_rows(tasks, lang)
    return Table(
        "document_tasks", "Nhiệm vụ theo văn bản", "Tasks of the document", _TASK_COLUMNS, rows
    )


def documents_table(board: Board, lang: Lang = "vi") -> Table:
    none = "(không ghi văn bản)" if lang == "vi" else "(no source document)"
    rows = [
        cells_of(d, _DOCUMENT_COLUMNS, source_document=d.source_document or none)
        for d in board.documents
    ]
    return Table("documents", "Theo văn bản giao", "By source document", _DOCUMENT_COLUMNS, rows)


#: The board's tables, in the order of the page.
BOARD_BUILDERS = {
    "by_unit": by_unit_table,
    "by_body": by_body_table,
    "overdue": overdue_table,
    "documents": documents_table,
}


def table_json(table: Table, lang: Lang = "vi") -> dict[str, Any]:
    """A table for the page: its title, its columns (key, header, kind) and its rows, dates as
    ISO text."""
    return {
        "key": table.key,
        "title": table.title(lang),
        "columns": [
            {"key": c.key, "header": c.header(lang), "kind": c.kind} for c in table.columns
        ],
        "rows": [[v.isoformat() if isinstance(v, date) else v for v in r] for r in table.rows],
    }


def board_json(board: Board, lang: Lang = "vi") -> dict[str, Any]:
    return {
        "today": board.today.isoformat(),
        "from": board.period.start.isoformat(),
        "to": board.period.end.isoformat(),
        "tables": [table_json(t, lang) for t in every_table(BOARD_BUILDERS, board, lang)],
    }
