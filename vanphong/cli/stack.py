"""``vanphong stack``: the local stack's commands (the work is deploy/local/stack.py's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from vanphong.deploy.local import stack

stack_app = typer.Typer(
    name="stack",
    help="The local stack: a single-node Kafka and a PostgreSQL on this machine.",
    no_args_is_help=True,
    add_completion=False,
)


def _stack_cli(action: Callable[[], int]) -> None:
    try:
        code = action()
    except stack.StackError as exc:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(exc.render()))
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@stack_app.command("up")
def stack_up(
    timeout: Annotated[
        float,
        typer.Option(help="seconds to wait for both services to accept clients once launched"),
    ] = stack.DEFAULT_TIMEOUT,
    brokers: Annotated[
        int | None,
        typer.Option(
            help="with --secure: the cluster's nodes (3 to 5, default 3); the plain stack is "
            "one broker"
        ),
    ] = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="a production-like cluster beside the plain broker: TLS, SASL/SCRAM-SHA-512 "
            "users, ACLs, replication factor 3 (3 brokers unless --brokers), and PostgreSQL "
            "with TLS; settings for commands in <stack dir>/secure/client.env",
        ),
    ] = False,
    keycloak: Annotated[
        bool,
        typer.Option(
            "--keycloak",
            help="also Keycloak, the reporting page's OpenID Connect provider, with the realm "
            "deploy/local/keycloak/vanphong-realm.json (issuer http://127.0.0.1:8180/realms/vanphong)",
        ),
    ] = False,
) -> None:
    """Start Kafka and PostgreSQL (installed on first use); return once both accept clients."""
    nodes = brokers or (stack.DEFAULT_SECURE_BROKERS if secure else 1)
    _stack_cli(lambda: stack.up(timeout=timeout, brokers=nodes, secure=secure, keycloak=keycloak))


@stack_app.command("down")
def stack_down(
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for a clean stop before killing")
    ] = stack.STOP_TIMEOUT,
) -> None:
    """Stop what `vanphong stack up` started. Data and downloaded jars are kept."""
    _stack_cli(lambda: stack.down(timeout=timeout))


@stack_app.command("status")
def stack_status() -> None:
    """Per component: running or stopped, pid, address. Exit 0 if both run, 3 if not."""
    _stack_cli(stack.status)
