"""The task follow-up board's tab in headless Chromium (issue 20), as a chief of staff uses it on
a Monday: the tab bar leads from the report to the board, the overdue tasks show with their
days overdue (in red), a source document's row opens its tasks, the language switch keeps the
period, and a late completion moves its task to done late on the open board. Chromium is the
system's, driven by playwright (tests/test_operator_page.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.conftest import Env
from tests.test_operator_page import chromium_tab, off_the_page_thread
from tests.test_read_side import write
from tests.test_serve import serving
from tests.test_task_board import SOURCE, Tasks

BOARD_STATE = """() => ({
  state: document.body.dataset.state,
  heading: document.getElementById('heading').textContent,
  tables: [...document.querySelectorAll('#tables table')].map(t => t.id),
  overdue: [...document.querySelectorAll('#table-overdue tbody tr')]
             .map(r => [...r.cells].map(c => c.textContent)),
  late: [...document.querySelectorAll('#table-overdue td.late')].map(c => c.textContent),
  csv: document.querySelectorAll('#download-csv a').length,
  tab: document.getElementById('tab-board').textContent,
})"""


def _state(page: Page) -> dict[str, Any]:
    page.wait_for_function(
        "['ready', 'error'].includes(document.body.dataset.state)", timeout=30_000
    )
    state: dict[str, Any] = page.evaluate(f"({BOARD_STATE})()")
    return state


@pytest.mark.integration
def test_the_board_tab_shows_the_overdue_and_opens_a_documents_tasks(
    env: Env, tmp_path: Path
) -> None:
    t = Tasks(env)
    write(
        env,
        [
            t.assigned("bao-cao-quy", "u1", -9),
            t.assigned("ke-hoach", "u2", 4),
            t.assigned("da-xong", "u2", -1),
            t.completed("da-xong", "u2", -2),
        ],
    )
    start = (t.today - timedelta(days=40)).isoformat()
    end = (t.today + timedelta(days=40)).isoformat()
    with serving(env, tmp_path) as port, chromium_tab() as tab:
        page = tab.page
        page.goto(f"http://127.0.0.1:{port}/?lang=vi")
        page.click("#tab-board")
        page.wait_for_url("**/board?lang=vi")
        state = _state(page)
        assert state["state"] == "ready", state
        assert state["tables"] == [
            "table-by_unit",
            "table-by_body",
            "table-overdue",
            "table-documents",
        ]
        (row,) = state["overdue"]
        assert row[0] == "bao-cao-quy" and row[2] == "u1" and row[10] == "9"
        assert row[7] == (t.today - timedelta(days=9)).strftime("%d/%m/%Y")
        assert "9" in state["late"] and state["csv"] == 4

        page.goto(f"http://127.0.0.1:{port}/board?from={start}&to={end}&lang=en")
        state = _state(page)
        assert state["tab"] == "Task follow-up" and state["state"] == "ready"
        assert state["heading"].startswith("Period ")
        page.click(f"#table-documents tbody tr:has-text('{SOURCE}')")
        page.wait_for_selector("#document:not([hidden]) #table-document_tasks")
        tasks = page.eval_on_selector_all(
            "#table-document_tasks tbody tr", "rows => rows.map(r => r.cells[0].textContent)"
        )
        assert sorted(tasks) == ["bao-cao-quy", "da-xong", "ke-hoach"]
        page.click("#lang-vi")
        page.wait_for_url(f"**/board?from={start}&to={end}&lang=vi")
        assert _state(page)["state"] == "ready"

        # Live: a late completion arrives while the board is open; it leaves the overdue tasks
        # and counts as done late, without a reload (the open document's tasks too).
        page.goto(f"http://127.0.0.1:{port}/board?from={start}&to={end}&refresh=1")
        assert _state(page)["overdue"]
        page.click(f"#table-documents tbody tr:has-text('{SOURCE}')")
        page.wait_for_selector("#document:not([hidden]) #table-document_tasks")
        off_the_page_thread(write, env, [t.completed("bao-cao-quy", "u1", 0)])
        page.wait_for_function(
            "document.querySelectorAll('#table-overdue tbody tr td.num').length === 0"
            " && [...document.querySelectorAll('#table-document_tasks tbody tr')]"
            ".some(r => r.cells[0].textContent === 'bao-cao-quy'"
            " && r.cells[9].textContent === 'Hoàn thành trễ hạn')",
            timeout=30_000,
        )
        assert page.evaluate("document.getElementById('updated').textContent").startswith(
            "cập nhật lúc"
        )
