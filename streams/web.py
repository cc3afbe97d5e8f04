"""The worker's HTTP server: metrics, health, readiness and the operator's page.

Routes (on ``VANPHONG_WEB_HOST``:``VANPHONG_WEB_PORT``, default 127.0.0.1:6066; port 0 lets the OS
choose one, which the worker logs and writes to ``VANPHONG_WEB_PORT_FILE`` if set):

* ``GET /`` — the operator's page (one self-contained HTML file, polling ``/api/overview``).
* ``GET /metrics`` — Prometheus text format, the worker's own registry only.
* ``GET /healthz`` — 200 while alive and no partition is stalled; 503 naming the stalled ones.
  Offset anomalies (a recreated topic, lost messages, added partitions) are listed in the
  body and leave it 200: a restart would not undo them (streams/monitor.py).
* ``GET /readyz`` — 200 once the sink is connected and the group joined; 503 before.
* ``GET /api/overview`` — the page's data as JSON.

Why not faust's web stack: faust 0.15.3 starts a server registered with ``app.web_server()`` only
after table recovery, i.e. after the first rebalance, so a worker waiting for Kafka would have
no ``/healthz`` at all. This :class:`WebServer` is a :class:`mode.Service` that the worker starts
before the app and stops after it; the app runs with ``web_enabled=False``, so faust's own pages
(tables, graph, ...) are never served.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import mode
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vanphong.ground.listening import bound_port, write_atomically
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.streams.monitor import Monitor

log = get_logger("vanphong.web")

PAGE = "static/operator.html"


def _json(body: dict[str, Any], ok: bool = True) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=200 if ok else 503,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def make_application(monitor: Monitor) -> web.Application:
    """The aiohttp application; usable on its own in tests."""
    page = files("vanphong.streams").joinpath(PAGE).read_bytes()

    async def operator_page(_: web.Request) -> web.Response:
        return web.Response(
            body=page,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(monitor.metrics.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(_: web.Request) -> web.Response:
        ok, body = monitor.health()
        return _json(body, ok)

    async def readyz(_: web.Request) -> web.Response:
        ok, body = monitor.readiness()
        return _json(body, ok)

    async def overview(_: web.Request) -> web.Response:
        return _json(monitor.overview())

    application = web.Application()
    application.router.add_get("/", operator_page)
    application.router.add_get("/metrics", metrics)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    application.router.add_get("/api/overview", overview)
    return application


class WebServer(mode.Service):
    """Serves :func:`make_application` from start to stop; a busy port fails the start."""

    def __init__(self, settings: Settings, monitor: Monitor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = settings.web_host
        self.port = settings.web_port  # 0 until started, if the OS is to choose
        self.port_file = Path(settings.web_port_file) if settings.web_port_file else None
        self.monitor = monitor
        self._runner: web.AppRunner | None = None

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def on_start(self) -> None:
        # No access log: the page polls every two seconds and scrapers every few.
        runner = web.AppRunner(make_application(self.monitor), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            log.error(
                "web port unavailable: set VANPHONG_WEB_PORT (and VANPHONG_WEB_HOST)",
                host=self.host,
                port=self.port,
                error=str(exc),
            )
            raise
        self._runner = runner
        self.port = bound_port(runner, self.port)
        if self.port_file is not None:
            write_atomically(self.port_file, f"{self.port}\n")
        log.info("web server listening", url=self.web_url, port=self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
