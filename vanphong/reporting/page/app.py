"""The reporting page's web application (aiohttp): the page and its static files, JSON
endpoints, and CSV/XLSX downloads. Read-only: every answer comes from schema ``reporting``
through a pool of the reporting role's connections. Bad input is a 4xx JSON answer naming the
field; a database that cannot be asked is a 503 with one line naming the setting to check;
never a traceback.

Routes: ``/`` (the page), ``/static/…``, ``/api/units``, ``/api/report``,
``/api/export.csv`` (``table=`` one of the report's tables), ``/api/export.xlsx``,
``/api/me`` (who is looking), ``/api/live`` (the report again each time a batch changes it:
live.py), ``/healthz``. With OpenID Connect configured every route but ``/auth/*`` and
``/healthz`` needs a login (auth.py), each request reads as its viewer's province reader
(scope.py), and each report request leaves an audit line: who, unit, period, format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TypeVar

import asyncpg
from aiohttp import web

from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.ground.unreachable import Unreachable
from vanphong.reporting import database, queries
from vanphong.reporting.exports import csv_bytes, xlsx_bytes
from vanphong.reporting.jsonview import report_json, unit_json
from vanphong.reporting.labels import BASES, label
from vanphong.reporting.model import Report, ReportError
from vanphong.reporting.page.auth import AUTH, Auth, expires_at, install, viewer_of
from vanphong.reporting.page.board import add_routes as add_board_routes
from vanphong.reporting.page.live import Subscriber, close_streams, hub_context, stream
from vanphong.reporting.page.responses import STATIC, XLSX, download, json_response, static_page
from vanphong.reporting.page.scope import as_viewer
from vanphong.reporting.page.selection import (
    BadRequest,
    Selection,
    from_report_error,
    language,
    parse,
    period_of,
    table_key,
)
from vanphong.reporting.page.viewer import nothing_message
from vanphong.reporting.tables import BUILDERS

T = TypeVar("T")
audit = get_logger("vanphong.serve.audit")

POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input → 4xx JSON; the database unavailable → 503 JSON; never a traceback."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return json_response(exc.as_json(), exc.status)
    except Unreachable as exc:
        return json_response(
            {"error": {"code": "database_unavailable", "field": "", "message": str(exc)}}, 503
        )


def _today(settings: Settings) -> date:
    return datetime.now(settings.zone).date()


async def _ask(request: web.Request, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``work`` on one of the pool's connections, in a transaction as what the request's viewer
    may read (scope.py); a problem of the database (or its settings) becomes
    :class:`Unreachable`, anything else stays what it is."""
    url, variable = database.reporting_url(request.app[SETTINGS])
    try:
        async with request.app[POOL].acquire() as conn:
            viewer, lang = viewer_of(request), language(request.query)
            return await as_viewer(conn, viewer, lang, work, request.query.get("unit", ""))
    except (ReportError, BadRequest, Unreachable):
        raise
    except Exception as exc:
        problem = database.connection_problem(exc, url, variable)
        if problem is None:
            raise
        raise problem from exc


def _audit(request: web.Request, selection: Selection, form: str) -> None:
    """The audit line of a report request: who, which unit, which period, which format."""
    viewer = viewer_of(request)
    audit.info(
        "report_request",
        who=viewer.who,
        scope=viewer.scope,
        province=viewer.province,
        unit=selection.unit_id,
        period=f"{selection.period.start}..{selection.period.end}",
        basis=selection.basis,
        format=form,
    )


_BOARD_FORMATS = {
    "/api/board": "board:json",
    "/api/board/document": "board:document",
    "/api/board/export.xlsx": "board:xlsx",
}


