"""The task follow-up board (issue 20): ``reporting.task_followup`` (migration 0010) and the
board's sums (vanphong/reporting/board.py), on the real database. Events go through the
worker's own write path (tests/test_read_side.py's ``write``), dated around today in
``VANPHONG_TIMEZONE``, so that each state is what a read today decides: open, due within 7
days, overdue with its days, done on time (also late in the evening of the due day), done late;
and a completion that arrives after the due date moves its task from overdue to done late at
once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.conftest import Env
from tests.test_read_side import write
from vanphong.deploy.local.config import reporting_database_url
from vanphong.reporting.board import (
    Board,
    Tally,
    board,
    document_tasks,
    most_overdue_first,
    on_time_rate,
)
from vanphong.reporting.periods import Period

SOURCE = "05-KH/TU"


def _local(day: date, minutes: int, zone: Any) -> str:
    """``minutes`` after local midnight of ``day``, as UTC ISO 8601."""
    local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minutes)
    return local.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Tasks:
    """Task events dated around ``today`` in the configured time zone."""

    def __init__(self, env: Env) -> None:
        self.zone = env.settings.zone
        self.today = datetime.now(self.zone).date()

    def assigned(
        self,
        task: str,
        unit: str,
        due_in: int,
        *,
        by: str = "Ban Thường vụ",
        source: str | None = SOURCE,
        assigned_ago: int = 40,
    ) -> dict[str, Any]:
        event = {
            "type": "task.assigned",
            "task_id": task,
            "event_id": f"{task}-assigned",
            "occurred_at": _local(self.today - timedelta(days=assigned_ago), 9 * 60, self.zone),
            "source": "board",
            "unit_id": unit,
            "assigned_by": by,
            "title": f"Nhiệm vụ {task}",
            "due_date": (self.today + timedelta(days=due_in)).isoformat(),
        }
        if source is not None:
            event["source_document"] = source
        return event

    def completed(self, task: str, unit: str, days_from_today: int, minutes: int = 600) -> Any:
        return {
            "type": "task.completed",
            "task_id": task,
            "event_id": f"{task}-completed",
            "occurred_at": _local(self.today + timedelta(days=days_from_today), minutes, self.zone),
            "source": "board",
            "unit_id": unit,
        }


def _rows(env: Env) -> dict[str, asyncpg.Record]:
    return {r["task_id"]: r for r in env.fetch("SELECT * FROM reporting.task_followup")}


@pytest.mark.integration
def test_each_task_has_the_state_a_read_today_decides(env: Env) -> None:
    t = Tasks(env)
    write(
        env,
        [
            t.assigned("overdue-3", "u1", -3),
            t.assigned("due-today", "u1", 0),
            t.assigned("due-in-5", "u1", 5),
            t.assigned("due-in-30", "u2", 30, by="Thường trực", source=None),
            t.assigned("on-time", "u2", -10),
            t.completed("on-time", "u2", -12),
            t.assigned("evening-of-due-day", "u2", -10),
            t.completed("evening-of-due-day", "u2", -10, minutes=23 * 60 + 30),
            t.assigned("a-day-late", "u2", -10),
            t.completed("a-day-late", "u2", -9, minutes=30),
        ],
    )
    rows = _rows(env)
    got = {
        task: (r["status"], r["due_within_7_days"], r["days_overdue"], r["days_late"])
        for task, r in rows.items()
    }
    assert got == {
        "overdue-3": ("overdue", False, 3, None),
        "due-today": ("open", True, None, None),
        "due-in-5": ("open", True, None, None),
        "due-in-30": ("open", False, None, None),
        "on-time": ("done_on_time", False, None, None),
        "evening-of-due-day": ("done_on_time", False, None, None),
        "a-day-late": ("done_late", False, None, 1),
    }
    assert rows["overdue-3"]["assigned_by"] == "Ban Thường vụ"
    assert rows["overdue-3"]["source_document"] == SOURCE
    assert rows["due-in-30"]["source_document"] is None
    assert rows["due-in-30"]["assigned_by"] == "Thường trực"
    assert rows["a-day-late"]["completed_on"] == t.today - timedelta(days=9)


@pytest.mark.integration
def test_a_late_completion_moves_an_overdue_task_to_done_late_at_its_commit(env: Env) -> None:
    t = Tasks(env)
    write(env, [t.assigned("late", "u1", -4)])
    assert _rows(env)["late"]["status"] == "overdue"
    write(env, [t.completed("late", "u1", 0)])
    row = _rows(env)["late"]
    assert (row["status"], row["days_overdue"], row["days_late"]) == ("done_late", None, 4)


def _board(env: Env, period: Period, today: date) -> Board:
    async def go() -> Board:
        # as the reporting role: the view is granted like the others
        conn = await asyncpg.connect(reporting_database_url(env.settings))
        try:
            return await board(conn, period, today)
        finally:
            await conn.close()

    return env.run(go())


@pytest.mark.integration
def test_the_board_sums_per_unit_and_per_assigning_body_and_lists_the_overdue(
    env: Env,
) -> None:
    t = Tasks(env)
    write(
        env,
        [
            t.assigned("a", "u1", -3),  # overdue 3 days
            t.assigned("b", "u1", -8, source="12-CV/VPTU"),  # overdue 8 days
            t.assigned("c", "u1", 2),  # due soon
            t.assigned("d", "u2", 20, by="Thường trực"),  # open
            t.assigned("e", "u2", -5, by="Thường trực"),
            t.completed("e", "u2", -6),  # on time
            t.assigned("f", "u2", -5),
            t.completed("f", "u2", -1),  # 4 days late
            t.assigned("old", "u3", -400, assigned_ago=420),
            t.completed("old", "u3", -401),  # on time, due long before the period
        ],
    )
    period = Period("range", t.today - timedelta(days=30), t.today)
    got = _board(env, period, t.today)
    units = {x.key: x for x in got.by_unit}
    assert set(units) == {"u1", "u2"}  # u3: nothing open, nothing due in the period
    u1, u2 = units["u1"], units["u2"]
    assert (u1.open, u1.due_within_7_days, u1.overdue, u1.most_days_overdue) == (1, 1, 2, 8)
    assert (u1.done_on_time, u1.done_late, u1.on_time_rate) == (0, 0, 0)
    assert (u2.open, u2.overdue, u2.done_on_time, u2.done_late, u2.on_time_rate) == (
        1,
        0,
        1,
        1,
        50,
    )
    assert [x.key for x in got.by_unit] == ["u1", "u2"]  # the most overdue first
    bodies = {x.key: x for x in got.by_body}
    assert (bodies["Ban Thường vụ"].overdue, bodies["Ban Thường vụ"].done_late) == (2, 1)
    assert (bodies["Thường trực"].open, bodies["Thường trực"].done_on_time) == (1, 1)
    assert [(x.task_id, x.unit_id, x.days_overdue) for x in got.overdue] == [
        ("b", "u1", 8),
        ("a", "u1", 3),
    ]
    documents = {d.source_document: d for d in got.documents}
    assert (documents[SOURCE].tasks, documents[SOURCE].overdue) == (6, 1)
    assert documents["12-CV/VPTU"].overdue == 1

    async def tasks_of(source: str) -> list[str]:
        conn = await asyncpg.connect(reporting_database_url(env.settings))
        try:
            return [x.task_id for x in await document_tasks(conn, source)]
        finally:
            await conn.close()

    assert env.run(tasks_of(SOURCE)) == ["old", "e", "f", "a", "c", "d"]  # by due date


@pytest.mark.parametrize(
    ("on_time", "late", "overdue", "rate"),
    [(0, 0, 0, None), (1, 1, 0, 50), (2, 0, 1, 67), (0, 3, 0, 0), (5, 0, 0, 100)],
)
def test_the_on_time_rate_counts_overdue_tasks_as_not_on_time(
    on_time: int, late: int, overdue: int, rate: int | None
) -> None:
    assert on_time_rate(on_time, late, overdue) == rate


def _tally(key: str | None, overdue: int, most: int | None, open_: int) -> Tally:
    return Tally(key, None, open_, 0, overdue, most, 0, 0, 0)


def test_the_board_puts_the_most_overdue_first_then_the_longest_then_the_most_open() -> None:
    tallies = [
        _tally("a", 0, None, 9),
        _tally(None, 5, 3, 0),
        _tally("b", 2, 40, 0),
        _tally("c", 2, 10, 1),
        _tally("d", 5, 3, 0),
        _tally("e", 0, None, 1),
    ]
    assert [t.key for t in most_overdue_first(tallies)] == ["d", None, "b", "c", "a", "e"]
