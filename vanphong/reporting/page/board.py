"""The task follow-up board's tab of the reporting page (issue 20): its page, its JSON and its
downloads, read as the request's viewer like every other route (app.py's ``ask``: the login
and the province rules apply here too).

Routes: ``/board`` (the tab), ``/api/board`` (the board for a period: ``year``, ``term`` or
``from``/``to``; this year by default), ``/api/board/document`` (``document=`` a source
document, or ``without_document=1``: its tasks), ``/api/board/export.csv`` (``table=`` one of
the board's tables, or ``document_tasks`` with the document), ``/api/board/export.xlsx``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from vanphong.reporting.board import Board, TaskLine, board, document_tasks
from vanphong.reporting.board_tables import BOARD_BUILDERS, board_json, table_json, tasks_table
from vanphong.reporting.exports import csv_bytes, tables_xlsx_bytes
from vanphong.reporting.labels import Lang
from vanphong.reporting.page.responses import XLSX, download, json_response, static_page
from vanphong.reporting.page.selection import bad_request, language, period_of
from vanphong.reporting.tables import every_table

T = TypeVar("T")
Ask = Callable[[web.Request, Callable[[asyncpg.Connection], Awaitable[T]]], Awaitable[T]]
Today = Callable[[web.Request], date]


def document_of(params: Mapping[str, str], lang: Lang) -> str | None:
    """The source document asked for; None for the tasks assigned without one."""
    if params.get("without_document") == "1":
        return None
    document = params.get("document", "").strip()
    if not document:
        raise bad_request("missing_document", "document", "", lang)
    return document


def add_routes(application: web.Application, ask: Ask[Any], today: Today) -> None:
    """The board's routes on the page's application; ``ask`` runs a query as the request's
    viewer, ``today`` is the request's day in VANPHONG_TIMEZONE."""

    async def the_board(request: web.Request) -> tuple[Board, Lang]:
        day = today(request)
        period = period_of(request.query, day)
        found: Board = await ask(request, lambda conn: board(conn, period, day))
        return found, language(request.query)

    async def the_tasks(request: web.Request) -> tuple[list[TaskLine], Lang]:
        lang = language(request.query)
        document = document_of(request.query, lang)
        found: list[TaskLine] = await ask(request, lambda conn: document_tasks(conn, document))
        return found, lang

    async def page(request: web.Request) -> web.StreamResponse:
        return static_page("board.html")

    async def api_board(request: web.Request) -> web.Response:
        found, lang = await the_board(request)
        return json_response(board_json(found, lang))

    async def api_document(request: web.Request) -> web.Response:
        tasks, lang = await the_tasks(request)
        return json_response(table_json(tasks_table(tasks, lang), lang))

    async def export_csv(request: web.Request) -> web.Response:
        lang = language(request.query)
        key = request.query.get("table", "by_unit")
        if key == "document_tasks":
            tasks, _ = await the_tasks(request)
            table = tasks_table(tasks, lang)
        elif key in BOARD_BUILDERS:
            found, _ = await the_board(request)
            table = BOARD_BUILDERS[key](found, lang)
        else:
            raise bad_request("bad_table", "table", key, lang)
        return download(csv_bytes(table, lang), "text/csv", f"vanphong-board-{key}.csv")

    async def export_xlsx(request: web.Request) -> web.Response:
        found, lang = await the_board(request)
        return download(
            tables_xlsx_bytes(every_table(BOARD_BUILDERS, found, lang), lang),
            XLSX,
            f"vanphong-board-{found.period.token.replace('..', '_')}.xlsx",
        )

    application.router.add_get("/board", page)
    application.router.add_get("/api/board", api_board)
    application.router.add_get("/api/board/document", api_document)
    application.router.add_get("/api/board/export.csv", export_csv)
    application.router.add_get("/api/board/export.xlsx", export_xlsx)
