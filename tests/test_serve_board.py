"""The task follow-up board's tab of ``vanphong serve`` (issue 20) against the real stack: the
tab and its scripts are served beside the report's, its JSON is the board of
``reporting.task_followup``, a source document shows its tasks, the downloads are CSV and XLSX,
and bad input gets a 4xx JSON answer. The states themselves: tests/test_task_board.py."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import Env, get
from tests.test_read_side import write
from tests.test_serve import serving
from tests.test_task_board import SOURCE, Tasks


def _get_json(port: int, path: str, **query: str) -> dict[str, Any]:
    status, body = get(port, f"{path}?{urllib.parse.urlencode(query)}")
    assert status == 200, body
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def _bytes(port: int, path: str, **query: str) -> bytes:
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def _rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    keys = [c["key"] for c in table["columns"]]
    return [dict(zip(keys, row, strict=True)) for row in table["rows"]]


@pytest.mark.integration
def test_the_board_tab_answers_what_is_overdue_who_has_it_and_since_when(
    env: Env, tmp_path: Path
) -> None:
    t = Tasks(env)
    write(
        env,
        [
            t.assigned("late-report", "u1", -6),
            t.assigned("soon", "u1", 3, source="12-CV/VPTU"),
            t.assigned("done", "u2", -2, by="Thường trực"),
            t.completed("done", "u2", -3),
        ],
    )
    query = {
        "from": (t.today - timedelta(days=60)).isoformat(),
        "to": (t.today + timedelta(days=30)).isoformat(),
    }
    with serving(env, tmp_path) as port:
        status, page = get(port, "/board")
        assert status == 200 and 'id="tabs"' in page and "/static/board.js" in page
        for script in ("/static/board.js", "/static/tabs.js"):
            assert get(port, script)[0] == 200, script
        status, report_page = get(port, "/")
        assert status == 200 and 'href="/board"' in report_page  # the report's tab bar

        board = _get_json(port, "/api/board", **query)
        assert board["today"] == t.today.isoformat()
        tables = {table["key"]: table for table in board["tables"]}
        assert list(tables) == ["by_unit", "by_body", "overdue", "documents"]
        assert tables["overdue"]["title"] == "Nhiệm vụ quá hạn"
        (overdue,) = _rows(tables["overdue"])
        assert (overdue["task_id"], overdue["unit_id"], overdue["days_overdue"]) == (
            "late-report",
            "u1",
            6,
        )
        assert overdue["due_on"] == (t.today - timedelta(days=6)).isoformat()
        assert overdue["status"] == "Quá hạn" and overdue["source_document"] == SOURCE
        units = {row["unit_id"]: row for row in _rows(tables["by_unit"])}
        assert (units["u1"]["overdue"], units["u1"]["due_within_7_days"]) == (1, 1)
        assert (units["u2"]["done_on_time"], units["u2"]["on_time_rate"]) == (1, 100)
        english = _get_json(port, "/api/board", lang="en", **query)
        assert english["tables"][2]["title"] == "Overdue tasks"

        tasks = _get_json(port, "/api/board/document", document=SOURCE)
        assert [row["task_id"] for row in _rows(tasks)] == ["late-report", "done"]

        csv_text = _bytes(port, "/api/board/export.csv", table="overdue", **query)
        lines = csv_text.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("Mã nhiệm vụ,Nhiệm vụ,Mã đơn vị")
        assert lines[1].startswith("late-report,") and len(lines) == 2
        document_csv = _bytes(
            port, "/api/board/export.csv", table="document_tasks", document="12-CV/VPTU"
        )
        assert "soon" in document_csv.decode("utf-8-sig")
        book = openpyxl.load_workbook(io.BytesIO(_bytes(port, "/api/board/export.xlsx", **query)))
        assert book.sheetnames == [
            "Theo đơn vị chủ trì",
            "Theo cơ quan giao",
            "Nhiệm vụ quá hạn",
            "Theo văn bản giao",
        ]
        sheet = book["Nhiệm vụ quá hạn"]
        assert sheet["A2"].value == "late-report" and sheet["K2"].value == 6

        for path, bad, code in [
            ("/api/board/export.csv", {"table": "nope"}, "bad_table"),
            ("/api/board/document", {}, "missing_document"),
            ("/api/board", {"year": "20x4"}, "malformed_year"),
        ]:
            status, body = get(port, f"{path}?{urllib.parse.urlencode(bad)}")
            assert status == 400, (path, body)
            error = json.loads(body)["error"]
            assert error["code"] == code and error["message"], (path, error)
