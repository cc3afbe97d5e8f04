"""The reporting page knows who is looking (issue 19 part 2): people log in through the local
stack's Keycloak (``vanphong stack up --keycloak``; ``make test`` starts it) in Chromium, with
the authorization code flow and PKCE; a national user sees every province, a province user
only theirs (PostgreSQL enforces it: the page reads as the province's reader), a user without
a province sees nothing and is told why; every route and download refuses a request without a
session; logout ends the session at the page and at Keycloak; each report request leaves an
audit line.

The history: units of two provinces whose names are the realm's province groups (Vĩnh Long,
Cần Thơ), published to Kafka and committed by a worker, and a province reader of each made by
``vanphong access grant-province``."""

from __future__ import annotations

import http.client
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from testkit.history import to_message
from tests.conftest import VANPHONG, Env
from tests.test_operator_page import chromium_tab, off_the_page_thread
from tests.test_read_side import _at, _common, document, meeting
from tests.test_serve import serving
from tests.test_serve_page import PAGE_STATE
from vanphong.core.semantics import METRICS
from vanphong.deploy.local.config import StackPaths
from vanphong.deploy.local.keycloak import CLIENT_SECRET, KeycloakConfig, keycloak_probe

VL, CT = "Vĩnh Long", "Cần Thơ"
UNITS = {"vl_vp": VL, "vl_tc": VL, "ct_vp": CT}


def unit(unit_id: str, province: str) -> dict[str, Any]:
    return _common("unit.registered", unit_id, 1, False, _at(date(2018, 1, 2), 1)) | {
        "name": f"Văn phòng {unit_id}",
        "kind": "OFFICE",
        "parent_unit_id": None,
        "province": province,
    }


def history() -> list[dict[str, Any]]:
    events = [unit(u, p) for u, p in UNITS.items()]
    for i, unit_id in enumerate(UNITS):
        for n in range(3 + i):
            day = date(2024, 2 + n, 10 + i)
            events.append(document(f"doc-{unit_id}-{n}", unit_id, day, 600, n % 2 == 0))
            events.append(meeting(f"mtg-{unit_id}-{n}", unit_id, day, 660, 10 + n))
    return events


def issuer(env: Env) -> str:
    """The local stack's Keycloak realm, which must be running: the test never skips."""
    cfg = KeycloakConfig.from_settings(env.settings, StackPaths(Path(env.settings.stack_dir)))
    try:
        keycloak_probe(cfg, timeout=10)
    except (OSError, ValueError) as exc:
        raise AssertionError(
            f"Keycloak does not answer at {cfg.issuer} ({exc}): run `vanphong stack up"
            " --keycloak` (make test does)"
        ) from exc
    return cfg.issuer


@dataclass
class Site:
    env: Env
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def audit(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if '"report_request"' in line]


def vanphong(env: Env, *args: str) -> None:
    done = subprocess.run(
        [str(VANPHONG), *args], env=env.workers.env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def publish(env: Env, events: list[dict[str, Any]]) -> None:
    messages = [to_message(e) for e in events]
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])


@pytest.fixture
def site(env: Env, tmp_path: Path) -> Iterator[Site]:
    publish(env, history())
    env.workers.start()
    env.wait_caught_up()
    prefix = env.settings.topic_prefix
    roles = {VL: f"{prefix}_vl", CT: f"{prefix}_ct"}
    for province, role in roles.items():
        vanphong(env, "access", "grant-province", role, "--province", province)
    extra = {
        "VANPHONG_OIDC_ISSUER": issuer(env),
        "VANPHONG_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "VANPHONG_LOG_FORMAT": "json",
    }
    try:
        with serving(env, tmp_path, extra) as port:
            yield Site(env, port, tmp_path / "serve.log")
    finally:
        for role in roles.values():
            subprocess.run(
                [str(VANPHONG), "access", "revoke", role],
                env=env.workers.env(),
                capture_output=True,
                timeout=120,
            )
            env.fetch(f'DROP ROLE IF EXISTS "{role}"')


