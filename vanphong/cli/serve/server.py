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
from vanphong.ground.listening import bound_port, write_atomically
from vanphong.ground.settings import Settings


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
        bound = bound_port(runner, port)
        if port_file is not None:
            write_atomically(port_file, f"{bound}\n")
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
