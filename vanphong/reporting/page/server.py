"""The reporting page's server process: a pool of the reporting role's connections, the login
(OpenID Connect when ``VANPHONG_OIDC_ISSUER`` is set), the aiohttp application, the port file,
and a clean stop on SIGINT/SIGTERM. Without a login the page binds only a loopback address,
unless told otherwise (``--no-auth``: whoever reaches the port then reads every unit)."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from vanphong.ground.listening import bound_port, write_atomically
from vanphong.ground.settings import Settings
from vanphong.reporting import database
from vanphong.reporting.page.app import make_application
from vanphong.reporting.page.auth import check_provider, make_auth


class OpenToAll(Exception):
    """A page without a login asked to listen beyond this machine."""


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, host: str, no_auth: bool) -> None:
    """Refuse to serve every unit to a network without a login, unless told to."""
    if not settings.oidc_issuer and not loopback(host) and not no_auth:
        raise OpenToAll(
            f"refusing to listen on {host} without a login: whoever reaches it would read every"
            " unit; set VANPHONG_OIDC_ISSUER (README, 'who is looking'), or bind 127.0.0.1, or"
            " pass --no-auth if that is really meant"
        )


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
    auth = make_auth(settings) if settings.oidc_issuer else None
    if auth is not None:
        await check_provider(auth)
    url, variable = database.reporting_url(settings)
    pool = await database.create_pool(url, variable)
    runner = web.AppRunner(make_application(pool, settings, auth), access_log=None)
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