def log_in(page: Page, url: str, user: str) -> dict[str, Any]:
    """Open ``url``: the page sends the browser to Keycloak's form; log in as ``user`` (whose
    password is the user name in the local realm) and return the page's state once it has
    answered."""
    page.goto(url)
    page.wait_for_selector("#username", timeout=60_000)
    assert page.url.startswith("http://127.0.0.1:8180/realms/vanphong/"), page.url
    assert "code_challenge_method=S256" in page.url
    page.fill("#username", user)
    page.fill("#password", user)
    page.click("#kc-login")
    page.wait_for_url(lambda u: u.startswith(url.split("?")[0]), timeout=60_000)
    page.wait_for_function(
        "document.body && ['ready', 'error', 'idle'].includes(document.body.dataset.state)"
        " && document.body.dataset.scope !== undefined",
        timeout=60_000,
    )
    state: dict[str, Any] = page.evaluate(f"({PAGE_STATE})()")
    state["who"] = page.evaluate("document.getElementById('who')?.dataset.username ?? null")
    state["units"] = page.evaluate(
        "[...document.querySelectorAll('#unit option')].map(o => o.value).filter(v => v)"
    )
    return state


def summary(env: Env, unit_id: str) -> dict[str, int]:
    row = off_the_page_thread(
        env.fetch,
        "SELECT * FROM reporting.activity_summary($1, $2, $3, false)",
        unit_id,
        date(2024, 1, 1),
        date(2024, 12, 31),
    )[0]
    return {m: int(row[m]) for m in METRICS}


def fetch_in_page(page: Page, url: str) -> dict[str, Any]:
    """A request with the page's session cookie (what a download link does)."""
    response = page.request.get(url)
    return {"status": response.status, "body": response.body()}


def test_each_user_sees_their_own_after_logging_in_through_keycloak(
    site: Site, tmp_path: Path
) -> None:
    report = "/?unit={}&year=2024"
    with chromium_tab() as tab:  # the national office: every province
        state = log_in(tab.page, site.url(report.format("ct_vp")), "trunguong")
        assert state["who"] == "trunguong"
        assert state["state"] == "ready", state
        assert state["metrics"] == summary(site.env, "ct_vp")
        assert set(UNITS) <= set(state["units"])
        tab.page.screenshot(path=tmp_path / "login-national.png")
        assert tab.errors == []

    for user, mine, other in (("vinhlong", "vl_tc", "ct_vp"), ("cantho", "ct_vp", "vl_vp")):
        with chromium_tab() as tab:
            page = tab.page
            state = log_in(page, site.url(report.format(mine)), user)
            assert state["who"] == user and state["state"] == "ready", state
            assert state["metrics"] == summary(site.env, mine)
            assert set(state["units"]) == {u for u, p in UNITS.items() if p == UNITS[mine]}
            # another province's unit: refused by PostgreSQL, said on the page
            page.goto(site.url(report.format(other)))
            page.wait_for_function("document.body.dataset.state === 'error'", timeout=30_000)
            assert page.evaluate("document.body.dataset.error") in ("not_your_unit", "unknown_unit")
            # the downloads with the session: theirs yes, the other province's no
            mine_csv = fetch_in_page(page, site.url(f"/api/export.csv?unit={mine}&year=2024"))
            assert mine_csv["status"] == 200, mine_csv
            other_xlsx = fetch_in_page(page, site.url(f"/api/export.xlsx?unit={other}&year=2024"))
            assert other_xlsx["status"] in (403, 404), other_xlsx
            board = fetch_in_page(page, site.url("/api/board?year=2024"))  # the second tab
            assert board["status"] == 200, board
            assert tab.errors == []

    with chromium_tab() as tab:  # no province: nothing, and why
        state = log_in(tab.page, site.url(report.format("vl_vp")), "khach")
        assert state["state"] == "error" and state["metrics"] == {}, state
        assert "chưa được gán tỉnh" in (state["message"] or ""), state
        assert state["units"] == []

    audit = site.audit()
    seen = {(a["who"].split(" ")[0], a["unit"], a["format"]) for a in audit}
    assert ("vinhlong", "vl_tc", "csv:metrics") in seen, audit
    assert ("cantho", "vl_vp", "xlsx") in seen, audit
    assert ("trunguong", "ct_vp", "json") in seen, audit
    assert ("cantho", "*", "board:json") in seen, audit
    assert all(a["period"] == "2024-01-01..2024-12-31" for a in audit)