async def _ask_board(request: web.Request, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """The task board's reads (board.py), each with its audit line: the unit is every unit the
    viewer may see (``*``), or the source document asked about."""
    form = _BOARD_FORMATS.get(request.path) or f"board:csv:{request.query.get('table', '')}"
    viewer = viewer_of(request)
    period = period_of(request.query, _today(request.app[SETTINGS]))
    audit.info(
        "report_request",
        who=viewer.who,
        scope=viewer.scope,
        province=viewer.province,
        unit=request.query.get("document") or "*",
        period=f"{period.start}..{period.end}",
        basis="board",
        format=form,
    )
    return await _ask(request, work)


async def _report(request: web.Request, form: str) -> tuple[Selection, Report]:
    selection = parse(request.query, _today(request.app[SETTINGS]))
    _audit(request, selection, form)
    try:
        report = await _ask(
            request,
            lambda conn: queries.full_report(
                conn, selection.unit_id, selection.period, selection.basis
            ),
        )
    except ReportError as exc:
        raise from_report_error(exc, selection.unit_id, selection.lang) from exc
    return selection, report


async def page(request: web.Request) -> web.StreamResponse:
    return static_page("index.html")


async def api_units(request: web.Request) -> web.Response:
    lang = language(request.query)
    units = await _ask(request, queries.units)
    return json_response(
        {
            "units": [unit_json(u) for u in units],
            "bases": {basis: label(BASES, basis, lang) for basis in BASES},
        }
    )


async def api_report(request: web.Request) -> web.Response:
    selection, report = await _report(request, "json")
    body = report_json(report, selection.lang)
    body["selection"] = selection.query()
    return json_response(body)


def _filename(selection: Selection, suffix: str) -> str:
    """The download's name (:func:`download` makes it safe)."""
    token = selection.period.token.replace("..", "_")
    return f"vanphong-{selection.unit_id}-{token}-{selection.basis}{suffix}"


async def export_csv(request: web.Request) -> web.Response:
    key = table_key(request.query, language(request.query))
    selection, report = await _report(request, f"csv:{key}")
    body = csv_bytes(BUILDERS[key](report, selection.lang), selection.lang)
    return download(body, "text/csv", _filename(selection, f"-{key}.csv"))


async def export_xlsx(request: web.Request) -> web.Response:
    selection, report = await _report(request, "xlsx")
    return download(xlsx_bytes(report, selection.lang), XLSX, _filename(selection, ".xlsx"))


async def api_live(request: web.Request) -> web.StreamResponse:
    """The selected report again each time a committed batch changes it (live.py). Asked once
    first, so that a unit the viewer may not see is refused here, not streamed nothing."""
    selection, _report_now = await _report(request, "live")
    subscriber = Subscriber(viewer_of(request), selection, expires_at(request))
    return await stream(request, subscriber)


async def api_me(request: web.Request) -> web.Response:
    """Who is looking, what they may see, and why not when they may see nothing."""
    viewer = viewer_of(request)
    body = viewer.as_json()
    body["login"] = AUTH in request.app  # False: the page runs without OpenID Connect
    if viewer.scope == "none":
        body["message"] = nothing_message(viewer, language(request.query))
    return json_response(body)


async def healthz(request: web.Request) -> web.Response:
    await _ask(request, lambda conn: conn.fetchval("SELECT 1"))  # public: says "ok" only
    return web.Response(text="ok\n")


def make_application(
    pool: asyncpg.Pool, settings: Settings, auth: Auth | None = None
) -> web.Application:
    application = web.Application(middlewares=[errors])
    application[POOL] = pool
    application[SETTINGS] = settings
    if auth is not None:
        install(application, auth, settings)
    application.router.add_get("/", page)
    application.router.add_static("/static/", STATIC, show_index=False)
    application.router.add_get("/api/units", api_units)
    application.router.add_get("/api/report", api_report)
    application.router.add_get("/api/export.csv", export_csv)
    application.router.add_get("/api/export.xlsx", export_xlsx)
    add_board_routes(application, _ask_board, lambda request: _today(request.app[SETTINGS]))
    application.router.add_get("/api/me", api_me)
    application.router.add_get("/api/live", api_live)
    application.cleanup_ctx.append(hub_context(pool, settings))
    application.on_shutdown.append(close_streams)
    application.router.add_get("/healthz", healthz)
    return application
