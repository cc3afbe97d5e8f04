"""The ``vanphong serve`` command (registered in ``vanphong/cli/__init__.py``, beside the
``stack`` and ``dlq`` commands): options and one-line errors only; the server is
:mod:`vanphong.reporting.page.server`, imported when run, so that the page's package never
imports the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from vanphong.cli.console import err
from vanphong.ground.settings import get_settings


def serve_command(
    host: Annotated[
        str | None, typer.Option("--host", help="address to bind (VANPHONG_SERVE_HOST)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="0: the OS chooses (VANPHONG_SERVE_PORT)"),
    ] = None,
    port_file: Annotated[
        Path | None,
        typer.Option("--port-file", help="write the bound port here (VANPHONG_SERVE_PORT_FILE)"),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="without VANPHONG_OIDC_ISSUER, listen beyond loopback anyway: no login at all",
        ),
    ] = False,
) -> None:
    """The reporting page (read-only, as vanphong_reporting) until SIGINT/SIGTERM; with
    VANPHONG_OIDC_ISSUER, people log in and each sees their province."""
    from vanphong.ground.logs import configure
    from vanphong.ground.unreachable import Unreachable
    from vanphong.reporting.page.auth import OidcUnavailable
    from vanphong.reporting.page.server import OpenToAll, check_exposure, loopback, serve

    settings = get_settings()
    configure(settings)
    bind_host = host if host is not None else settings.serve_host
    bind_port = port if port is not None else settings.serve_port
    file = port_file or (Path(settings.serve_port_file) if settings.serve_port_file else None)

    try:
        check_exposure(settings, bind_host, no_auth)
    except OpenToAll as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    if not settings.oidc_issuer and not loopback(bind_host):
        err.print(
            f"[yellow]warning:[/yellow] --no-auth: {bind_host}:{bind_port} serves every unit to"
            " whoever reaches it, with no login",
            highlight=False,
            soft_wrap=True,
        )

    def ready(url: str) -> None:
        err.print(f"reporting page: {url}", highlight=False, soft_wrap=True)

    try:
        asyncio.run(serve(settings, bind_host, bind_port, file, ready))
    except (Unreachable, OidcUnavailable) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        err.print(
            f"[red]error:[/red] cannot listen on {bind_host}:{bind_port}: {exc.strerror or exc};"
            " set VANPHONG_SERVE_PORT (and VANPHONG_SERVE_HOST) or --port",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from exc
