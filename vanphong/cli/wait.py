"""``vanphong wait``: until the worker has applied every message published so far, with a
progress line; the question is vanphong/status/caught_up.py's."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import Progress

from vanphong.cli.console import database_errors, err, out, quiet_kafka_client, unreachable_exit
from vanphong.ground.settings import get_settings


def wait_command(
    timeout: Annotated[float, typer.Option("--timeout", help="seconds before giving up")] = 600.0,
) -> None:
    """Wait until the worker has applied every message published so far (extension)."""
    from aiokafka.errors import KafkaError

    from vanphong.ground.unreachable import kafka_error
    from vanphong.status.caught_up import wait_until_caught_up

    settings = get_settings()
    quiet_kafka_client()
    with database_errors(settings.database_url), Progress(console=err, transient=True) as progress:
        task = progress.add_task("processing", total=None)

        def show(remaining: int) -> None:
            progress.update(task, description=f"processing: {remaining} message(s) left")

        try:
            asyncio.run(wait_until_caught_up(settings, timeout, show))
        except TimeoutError as exc:
            err.print(f"[red]not caught up:[/red] {exc}. Is `vanphong worker` running?")
            raise typer.Exit(1) from exc
        except LookupError as exc:  # topics missing
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        except KafkaError as exc:  # the database's errors are database_errors'
            raise unreachable_exit(kafka_error(exc, settings.kafka_bootstrap)) from exc
    out.print("all published events are applied")
