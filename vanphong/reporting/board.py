"""The task follow-up board (issue 20; Quy chế 08-QC/TW): what a chief of staff opens on
Monday. Per responsible unit and per assigning body: tasks open, due within 7 days, overdue
(and the most days overdue), and, over a period, done on time, done late and the on-time rate;
per source document its tasks and their state; every overdue task, longest overdue first.

Read from ``reporting.task_followup`` (migration 0010) only, so overdue is decided on read in
``VANPHONG_TIMEZONE`` and a late completion moves a task from overdue to done late at its
commit. The period selects tasks by **due date**: done on time, done late and the rate count
the tasks due in it; open, due soon and overdue are today's, whatever the period.

Pure parts: the dataclasses and :func:`on_time_rate`; I/O: :func:`board` and
:func:`document_tasks` (PostgreSQL, on the reporting role's connections)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import asyncpg

from vanphong.reporting.periods import Period

Grouping = Literal["unit", "assigned_by"]
#: The states of ``reporting.task_followup.status`` (CONTRACT.md §7, ``reporting.tasks``).
STATUSES = ("open", "overdue", "done_on_time", "done_late")


def on_time_rate(done_on_time: int, done_late: int, overdue: int) -> int | None:
    """Percent of the tasks due in a period that were done by their due date: done on time over
    everything judged (done on time, done late, overdue and not done), rounded; None when none
    was due. Tasks still open and not yet due are not judged."""
    judged = done_on_time + done_late + overdue
    if judged == 0:
        return None
    return round(100 * done_on_time / judged)


@dataclass(frozen=True)
class Tally:
    """One responsible unit's (or assigning body's) line of the board."""

    key: str | None  # the unit id or the assigning body; None: not given
    name: str | None  # the unit's name (units only)
    open: int  # not done, not yet past due
    due_within_7_days: int  # of those, due within 7 days
    overdue: int  # not done, past due: today's
    most_days_overdue: int | None
    done_on_time: int  # of the tasks due in the period
    done_late: int
    overdue_in_period: int  # of the tasks due in the period, overdue now

    @property
    def on_time_rate(self) -> int | None:
        return on_time_rate(self.done_on_time, self.done_late, self.overdue_in_period)


@dataclass(frozen=True)
class TaskLine:
    """One task as the board lists it."""

    task_id: str
    unit_id: str
    unit_name: str | None
    assigned_by: str | None
    source_document: str | None
    title: str | None
    assigned_on: date
    due_on: date
    completed_on: date | None
    status: str
    days_overdue: int | None
    days_late: int | None


@dataclass(frozen=True)
class DocumentLine:
    """A source document and the states of its tasks (all of them, today)."""

    source_document: str | None  # None: tasks assigned without one
    tasks: int
    open: int
    overdue: int
    done_on_time: int
    done_late: int
    last_due_on: date


@dataclass(frozen=True)
class Board:
    today: date
    period: Period
    by_unit: list[Tally]
    by_body: list[Tally]
    overdue: list[TaskLine]
    documents: list[DocumentLine]


#: Every tally in one scan of the view: per unit, per assigning body and per source document
#: (GROUPING says which set a row is of: 3, 5 and 6).
_TALLIES = """
SELECT GROUPING(unit_id, assigned_by, source_document)                      AS grouping,
       unit_id, assigned_by, source_document,
       count(*)                                                              AS tasks,
       count(*) FILTER (WHERE status = 'open')                               AS open,
       count(*) FILTER (WHERE due_within_7_days)                             AS due_soon,
       count(*) FILTER (WHERE status = 'overdue')                            AS overdue,
       max(days_overdue)                                                     AS most_days,
       count(*) FILTER (WHERE status = 'done_on_time' AND due_on BETWEEN $1 AND $2) AS on_time,
       count(*) FILTER (WHERE status = 'done_late' AND due_on BETWEEN $1 AND $2) AS late,
       count(*) FILTER (WHERE status = 'overdue' AND due_on BETWEEN $1 AND $2) AS overdue_due,
       count(*) FILTER (WHERE status = 'done_on_time')                       AS on_time_all,
       count(*) FILTER (WHERE status = 'done_late')                          AS late_all,
       max(due_on)                                                           AS last_due_on
