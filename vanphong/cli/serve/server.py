"""The reporting page's server process: a pool of the reporting role's connections, the
aiohttp application, the port file, and a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from vanphong.cli.reporting import database
from vanphong.cli.serve.app import make_application
from vanphong.ground.settings import Settings


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    """The port the server listens on: the configured one, or the one the OS chose for 0."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured


def _write_atomically(path: Path, text: str) -> None:
    """A reader sees the whole file or none (a rename is atomic)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


async def serve(
    settings: Settings,
    host: str,
    port: int,
    port_file: Path | None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM. The database is asked once before listening, so a wrong
    setting fails at start (:class:`~vanphong.ground.unreachable.Unreachable`, one line);
    a busy port raises OSError."""
    url, variable = database.reporting_url(settings)
    pool = await database.create_pool(url, variable)
    runner = web.AppRunner(make_application(pool, settings), access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound = _bound_port(runner, port)
        if port_file is not None:
            _write_atomically(port_file, f"{bound}\n")
        if ready is not None:
            ready(f"http://{host}:{bound}/")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await pool.close()