def test_logout_ends_the_session_at_the_page_and_at_keycloak(site: Site) -> None:
    with chromium_tab() as tab:
        page = tab.page
        state = log_in(page, site.url("/?unit=vl_vp&year=2024"), "vinhlong")
        assert state["state"] == "ready", state
        (cookie,) = [c for c in page.context.cookies() if c["name"] == "vanphong_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert cookie["expires"] > 0 and not cookie["secure"]  # an expiry; http: not Secure
        page.click("#logout")
        page.wait_for_selector("body[data-state=logged-out]", timeout=30_000)
        assert fetch_in_page(page, site.url("/api/units"))["status"] == 401
        page.goto(site.url("/?unit=vl_vp&year=2024"))
        # Keycloak asks again: its session ended too (else it would send the browser back)
        page.wait_for_selector("#username", timeout=30_000)
        assert tab.errors == []


def _routes() -> set[str]:
    """Every route of the page's application (so that a new one cannot go untested)."""
    from vanphong.ground.settings import Settings
    from vanphong.reporting.page.app import make_application
    from vanphong.reporting.page.auth import make_auth

    settings = Settings(oidc_issuer="http://127.0.0.1:1/realms/x")
    application = make_application(None, settings, make_auth(settings))  # type: ignore[arg-type]
    found = set()
    for resource in application.router.resources():
        info = resource.get_info()
        found.add(info.get("path") or info.get("formatter") or info.get("prefix", ""))
    return found


def test_every_route_and_download_refuses_a_request_without_a_session(site: Site) -> None:
    query = "?unit=vl_vp&year=2024"
    public = {"/auth/login", "/auth/callback", "/auth/logout", "/auth/logged-out", "/healthz"}
    routes = _routes() - public
    assert {"/", "/api/report", "/api/export.csv", "/api/export.xlsx", "/api/units"} <= routes
    for route in sorted(routes):
        path = route.rstrip("/") + "/page.js" if route == "/static" else route
        conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
        conn.request("GET", path + query, headers={"Cookie": "vanphong_session=forged"})
        response = conn.getresponse()
        body = response.read()
        if path.startswith(("/api/", "/static/")):
            assert response.status == 401, (path, response.status, body[:200])
            assert json.loads(body)["error"]["code"] == "login_required"
        else:
            assert response.status == 302, (path, response.status)
            assert response.getheader("Location", "").startswith("/auth/login?next=")
        conn.close()
    with urllib.request.urlopen(site.url("/healthz"), timeout=30) as ok:
        assert ok.read() == b"ok\n"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(site.url("/api/export.xlsx" + query), timeout=30)
    assert refused.value.code == 401
    assert site.audit() == []  # nothing was reported to anyone


def test_without_a_login_the_page_listens_beyond_loopback_only_when_told(
    env: Env, tmp_path: Path
) -> None:
    refused = subprocess.run(
        [str(VANPHONG), "serve", "--host", "0.0.0.0", "--port", "0"],
        env={**env.workers.env(), "VANPHONG_OIDC_ISSUER": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stderr
    assert "refusing to listen on 0.0.0.0 without a login" in refused.stderr
    extra = {"VANPHONG_OIDC_ISSUER": "", "VANPHONG_SERVE_HOST": "0.0.0.0"}
    with serving(env, tmp_path, extra, ["--no-auth"]) as port:
        ok = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/units", timeout=30)
        assert ok.status == 200  # open, as asked
        ok.close()
    assert "--no-auth: 0.0.0.0" in (tmp_path / "serve.log").read_text()
