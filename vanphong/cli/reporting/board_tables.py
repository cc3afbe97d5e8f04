"""The task follow-up board (:mod:`.board`) as tables and JSON: the same rows for the page, its
CSV files and its workbook. Headers in the reader's language, Vietnamese first. Pure."""

from __future__ import annotations

from datetime import date
from typing import Any

from vanphong.cli.reporting.board import Board, DocumentLine, Tally, TaskLine
from vanphong.cli.reporting.labels import Lang, label
from vanphong.cli.reporting.tables import Cell, Column, Table

BOARD_TABLE_KEYS = ("by_unit", "by_body", "overdue", "documents")

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


def _tally_cells(t: Tally) -> tuple[Cell, ...]:
    return (
        t.open,
        t.due_within_7_days,
        t.overdue,
        t.most_days_overdue,
        t.done_on_time,
        t.done_late,
        t.on_time_rate,
    )


def by_unit_table(board: Board, lang: Lang = "vi") -> Table:
    return Table(
        "by_unit",
        "Theo đơn vị chủ trì",
        "By responsible unit",
        (
            Column("unit_id", "Mã đơn vị", "Unit id"),
            Column("name", "Đơn vị chủ trì", "Responsible unit"),
            *_TALLY_COLUMNS,
        ),
        [(t.key, t.name, *_tally_cells(t)) for t in board.by_unit],
    )


def by_body_table(board: Board, lang: Lang = "vi") -> Table:
    none = "(không ghi)" if lang == "vi" else "(not given)"
    return Table(
        "by_body",
        "Theo cơ quan giao",
        "By assigning body",
        (Column("assigned_by", "Cơ quan giao", "Assigning body"), *_TALLY_COLUMNS),
        [(t.key or none, *_tally_cells(t)) for t in board.by_body],
    )


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


def _task_cells(t: TaskLine, lang: Lang) -> tuple[Cell, ...]:
    return (
        t.task_id,
        t.title,
        t.unit_id,
        t.unit_name,
        t.assigned_by,
        t.source_document,
        t.assigned_on,
        t.due_on,
        t.completed_on,
        label(STATUS_LABELS, t.status, lang),
        t.days_overdue,
        t.days_late,
    )


def overdue_table(board: Board, lang: Lang = "vi") -> Table:
    return Table(
        "overdue",
        "Nhiệm vụ quá hạn",
        "Overdue tasks",
        _TASK_COLUMNS,
        [_task_cells(t, lang) for t in board.overdue],
    )


def tasks_table(tasks: list[TaskLine], lang: Lang = "vi") -> Table:
    """The tasks of one source document."""
    return Table(
        "document_tasks",
        "Nhiệm vụ theo văn bản",
        "Tasks of the document",
        _TASK_COLUMNS,
        [_task_cells(t, lang) for t in tasks],
    )


def documents_table(board: Board, lang: Lang = "vi") -> Table:
    none = "(không ghi văn bản)" if lang == "vi" else "(no source document)"
    return Table(
        "documents",
        "Theo văn bản giao",
        "By source document",
        (
            Column("source_document", "Văn bản giao", "Source document"),
            Column("tasks", "Số nhiệm vụ", "Tasks", "int"),
            Column("open", "Đang thực hiện", "Open", "int"),
            Column("overdue", "Quá hạn", "Overdue", "int"),
            Column("done_on_time", "Hoàn thành đúng hạn", "Done on time", "int"),
            Column("done_late", "Hoàn thành trễ hạn", "Done late", "int"),
            Column("last_due_on", "Hạn cuối", "Last due on", "date"),
        ),
        [_document_cells(d, none) for d in board.documents],
    )


def _document_cells(d: DocumentLine, none: str) -> tuple[Cell, ...]:
    return (
        d.source_document or none,
        d.tasks,
        d.open,
        d.overdue,
        d.done_on_time,
        d.done_late,
        d.last_due_on,
    )


BOARD_BUILDERS = {
    "by_unit": by_unit_table,
    "by_body": by_body_table,
    "overdue": overdue_table,
    "documents": documents_table,
}


def board_tables(board: Board, lang: Lang = "vi") -> list[Table]:
    """Every table of the board, in the order of the page."""
    return [BOARD_BUILDERS[key](board, lang) for key in BOARD_TABLE_KEYS]


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
        "tables": [table_json(t, lang) for t in board_tables(board, lang)],
    }
