"""The operator's page at ``/`` in headless Chromium: it loads, shows the topics, and updates.

Chromium is driven over the DevTools protocol with aiohttp's websocket client (no extra test
dependency). Debian's package: ``apt-get install -y chromium``; without it the test is skipped.

Also a tool: ``python -m tests.test_operator_page URL OUT.png`` saves a screenshot of a page.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from schemas.catalog import EVENT_TYPES
from tests.conftest import Env
from tests.history import documents_and_meetings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = (1440, 900)  # a laptop screen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """One headless Chromium with one page, spoken to over the DevTools protocol."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        session: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
    ) -> None:
        self.proc, self.session, self.ws = proc, session, ws
        self.ids = itertools.count(1)
        self.exceptions: list[str] = []  # uncaught JavaScript errors on the page

    @classmethod
    async def launch(cls, executable: str, profile: Path) -> Browser:
        port = _free_port()
        proc = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",  # root in CI and containers
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        session = aiohttp.ClientSession()
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/json/list") as r:
                        pages = [t for t in await r.json() if t["type"] == "page"]
                    if pages:
                        break
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
                await asyncio.sleep(0.2)
            ws = await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        except BaseException:
            await session.close()
            proc.kill()
            proc.wait()
            raise
        browser = cls(proc, session, ws)
        await browser.call("Runtime.enable")
        await browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=VIEWPORT[0],
            height=VIEWPORT[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        return browser

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive(), 30)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"devtools connection closed: {message.type}")
            data = json.loads(message.data)
            if data.get("method") == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                self.exceptions.append(
                    details.get("exception", {}).get("description") or details.get("text", "")
                )
            if data.get("id") == call_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                result: dict[str, Any] = data.get("result", {})
                return result

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float, what: str) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = await self.evaluate(expression)
            except RuntimeError as exc:  # the page is still loading
                last = str(exc)
            else:
                if last:
                    return last
            await asyncio.sleep(0.25)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# What the page shows, read from its DOM.
PAGE_STATE = """(() => {
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
})()"""


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)"
)
def test_the_operator_page_shows_the_topics_and_updates_live(env: Env, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    port = _free_port()
    env.workers.extra_env["VANPHONG_WEB_PORT"] = str(port)
    first = documents_and_meetings(seed=41, documents=200, meetings=40)
    second = documents_and_meetings(seed=42, documents=150, meetings=30)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in first])
    env.workers.start()
    env.wait_caught_up()

    async def session() -> None:
        browser = await Browser.launch(CHROMIUM, tmp_path / "profile")
        try:
            await browser.open(f"http://127.0.0.1:{port}/")
            state = await browser.wait_for(
                f"(() => {{ const s = {PAGE_STATE}; return s.consumed === {len(first)}"
                " && s.chips > 0 ? s : null; })()",
                30,
                "the page to show the first messages",
            )
            assert state["topics"] == [e.topic for e in EVENT_TYPES]
            assert state["chips"] == sum(e.partitions for e in EVENT_TYPES)
            assert not state["offline"]
            assert "OK" in state["status"]
            assert state["dead"] == dict(Counter(m.reason for m in first if m.reason))
            await browser.screenshot(tmp_path / "operator-page-1.png")

            await asyncio.to_thread(
                env.send_raw, [(env.topic(m.topic), m.key, m.value) for m in second]
            )
            total = len(first) + len(second)
            later = await browser.wait_for(
                f"(() => {{ const s = {PAGE_STATE}; return s.consumed === {total}"
                f" && s.lines === {len(EVENT_TYPES)} ? s : null; }})()",
                60,
                "the page to show the new messages without a reload",
            )
            assert later["refreshes"] > state["refreshes"]
            assert later["dead"] == dict(Counter(m.reason for m in first + second if m.reason))
            await browser.screenshot(tmp_path / "operator-page-2.png")
            assert browser.exceptions == []
        finally:
            await browser.close()

    asyncio.run(session())


async def _screenshot(url: str, out: Path, settle_s: float) -> None:
    assert CHROMIUM is not None, "chromium is not installed"
    with tempfile.TemporaryDirectory() as profile:
        browser = await Browser.launch(CHROMIUM, Path(profile))
        try:
            await browser.open(url)
            await browser.wait_for("Number(document.body.dataset.refreshes) > 0", 30, "data")
            await asyncio.sleep(settle_s)
            await browser.screenshot(out)
        finally:
            await browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.test_operator_page URL OUT.png")
    asyncio.run(_screenshot(sys.argv[1], Path(sys.argv[2]), float(os.environ.get("SETTLE", "1"))))
