"""``vanphong access grant-province`` / ``revoke`` / ``list`` (CONTRACT.md §8; docs/operations.md,
"Province readers"): arguments in, one line or a table out; the work is vanphong/access/'s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vanphong.cli.console import database_errors, err, out
from vanphong.ground.settings import get_settings

access_app = typer.Typer(
    no_args_is_help=True,
    help="Province readers: login roles that read `reporting` about one province only.",
)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@access_app.command("grant-province")
def grant_province(
    role: Annotated[str, typer.Argument(help="the login role to create or update")],
    province: Annotated[
        str, typer.Option("--province", help="the province, as units are registered with it")
    ],
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="a file whose one line is the role's password"),
    ] = None,
) -> None:
    """Create or update ROLE so that it reads `reporting` about PROVINCE's units only
    (idempotent; as the owner, VANPHONG_DATABASE_URL)."""
    from vanphong.access.plan import AccessError, password_text
    from vanphong.access.roles import grant

    settings = get_settings()
    try:
        password = None
        if password_file is not None:
            try:
                raw = password_file.read_bytes()
            except OSError as exc:
                raise AccessError(f"{password_file}: {exc.strerror or exc}") from None
            password = password_text(raw, str(password_file))
        with database_errors(settings.database_url):
            out.print(grant(settings.database_url, role, province, password), highlight=False)
    except AccessError as exc:
        raise _fail(str(exc)) from None


@access_app.command("revoke")
def revoke_command(
    role: Annotated[str, typer.Argument(help="a province reader made by grant-province")],
) -> None:
    """Remove province reader ROLE: its province is forgotten and the role dropped
    (idempotent)."""
    from vanphong.access.plan import AccessError
    from vanphong.access.roles import revoke

    settings = get_settings()
    try:
        with database_errors(settings.database_url):
            out.print(revoke(settings.database_url, role), highlight=False)
    except AccessError as exc:
        raise _fail(str(exc)) from None


@access_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The province readers of this database: role, province, the units it sees."""
    from vanphong.access.plan import AccessError
    from vanphong.access.roles import readers

    settings = get_settings()
    try:
        with database_errors(settings.database_url):
            rows = readers(settings.database_url)
    except AccessError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        doc = [
            {
                "role": r.role,
                "province": r.province,
                "units": r.units,
                "granted_at": r.granted_at.isoformat(),
                "role_exists": r.role_exists,
                "can_login": r.can_login,
            }
            for r in rows
        ]
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    if not rows:
        out.print("no province readers (vanphong access grant-province ROLE --province P)")
        return
    table = Table(title="province readers")
    for column in ("role", "province", "units", "granted at", "login"):
        table.add_column(column, justify="right" if column == "units" else "left")
    for r in rows:
        login = "yes" if r.can_login else ("role missing" if not r.role_exists else "no")
        table.add_row(
            r.role, r.province, str(r.units), f"{r.granted_at:%Y-%m-%d %H:%M:%S%z}", login
        )
    out.print(table)
