"""The ``vanphong`` command (CONTRACT.md §8): the typer app, built from one module per command
(group), named for it: ``cli/init.py``, ``cli/worker.py``, ``cli/publish.py``, ``cli/report.py``,
``cli/wait.py``, ``cli/demo.py``, ``cli/status.py``, ``cli/stack.py``, ``cli/serve.py``,
``cli/rebuild.py`` (verify and rebuild), ``cli/dlq.py``, ``cli/schemas.py``, ``cli/access.py``;
``cli/console.py`` is what they print through. Commands only parse arguments and print: the work
lives in the packages they call (vanphong/status, dlq, acls, publish, demo, registry_sync,
reporting, rebuild, access; the worker; the local stack). Registered in the order ``--help``
lists them."""

from __future__ import annotations

import typer

from vanphong.cli.access import access_app
from vanphong.cli.demo import demo_command
from vanphong.cli.dlq import dlq_app
from vanphong.cli.init import init_command
from vanphong.cli.publish import publish_command
from vanphong.cli.rebuild import rebuild_command, verify_command
from vanphong.cli.report import report_command
from vanphong.cli.schemas import schemas_app
from vanphong.cli.serve import serve_command
from vanphong.cli.stack import stack_app
from vanphong.cli.status import status_command
from vanphong.cli.wait import wait_command
from vanphong.cli.worker import worker_command

# No local variables in tracebacks: they may hold a password (VANPHONG_KAFKA_SASL_PASSWORD).
app = typer.Typer(
    no_args_is_help=True,
    help="vanphong: the event hub of a Party committee office.",
    pretty_exceptions_show_locals=False,
)


app.command("init")(init_command)
app.command("worker")(worker_command)
app.command("publish")(publish_command)
app.command("report")(report_command)
app.command("wait")(wait_command)
app.command("demo")(demo_command)
app.command("status")(status_command)
app.add_typer(
    stack_app, name="stack", help="The local stack: Kafka and PostgreSQL on this machine."
)
app.command("serve")(serve_command)
app.command("verify")(verify_command)
app.command("rebuild")(rebuild_command)
app.add_typer(dlq_app, name="dlq")
app.add_typer(schemas_app, name="schemas")
app.add_typer(access_app, name="access")
