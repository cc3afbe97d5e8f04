"""``vanphong init``: the topics, the migrations, the shipped schemas in the registry and, with
``--acls``, each principal's least-privilege ACLs; arguments in, lines and a table out. The work
is streams/topics.py's, sinks/migrate.py's, vanphong/registry_sync/'s and vanphong/acls/'s."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from vanphong.cli.console import database_errors, err, out
from vanphong.cli.schemas import register_shipped
from vanphong.ground.settings import get_settings

if TYPE_CHECKING:  # the ACLs' modules import aiokafka: only when granting
    from vanphong.acls import Grant


def init_command(
    replication_factor: Annotated[
        int | None,
        typer.Option(
            "--replication-factor",
            min=1,
            help="for topics created now (default: the cluster's default.replication.factor)",
        ),
    ] = None,
    acls: Annotated[
        bool,
        typer.Option("--acls", help="also grant the least-privilege ACLs (docs/operations.md)"),
    ] = False,
    worker_principal: Annotated[
        str, typer.Option("--worker-principal", help="with --acls: the worker's principal")
    ] = "User:worker",
    publisher_principal: Annotated[
        str, typer.Option("--publisher-principal", help="with --acls: a publisher's principal")
    ] = "User:publisher",
    operator_principal: Annotated[
        str, typer.Option("--operator-principal", help="with --acls: an operator's principal")
    ] = "User:operator",
) -> None:
    """Create the topics, apply the database migrations and register the schemas in the Schema
    Registry if one is configured; with --acls, grant each principal what it needs (idempotent)."""
    from vanphong.sinks.migrate import migrate
    from vanphong.streams.topics import BROKER_DEFAULT, create_topics

    settings = get_settings()
    factor = replication_factor or BROKER_DEFAULT
    for topic, state in asyncio.run(create_topics(settings, factor)).items():
        out.print(f"topic {topic}: {state}")
    with database_errors(settings.database_url):
        applied = migrate(settings.database_url, settings.timezone)
    out.print(f"migrations: {', '.join(applied) if applied else 'up to date'}")
    register_shipped(settings)  # the shipped schemas in the Schema Registry, if one is set
    if acls:
        from vanphong.acls import AclError, Principals, apply, plan

        who = Principals(worker_principal, publisher_principal, operator_principal)
        try:
            granted = asyncio.run(apply(settings, plan(settings, who)))
        except AclError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        out.print(grants_table(granted))


def grants_table(granted: list[tuple[Grant, str]]) -> Table:
    """What ``init --acls`` granted, one binding a row."""
    table = Table(title="ACLs (ALLOW, literal names, any host)")
    for column in ("principal", "resource", "operation", "state", "why"):
        table.add_column(column, overflow="fold")  # never cut a name short
    for grant, state in granted:
        table.add_row(
            grant.principal,
            f"{grant.resource_type.name.lower()} {grant.resource}",
            grant.operation.name,
            state,
            grant.why,
        )
    return table
