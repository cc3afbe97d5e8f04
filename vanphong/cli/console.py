"""What every command prints through, and how it reports a service it cannot reach."""

from __future__ import annotations

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)


def quiet_kafka_client() -> None:
    """These commands report an unreachable broker themselves, once; aiokafka's own log lines
    (printed by logging's last-resort handler) would only repeat it."""
    import logging

    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    logging.getLogger("aiokafka").propagate = False


def unreachable_exit(exc: Exception) -> typer.Exit:
    for line in str(exc).splitlines():
        err.print(f"[red]error:[/red] {line}", highlight=False)
    return typer.Exit(2)
