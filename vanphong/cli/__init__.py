"""The ``vanphong`` command (CONTRACT.md §8): the typer app, built from one module per command
(group), named for it: ``cli/init.py``, ``cli/worker.py``, ``cli/publish.py``, ``cli/report.py``,
``cli/wait.py``, ``cli/demo.py``, ``cli/status.py``, ``cli/stack.py``, ``cli/serve.py``,
``cli/rebuild.py`` (verify and rebuild), ``cli/dlq.py``, ``cli/schemas.py``, ``cli/access.py``;
``cli/console.py`` is what they print through. Commands only parse arguments and print: the work
lives in the packages they call (vanphong/status, dlq, acls, publish, demo, registry_sync,
reporting, rebuild, access; the worker; the local stack). Registered in the order ``--help``
lists them."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, cast

import typer

from vanphong.cli.access import access_app
from vanphong.cli.console import err, out
from vanphong.cli.demo import demo_command
from vanphong.cli.dlq import dlq_app
from vanphong.cli.init import init_command
from vanphong.cli.publish import publish_command
from vanphong.cli.rebuild import rebuild_command, verify_command
from vanphong.cli.schemas import schemas_app
from vanphong.cli.serve import serve_command
from vanphong.cli.stack import stack_app
from vanphong.cli.status import status_command
from vanphong.cli.wait import wait_command
from vanphong.cli.worker import worker_command
from vanphong.ground.settings import get_settings

# No local variables in tracebacks: they may hold a password (VANPHONG_KAFKA_SASL_PASSWORD).
app = typer.Typer(
    no_args_is_help=True,
    help="vanphong: the event hub of a Party committee office.",
    pretty_exceptions_show_locals=False,
)


app.command("init")(init_command)
app.command("worker")(worker_command)
app.command("publish")(publish_command)


@app.command()
def report(
    unit: Annotated[str, typer.Option("--unit", help="unit_id")],
    day_from: Annotated[
        str | None, typer.Option("--from", help="first day, YYYY-MM-DD (with --to)")
    ] = None,
    day_to: Annotated[
        str | None, typer.Option("--to", help="last day, YYYY-MM-DD (inclusive)")
    ] = None,
    year: Annotated[str | None, typer.Option("--year", help="a calendar year, e.g. 2024")] = None,
    term: Annotated[str | None, typer.Option("--term", help="whole years, e.g. 2020-2025")] = None,
    consolidated: Annotated[
        bool, typer.Option("--consolidated", help="include merged predecessors")
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", help="table, json, csv or xlsx (xlsx needs --output)")
    ] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="the same as --format json")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="print the summary paragraph")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", help="write the csv or xlsx to this file")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="vi or en")] = "vi",
) -> None:
    """A unit's activity over a year, a term or a range of days, beside a year earlier."""
    from vanphong.cli.report import Format, fetch, render_table, write
    from vanphong.ground.unreachable import Unreachable
    from vanphong.reporting import Basis, PeriodError, ReportError, periods
    from vanphong.reporting.labels import Lang
    from vanphong.reporting.summary import report_paragraph

    fmt = "json" if as_json else output_format
    try:
        if fmt not in ("table", "json", "csv", "xlsx"):
            raise ReportError(f"--format {fmt!r}: use table, json, csv or xlsx")
        if lang not in ("vi", "en"):
            raise ReportError(f"--lang {lang!r}: use vi or en")
        period = periods.choose(year_text=year, term_text=term, from_text=day_from, to_text=day_to)
        basis: Basis = "consolidated" if consolidated else "attributed"
        language = cast(Lang, lang)
        result = asyncio.run(fetch(get_settings(), unit, period, basis, full=fmt == "xlsx"))
        written = (
            None if fmt in ("table", "json") else write(result, cast(Format, fmt), output, language)
        )
    except (PeriodError, ReportError, Unreachable) as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {output}: {exc.strerror}", soft_wrap=True)
        raise typer.Exit(2) from exc
    if summary:
        out.print(report_paragraph(result, language), soft_wrap=True, highlight=False)
    elif fmt == "json":
        from vanphong.reporting.jsonview import report_json

        body = report_json(result, language, full=False)
        out.print_json(json.dumps(body, ensure_ascii=False))
    elif fmt == "table":
        out.print(render_table(result, language))
    elif written is not None:
        sys.stdout.write(written)
    elif output is not None:
        err.print(f"wrote {output}", highlight=False)


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
