"""The answers the reporting page's routes share (app.py's and the task board's, board.py):
JSON, a file to download, and the page's own HTML files from ``static/``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

STATIC = Path(__file__).parent / "static"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


def download(body: bytes, content_type: str, filename: str) -> web.Response:
    """``body`` as an attachment named ``filename`` (anything but letters, digits, ``.``, ``_``
    and ``-`` becomes ``_``); text in UTF-8."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", filename)
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8" if content_type.startswith("text/") else None,
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


def static_page(name: str) -> web.FileResponse:
    """One of the page's HTML files, which browsers check again before each use."""
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})
