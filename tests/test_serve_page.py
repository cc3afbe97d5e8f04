"""The reporting page (``vanphong serve``) in headless Chromium, as a person uses it: it shows
``activity_summary``'s figures beside a year earlier, draws its four charts with the vendored
ECharts, switches language, keeps the selection in the URL, and explains bad input. Chromium is
the system's, driven by playwright (tests/test_operator_page.py)."""

from __future__ import annotations

import urllib.parse
from datetime import date
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.conftest import Env
from tests.test_operator_page import chromium_tab, off_the_page_thread
from tests.test_serve import Served, load, serving
from vanphong.core.semantics import METRICS

# What the page shows, read from its DOM.
PAGE_STATE = """() => ({
  state: document.body.dataset.state,
  error: document.body.dataset.error || null,
  lang: document.documentElement.lang,
  title: document.querySelector('h1').textContent,
  heading: document.getElementById('heading').textContent,
  message: document.getElementById('message').hidden ? null
           : document.getElementById('message').textContent,
  summary: document.getElementById('summary').textContent,
  metrics: Object.fromEntries([...document.querySelectorAll('#metrics tbody tr')]
             .map(r => [r.dataset.metric, Number(r.dataset.value)])),
  previous: Object.fromEntries([...document.querySelectorAll('#metrics tbody tr')]
             .map(r => [r.dataset.metric, Number(r.dataset.previous)])),
  shown: Object.fromEntries([...document.querySelectorAll('#metrics tbody tr')]
             .map(r => [r.dataset.metric, r.querySelector('td.now').textContent])),
  labels: [...document.querySelectorAll('#metrics tbody tr td:first-child')]
             .map(t => t.textContent),
  charts: Object.fromEntries([...document.querySelectorAll('.chart')]
             .map(c => [c.id, c.querySelectorAll('canvas').length])),
  history: [...document.querySelectorAll('#history tbody tr')].map(r => r.dataset.relation),
  unit: document.getElementById('unit').value,
  csv: document.querySelectorAll('#download-csv a').length,
})"""


def open_page(page: Page, url: str) -> dict[str, Any]:
    """Load ``url`` and return the page's state once it has answered (or refused)."""
    page.goto(url)
    page.wait_for_function(
        "['ready', 'error', 'idle'].includes(document.body.dataset.state)", timeout=30_000
    )
    state: dict[str, Any] = page.evaluate(f"({PAGE_STATE})()")
    return state


def figures(env: Env, unit: str, first: date, last: date, consolidated: bool) -> dict[str, int]:
    row = off_the_page_thread(
        env.fetch,
        "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
        unit,
        first,
        last,
        consolidated,
    )[0]
    return {m: int(row[m]) for m in METRICS}


def test_the_page_shows_the_figures_of_activity_summary_and_draws_its_charts(
    env: Env, tmp_path: Path
) -> None:
    load(env)
    with serving(env, tmp_path) as port, chromium_tab() as tab:
        served = Served(env, port)
        state = open_page(tab.page, served.url("/", unit="vptu", year="2024"))
        assert state["state"] == "ready", state
        now = figures(env, "vptu", date(2024, 1, 1), date(2024, 12, 31), False)
        assert state["metrics"] == now and now["documents_issued"] > 0
        assert state["previous"] == figures(
            env, "vptu", date(2023, 1, 1), date(2023, 12, 31), False
        )
        issued = f"{now['documents_issued']:,}".replace(",", ".")
        assert state["shown"]["documents_issued"] == issued
        assert (
            state["summary"].startswith("Năm 2024, ") and f" {issued} văn bản" in state["summary"]
        )
        assert state["charts"] == {
            "chart-monthly": 1,
            "chart-types": 1,
            "chart-kinds": 1,
            "chart-tasks": 1,
        }
        assert sorted(state["history"]) == ["predecessor", "predecessor", "successor"]
        assert state["labels"][0] == "Văn bản ban hành" and state["csv"] == 6
        tab.page.screenshot(path=tmp_path / "serve.png", full_page=True)
        assert tab.errors == []


def test_the_language_switch_and_the_form_keep_the_selection_in_the_url(
    env: Env, tmp_path: Path
) -> None:
    load(env)
    with serving(env, tmp_path) as port, chromium_tab() as tab:
        page = tab.page
        served = Served(env, port)
        open_page(page, served.url("/", unit="vptu", year="2024"))
        page.click("#lang-en")
        page.wait_for_function("document.body.dataset.state === 'ready'", timeout=30_000)
        state = page.evaluate(f"({PAGE_STATE})()")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))
        assert query == {"unit": "vptu", "year": "2024", "lang": "en"}
        assert (state["lang"], state["title"]) == ("en", "Activity report")
        assert state["labels"][0] == "Documents issued" and state["summary"].startswith("In 2024")
        assert state["metrics"] == figures(env, "vptu", date(2024, 1, 1), date(2024, 12, 31), False)

        # Choose another unit, a term and the consolidated basis with the form.
        page.select_option("#unit", "tu")
        page.check("input[name=mode][value=term]")
        page.fill("#term", "2023-2025")
        page.check("input[name=basis][value=consolidated]")
        page.click("#choose button[type=submit]")
        page.wait_for_url("**term=2023-2025**")
        page.wait_for_function("document.body.dataset.state === 'ready'", timeout=30_000)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))
        assert query == {"unit": "tu", "term": "2023-2025", "basis": "consolidated", "lang": "en"}
        shared = page.url
        consolidated = figures(env, "tu", date(2023, 1, 1), date(2025, 12, 31), True)
        assert page.evaluate(f"({PAGE_STATE})()")["metrics"] == consolidated

        # The link alone shows the same report, and the form shows the same selection.
        again = open_page(page, shared)
        assert again["metrics"] == consolidated and again["unit"] == "tu"
        assert page.input_value("#term") == "2023-2025"
        assert page.is_checked("input[name=basis][value=consolidated]")
        assert tab.errors == []


def test_an_unknown_unit_and_a_reversed_range_show_a_message_not_a_traceback(
    env: Env, tmp_path: Path
) -> None:
    with serving(env, tmp_path) as port, chromium_tab() as tab:
        served = Served(env, port)
        state = open_page(tab.page, served.url("/", unit="nobody", year="2024"))
        assert (state["state"], state["error"]) == ("error", "unknown_unit")
        assert state["message"] == (
            "Không tìm thấy đơn vị “nobody”: đơn vị này chưa đăng ký và chưa có hoạt động nào."
        )
        state = open_page(
            tab.page,
            served.url("/", unit="vptu", **{"from": "2024-12-31", "to": "2024-01-01"}, lang="en"),
        )
        assert state["error"] == "reversed_range" and "reversed" in state["message"]
        state = open_page(tab.page, served.url("/", unit="vptu", year="2024x"))
        assert state["error"] == "malformed_year" and "“2024x”" in state["message"]
        assert "Traceback" not in tab.page.content()
        state = open_page(tab.page, served.url("/"))
        assert state["state"] == "idle" and state["message"] == "Hãy chọn một đơn vị và kỳ báo cáo."
        assert tab.errors == []
