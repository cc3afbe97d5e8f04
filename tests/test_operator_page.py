"""The operator's page at ``/`` in headless Chromium: it loads, shows the topics, and updates.

Chromium is driven with playwright's sync API, pointed at the system's Chromium (Debian's
package, which ``make browser`` installs): ``playwright install`` is never needed, its own
browser builds are not used. Without Chromium the test fails, saying so: it never skips.

While playwright runs, its event loop is the thread's current one, so ``asyncio.run`` (which
``Env`` uses) must run on another thread: :func:`off_the_page_thread`.

Also a tool: ``python -m tests.test_operator_page URL OUT.png`` saves a screenshot of a page.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Page, ViewportSize, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from testkit.history import documents_and_meetings
from tests.conftest import Env
from vanphong.schemas.catalog import EVENT_TYPES

T = TypeVar("T")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}  # a laptop screen


@dataclass
class Tab:
    """A page of the browser, and the uncaught JavaScript errors seen on it."""

    page: Page
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def chromium_tab() -> Iterator[Tab]:
    """One page of a headless system Chromium, closed on the way out."""
    assert CHROMIUM is not None, (
        "chromium is not installed: run `make browser` (as root: apt-get install -y chromium)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Root in CI and containers, where Chromium's sandbox refuses to start: no sandbox
            # (playwright's default too; said here because it matters).
            chromium_sandbox=False,
            args=["--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"],
        )
        try:
            tab = Tab(browser.new_page(viewport=VIEWPORT))
            tab.page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
            yield tab
        finally:
            browser.close()


def off_the_page_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` on another thread and return its result (see the module docstring)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


# What the page shows, read from its DOM.
PAGE_STATE = """() => {
  const rows = [...document.querySelectorAll('#topics tbody tr')];
  return {
    refreshes: Number(document.body.dataset.refreshes),
    status: document.getElementById('status').textContent,
    topics: rows.map(r => r.dataset.topic),
    consumed: rows.reduce((a, r) => a + Number(r.dataset.consumed), 0),
    dead: Object.fromEntries([...document.querySelectorAll('#dead tbody tr[data-reason]')]
                             .map(r => [r.dataset.reason, Number(r.dataset.count)])),
    chips: document.querySelectorAll('#parts .chip[data-partition]').length,
    lines: document.querySelectorAll('#chart polyline').length,
    offline: getComputedStyle(document.getElementById('offline')).display !== 'none',
  };
}"""


def wait_for_state(page: Page, condition: str, timeout_s: float, what: str) -> dict[str, Any]:
    """Wait until ``condition`` (a JavaScript expression over the page's state ``s``) holds, and
    return that state; fail naming ``what`` and the last state seen after ``timeout_s``."""
    try:
        handle = page.wait_for_function(
            f"() => {{ const s = ({PAGE_STATE})(); return ({condition}) ? s : null; }}",
            timeout=timeout_s * 1000,
            polling=250,
        )
    except PlaywrightTimeout as exc:
        last = page.evaluate(f"({PAGE_STATE})()")
        raise AssertionError(
            f"timed out after {timeout_s} s waiting for {what} (last: {last!r})"
        ) from exc
    state: dict[str, Any] = handle.json_value()
    return state


def test_the_operator_page_shows_the_topics_and_updates_live(env: Env, tmp_path: Path) -> None:
    first = documents_and_meetings(seed=41, documents=200, meetings=40)
    second = documents_and_meetings(seed=42, documents=150, meetings=30)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in first])
    port = env.workers.web_port(env.workers.start())
    env.wait_caught_up()

    with chromium_tab() as tab:
        page = tab.page
        page.goto(f"http://127.0.0.1:{port}/")
        state = wait_for_state(
            page,
            f"s.consumed === {len(first)} && s.chips > 0",
            30,
            "the page to show the first messages",
        )
        assert state["topics"] == [e.topic for e in EVENT_TYPES]
        assert state["chips"] == sum(e.partitions for e in EVENT_TYPES)
        assert not state["offline"]
        assert "OK" in state["status"]
        assert state["dead"] == dict(Counter(m.reason for m in first if m.reason))
        page.screenshot(path=tmp_path / "operator-page-1.png")

        off_the_page_thread(env.send_raw, [(env.topic(m.topic), m.key, m.value) for m in second])
        total = len(first) + len(second)
        later = wait_for_state(
            page,
            f"s.consumed === {total} && s.lines === {len(EVENT_TYPES)}",
            60,
            "the page to show the new messages without a reload",
        )
        assert later["refreshes"] > state["refreshes"]
        assert later["dead"] == dict(Counter(m.reason for m in first + second if m.reason))
        page.screenshot(path=tmp_path / "operator-page-2.png")
        assert tab.errors == []


def _screenshot(url: str, out: Path, settle_s: float) -> None:
    with chromium_tab() as tab:
        page = tab.page
        page.goto(url)
        page.wait_for_function("Number(document.body.dataset.refreshes) > 0", timeout=30_000)
        page.wait_for_timeout(settle_s * 1000)  # a tool, not a test: let the chart settle
        page.screenshot(path=out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.test_operator_page URL OUT.png")
    _screenshot(sys.argv[1], Path(sys.argv[2]), float(os.environ.get("SETTLE", "1")))