FROM reporting.task_followup
GROUP BY GROUPING SETS ((unit_id), (assigned_by), (source_document))
HAVING bool_or(status IN ('open', 'overdue') OR due_on BETWEEN $1 AND $2)
"""
_BY_UNIT, _BY_BODY, _BY_DOCUMENT = 3, 5, 6

_COLUMNS = (
    "task_id, unit_id, assigned_by, source_document, title, assigned_on, due_on,"
    " completed_on, status, days_overdue, days_late"
)

_OVERDUE = f"""
SELECT {_COLUMNS} FROM reporting.task_followup
WHERE status = 'overdue'
ORDER BY days_overdue DESC, unit_id, task_id
"""


def most_overdue_first(tallies: list[Tally]) -> list[Tally]:
    """The board's order: most overdue tasks, then the longest overdue, then most open; then by
    name (those without one last)."""
    return sorted(
        tallies,
        key=lambda t: (
            -t.overdue,
            -(t.most_days_overdue or 0),
            -t.open,
            t.key is None,
            t.key or "",
        ),
    )


def documents_in_order(documents: list[DocumentLine]) -> list[DocumentLine]:
    """Documents with overdue tasks first, then the latest due; those without a number last."""
    return sorted(
        documents,
        key=lambda d: (
            -d.overdue,
            -d.last_due_on.toordinal(),
            d.source_document is None,
            d.source_document or "",
        ),
    )


async def board(conn: asyncpg.Connection, period: Period, today: date) -> Board:
    """The board for ``period`` (``today``: in VANPHONG_TIMEZONE, as the view's): two scans of
    the view, one for every tally and one for the overdue tasks, then the units' names."""
    rows = await conn.fetch(_TALLIES, period.start, period.end)
    overdue = await conn.fetch(_OVERDUE)
    of = {g: [r for r in rows if r["grouping"] == g] for g in (_BY_UNIT, _BY_BODY, _BY_DOCUMENT)}
    names = await _names(
        conn, {r["unit_id"] for r in of[_BY_UNIT]} | {r["unit_id"] for r in overdue}
    )
    return Board(
        today,
        period,
        most_overdue_first(
            [_tally(r, r["unit_id"], names.get(r["unit_id"])) for r in of[_BY_UNIT]]
        ),
        most_overdue_first([_tally(r, r["assigned_by"], None) for r in of[_BY_BODY]]),
        [_task(r, names) for r in overdue],
        documents_in_order(
            [
                DocumentLine(
                    r["source_document"],
                    r["tasks"],
                    r["open"],
                    r["overdue"],
                    r["on_time_all"],
                    r["late_all"],
                    r["last_due_on"],
                )
                for r in of[_BY_DOCUMENT]
            ]
        ),
    )


async def document_tasks(conn: asyncpg.Connection, source_document: str | None) -> list[TaskLine]:
    """Every task of ``source_document`` (None: those assigned without one), by due date."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM reporting.task_followup"
        " WHERE source_document IS NOT DISTINCT FROM $1 ORDER BY due_on, task_id",
        source_document,
    )
    names = await _names(conn, {r["unit_id"] for r in rows})
    return [_task(r, names) for r in rows]


async def _names(conn: asyncpg.Connection, unit_ids: set[str | None]) -> dict[str, str]:
    wanted = sorted(u for u in unit_ids if u is not None)
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT unit_id, name FROM reporting.units WHERE unit_id = ANY($1::text[])", wanted
    )
    return {r["unit_id"]: r["name"] for r in rows if r["name"]}


def _tally(row: asyncpg.Record, key: str | None, name: str | None) -> Tally:
    return Tally(
        key,
        name,
        row["open"],
        row["due_soon"],
        row["overdue"],
        row["most_days"],
        row["on_time"],
        row["late"],
        row["overdue_due"],
    )


def _task(row: asyncpg.Record, names: dict[str, str]) -> TaskLine:
    return TaskLine(
        row["task_id"],
        row["unit_id"],
        names.get(row["unit_id"]),
        row["assigned_by"],
        row["source_document"],
        row["title"],
        row["assigned_on"],
        row["due_on"],
        row["completed_on"],
        row["status"],
        row["days_overdue"],
        row["days_late"],
    )
