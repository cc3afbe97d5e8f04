"""``vanphong schemas check`` and ``vanphong init``'s registration of the shipped schemas:
arguments in, lines out; the work is vanphong/registry_sync/'s."""

from __future__ import annotations

import asyncio

import typer

from vanphong.cli.console import err, out
from vanphong.core.rejection import TransientError
from vanphong.ground.schema_registry import RegistryError, SchemaRegistryClient
from vanphong.ground.settings import Settings, get_settings
from vanphong.registry_sync.subjects import (
    COMPATIBILITY,
    Registered,
    Verdict,
    check_all,
    register_all,
)

schemas_app = typer.Typer(
    no_args_is_help=True,
    help="The Avro schemas in the Schema Registry: check them before shipping.",
)


def register_shipped(settings: Settings) -> None:
    """``vanphong init``'s part: register the shipped schemas when a registry is configured."""
    client = SchemaRegistryClient.from_settings(settings)
    if client is None:
        out.print("schema registry: none configured (VANPHONG_SCHEMA_REGISTRY_URL), skipped")
        return

    async def go() -> list[Registered]:
        async with client:
            return await register_all(client, settings)

    try:
        registered = asyncio.run(go())
    except (TransientError, RegistryError) as exc:
        err.print(f"schema registry: {exc}")
        raise typer.Exit(2) from exc
    for r in registered:
        ids = ", ".join(str(i) for i in r.ids)
        out.print(f"subject {r.subject}: ids {ids}, compatibility {COMPATIBILITY}", soft_wrap=True)


@schemas_app.command("check")
def check() -> None:
    """Compare schemas/ with the registry: exit 1 naming the field on an incompatible change."""
    settings = get_settings()
    client = SchemaRegistryClient.from_settings(settings)
    if client is None:
        err.print("no Schema Registry configured: set VANPHONG_SCHEMA_REGISTRY_URL")
        raise typer.Exit(2)

    async def go() -> list[Verdict]:
        async with client:
            return await check_all(client, settings)

    try:
        verdicts = asyncio.run(go())
    except (TransientError, RegistryError) as exc:
        err.print(f"schema registry: {exc}")
        raise typer.Exit(2) from exc
    for v in verdicts:
        line = f"{'ok' if v.ok else 'FAIL'}  {v.subject}: {v.message}"
        (out if v.ok else err).print(line, soft_wrap=True, markup=False)
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)
