"""Small things seen on the reporting page (issue 19 part 4), in an English Chromium (whose
``<input type=date>`` would show mm/dd/yyyy): the period's days are shown and typed dd/mm/yyyy
whatever the browser's locale, a day that does not exist is refused on the page, and a period
longer than a year is compared with the period of the same length just before it, which the
page says (not "a year earlier", which would overlap it by all but a year)."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.conftest import Env
from tests.test_operator_page import CHROMIUM, VIEWPORT, off_the_page_thread
from tests.test_serve import load, serving
from tests.test_serve_page import figures


@contextlib.contextmanager
def english_page() -> Iterator[Page]:
    assert CHROMIUM is not None, "chromium is not installed: run `make browser`"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            chromium_sandbox=False,
            args=["--disable-gpu", "--disable-dev-shm-usage", "--lang=en-US"],
        )
        try:
            yield browser.new_page(viewport=VIEWPORT, locale="en-US")
        finally:
            browser.close()


def settled(page: Page) -> str:
    page.wait_for_function(
        "document.body && ['ready', 'error', 'idle'].includes(document.body.dataset.state)",
        timeout=30_000,
    )
    return str(page.evaluate("document.body.dataset.state"))


def test_days_are_dd_mm_yyyy_and_a_long_period_is_compared_with_the_one_before(
    env: Env, tmp_path: Path
) -> None:
    load(env)
    with serving(env, tmp_path) as port, english_page() as page:
        base = f"http://127.0.0.1:{port}/"
        page.goto(base + "?unit=vptu&from=2023-03-15&to=2024-02-10")
        assert settled(page) == "ready"
        assert page.evaluate("navigator.language") == "en-US"
        assert page.input_value("#from") == "15/03/2023"
        assert page.input_value("#to") == "10/02/2024"
        assert page.text_content("#head-before") == "Cùng kỳ năm trước (15/03/2022–10/02/2023)"

        # typed the Vietnamese way: the URL gets ISO days, the report those days
        page.fill("#from", "1/1/2024")
        page.fill("#to", "28/02/2025")
        page.click("#choose button[type=submit]")
        page.wait_for_url("**to=2025-02-28**")
        assert settled(page) == "ready"
        query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
        assert (query["from"], query["to"]) == (["2024-01-01"], ["2025-02-28"])
        shown = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#metrics tbody tr')]"
            ".map(r => [r.dataset.metric, Number(r.dataset.previous)]))"
        )
        # 14 months compared with the 14 months before, which do not overlap them
        before = off_the_page_thread(
            figures, env, "vptu", date(2022, 11, 1), date(2023, 12, 31), False
        )
        assert shown == before and before["documents_issued"] > 0
        assert page.text_content("#head-before") == (
            "Kỳ liền trước cùng độ dài (01/11/2022–31/12/2023)"
        )
        note = page.text_content("#comparison-note") or ""
        assert "dài hơn một năm" in note and "cùng độ dài ngay trước" in note
        assert "So với kỳ liền trước cùng độ dài (từ 01/11/2022 đến 31/12/2023)" in (
            page.text_content("#summary") or ""
        )

        # a day that does not exist: said on the page, nothing asked of the server
        url = page.url
        page.fill("#from", "31/02/2024")
        page.click("#choose button[type=submit]")
        page.wait_for_selector("#message.error")
        assert "31/02/2024" in (page.text_content("#message") or "")
        assert page.get_attribute("#from", "aria-invalid") == "true"
        assert page.url == url
