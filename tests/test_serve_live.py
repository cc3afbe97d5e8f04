"""The figures move as they land (issue 19 part 3): an open report in Chromium, logged in as a
province user through Keycloak, changes its number in place when an event published to Kafka
is committed by the worker (the sink's NOTIFY, the page's one LISTEN connection, Server-Sent
Events), with no reload and a "cập nhật lúc" mark; another province's event changes nothing
it shows, and its stream of another province's unit is refused. Many open streams share one
listening connection and one query per distinct report."""

from __future__ import annotations

import json
import socket
import time
from datetime import date
from pathlib import Path
from typing import Any

from tests.conftest import Env, get, wait_for
from tests.test_operator_page import chromium_tab, off_the_page_thread
from tests.test_read_side import document
from tests.test_serve import load, serving
from tests.test_serve_login import (  # noqa: F401 (site: the fixture)
    Site,
    fetch_in_page,
    log_in,
    publish,
    site,
    summary,
)
from vanphong.ground.dsn import parse_dsn

DOCS = "#metrics tr[data-metric=documents_issued]"


def test_an_open_report_follows_an_event_published_to_kafka(
    site: Site,  # noqa: F811 (the fixture, imported above)
    env: Env,
) -> None:
    with chromium_tab() as tab:
        page = tab.page
        state = log_in(page, site.url("/?unit=vl_vp&year=2024"), "vinhlong")
        assert state["state"] == "ready", state
        before = state["metrics"]["documents_issued"]
        page.wait_for_function("Number(document.body.dataset.updates) >= 1", timeout=30_000)
        assert page.evaluate("document.getElementById('updated').textContent").startswith(
            "cập nhật lúc "
        )
        page.evaluate("window.notReloaded = true")
        shown = page.evaluate("Number(document.body.dataset.updates)")

        # another province's event: the page is not sent anything for it
        theirs = summary(env, "ct_vp")["documents_issued"]
        off_the_page_thread(
            publish, env, [document("live-ct-1", "ct_vp", date(2024, 8, 1), 600, True)]
        )
        wait_for(
            lambda: summary(env, "ct_vp")["documents_issued"] == theirs + 1,
            60,
            "the worker to commit Cần Thơ's document",
        )
        # then one of its own: the number changes in place, with no reload
        off_the_page_thread(
            publish, env, [document("live-vl-1", "vl_vp", date(2024, 8, 2), 600, True)]
        )
        page.wait_for_function(
            f"document.querySelector('{DOCS}').dataset.value === '{before + 1}'", timeout=60_000
        )
        assert page.evaluate("window.notReloaded") is True
        assert page.evaluate(f"document.querySelector('{DOCS} td.now').textContent") == str(
            before + 1
        )
        assert page.evaluate("Number(document.body.dataset.updates)") == shown + 1
        now: dict[str, Any] = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#metrics tbody tr')]"
            ".map(r => [r.dataset.metric, Number(r.dataset.value)]))"
        )
        assert now == summary(env, "vl_vp")
        # the stream of another province's unit is refused, not opened
        refused = fetch_in_page(page, site.url("/api/live?unit=ct_vp&year=2024"))
        assert refused["status"] in (403, 404), refused
        assert tab.errors == []


def _open_stream(port: int, query: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=60)
    conn.sendall(
        f"GET /api/live?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    return conn


def _read_until(conn: socket.socket, seen: bytes, needle: bytes, count: int) -> bytes:
    """Read the stream until ``needle`` has come ``count`` times, within 60 s (keep-alive
    comments come every 15 s, so the socket's own timeout would never fire)."""
    deadline = time.monotonic() + 60
    while seen.count(needle) < count:
        assert time.monotonic() < deadline, f"no {needle!r} #{count} within 60 s: {seen[-300:]!r}"
        chunk = conn.recv(65536)
        assert chunk, f"the stream ended after {seen[-300:]!r}"
        seen += chunk
    return seen


def test_fifty_open_pages_share_one_listener_and_all_see_the_change(
    env: Env, tmp_path: Path
) -> None:
    load(env)
    query = "unit=vptu&year=2024"
    with serving(env, tmp_path) as port:
        status, body = get(port, f"/api/report?{query}")
        assert status == 200, body
        before = json.loads(body)["metrics"]["documents_issued"]
        streams = [_open_stream(port, query) for _ in range(50)]
        try:
            received = [_read_until(s, b"", b"event: report", 1) for s in streams]
            database = parse_dsn(env.settings.database_url).database
            # 50 streams, and still the pool (at most 4) and the one listening connection
            # (pg_stat_activity hides other roles' queries from the owner, not their count)
            page_connections = env.fetch(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
                " AND usename = 'vanphong_reporting'",
                database,
            )[0][0]
            assert 2 <= page_connections <= 5
            # (before vptu merged into tu on 2024-03-01: its own figures, attributed)
            publish(env, [document("live-50", "vptu", date(2024, 1, 22), 600, True)])
            for i, conn in enumerate(streams):
                received[i] = _read_until(conn, received[i], b"event: report", 2)
                last = received[i].rsplit(b"event: report\ndata: ", 1)[1].split(b"\n\n", 1)[0]
                message = json.loads(last)
                assert message["report"]["metrics"]["documents_issued"] == before + 1
                assert message["updated_at"].count(":") == 2
        finally:
            for conn in streams:
                conn.close()
