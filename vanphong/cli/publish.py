"""``vanphong publish``: JSON Lines files or stdin in, one line per invalid line and a count
out; the work is vanphong/publish/'s (prepare, send, and the Confluent framing of ``--wire
confluent``)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from vanphong.cli.console import err, out, quiet_kafka_client, unreachable_exit
from vanphong.ground.settings import Settings, get_settings

if TYPE_CHECKING:
    from vanphong.publish import Outgoing


class Wire(StrEnum):
    """How ``publish`` frames the Avro body (CONTRACT.md §2; README, "Upstream producers with a
    Schema Registry")."""

    SINGLE_OBJECT = "single-object"
    CONFLUENT = "confluent"


def _confluent_framed(messages: list[Outgoing], settings: Settings) -> list[Outgoing]:
    """``publish --wire confluent``: for upstream teams trying the framing before they write
    their own serializer; a registry that cannot say the ids is one line, exit 2."""
    from vanphong.core.rejection import TransientError
    from vanphong.ground.schema_registry import RegistryError
    from vanphong.publish.confluent import confluent_framed

    try:
        return confluent_framed(messages, settings)
    except (TransientError, RegistryError) as exc:
        err.print(f"[red]error:[/red] schema registry: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc


def publish_command(
    files: Annotated[
        list[str] | None, typer.Argument(help="JSON Lines files; - or none: stdin")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Publish the valid lines")
    ] = False,
    wire: Annotated[
        Wire,
        typer.Option(
            "--wire",
            help="single-object: vanphong's framing (C3 01 + fingerprint); confluent: 00 + the"
            " Schema Registry's id of the topic's subject, as Confluent's serializers write it"
            " (needs VANPHONG_SCHEMA_REGISTRY_URL and `vanphong init`)",
        ),
    ] = Wire.SINGLE_OBJECT,
) -> None:
    """Publish JSON Lines events as Avro; nothing is published if a line is invalid."""
    from vanphong.publish import numbered_lines, prepare_all, send_all

    settings = get_settings()
    sources: list[tuple[str, Iterable[str]]] = []
    for name in files or ["-"]:
        if name == "-":
            sources.append(("<stdin>", sys.stdin))
            continue
        try:
            sources.append((name, Path(name).read_text(encoding="utf-8").splitlines()))
        except OSError as exc:
            err.print(f"[red]error:[/red] cannot read {name}: {exc.strerror}")
            raise typer.Exit(2) from exc
    messages, errors = prepare_all(numbered_lines(sources), settings)
    for error in errors:  # one line each, never wrapped: the file:line prefix stays whole
        err.print(f"[red]invalid[/red] {error}", highlight=False, markup=True, soft_wrap=True)
    if errors and not skip_invalid:
        err.print(
            f"{len(errors)} invalid line(s): nothing published (--skip-invalid publishes the rest)"
        )
        raise typer.Exit(1)
    if wire is Wire.CONFLUENT:
        messages = _confluent_framed(messages, settings)
    from aiokafka.errors import KafkaConnectionError, KafkaError

    from vanphong.ground.kafka_access import authorization_problem
    from vanphong.ground.unreachable import kafka_error

    quiet_kafka_client()  # what goes wrong is reported below, once
    try:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("publishing", total=len(messages))
            sent = asyncio.run(send_all(messages, settings, lambda n: progress.advance(task, n)))
    except KafkaError as exc:  # a missing ACL: name the permission, no traceback
        denied = authorization_problem(exc, settings, "WRITE")
        if denied is None and isinstance(exc, KafkaConnectionError):  # unreachable, refused
            raise unreachable_exit(kafka_error(exc, settings.kafka_bootstrap)) from exc
        if denied is None:
            raise
        err.print(
            f"[red]error:[/red] {denied.detail}; {denied.hint}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2) from exc
    out.print(f"published {sent} event(s)" + (f", skipped {len(errors)} invalid" if errors else ""))
    if errors:
        raise typer.Exit(1)
