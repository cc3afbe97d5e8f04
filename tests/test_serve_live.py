"""The figures move as they land (issue 19 part 3): an open report in Chromium, logged in as a
province user through Keycloak, changes its number in place when an event published to Kafka
is committed by the worker (the sink's NOTIFY, the page's one LISTEN connection, Server-Sent
Events), with no reload and a "cập nhật lúc" mark; another province's event changes nothing
it shows, and its stream of another province's unit is refused. Many open streams share one
listening connection and one query per distinct report."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.conftest import Env, wait_for
from tests.test_operator_page import chromium_tab, off_the_page_thread
from tests.test_read_side import document
from tests.test_serve_login import (  # noqa: F401 (site: the fixture)
    Site,
    fetch_in_page,
    log_in,
    publish,
    site,
    summary,
)

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
