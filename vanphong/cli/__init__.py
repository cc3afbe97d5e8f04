"""The ``vanphong`` command (CONTRACT.md §8). Commands only parse arguments and print; the work
lives in the modules they call."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.progress import Progress

from vanphong.cli.access_commands import access_app
from vanphong.cli.console import (
    database_errors,
    err,
    out,
    quiet_kafka_client,
    unreachable_exit,
)
from vanphong.cli.dlq_commands import dlq_app
from vanphong.cli.init import init_command
from vanphong.cli.rebuild_commands import rebuild_command, verify_command
from vanphong.cli.schemas import schemas_app
from vanphong.cli.serve import serve_command
from vanphong.cli.stack_commands import stack_app
from vanphong.ground.settings import Settings, get_settings

if TYPE_CHECKING:
    from vanphong.publish import Outgoing

# No local variables in tracebacks: they may hold a password (VANPHONG_KAFKA_SASL_PASSWORD).
app = typer.Typer(
    no_args_is_help=True,
    help="vanphong: the event hub of a Party committee office.",
    pretty_exceptions_show_locals=False,
)


app.command("init")(init_command)


@app.command()
def worker() -> None:
    """Run the processors and the PostgreSQL sink until SIGINT/SIGTERM."""
    from vanphong.ground.logs import configure
    from vanphong.streams.app import run_worker

    settings = get_settings()
    configure(settings)
    sys.argv = [sys.argv[0], "worker"]  # faust's Worker reads argv; keep ours out of it
    run_worker(settings)


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


@app.command()
def publish(
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


@app.command("wait")
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


@app.command()
def demo(
    seed: Annotated[int, typer.Option("--seed", help="same seed, same history")] = 2024,
    out_file: Annotated[
        str | None, typer.Option("--out", help="write JSON Lines here instead")
    ] = None,
) -> None:
    """Publish a realistic history of a provincial office, 2018–2025."""
    from vanphong.demo import demo_events
    from vanphong.publish import prepare_all, send_all

    settings = get_settings()
    events = demo_events(seed)
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    if out_file is not None:
        Path(out_file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.print(f"wrote {len(lines)} events to {out_file}")
        return
    messages, errors = prepare_all((("demo", n, t) for n, t in enumerate(lines, 1)), settings)
    if errors:  # the demo is generated: an invalid line is a bug in it
        raise RuntimeError(f"demo produced invalid events: {errors[:3]}")
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("publishing the demo", total=len(messages))
        sent = asyncio.run(send_all(messages, settings, lambda n: progress.advance(task, n)))
    out.print(f"published {sent} demo events (seed {seed})")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    partitions: Annotated[
        bool, typer.Option("--partitions", help="list every partition, not only those with lag")
    ] = False,
) -> None:
    """Lag per topic and partition, dead letters by reason, when the sink last committed."""
    from vanphong.ground.unreachable import Unreachable
    from vanphong.status import collect, render

    settings = get_settings()
    quiet_kafka_client()
    try:
        state = asyncio.run(collect(settings))
    except Unreachable as exc:
        raise unreachable_exit(exc) from exc
    if as_json:
        out.print_json(json.dumps(state.as_json(), ensure_ascii=False))
        return
    out.print(render(state, all_partitions=partitions))


app.add_typer(
    stack_app, name="stack", help="The local stack: Kafka and PostgreSQL on this machine."
)
app.command("serve")(serve_command)
app.command("verify")(verify_command)
app.command("rebuild")(rebuild_command)
app.add_typer(dlq_app, name="dlq")
app.add_typer(schemas_app, name="schemas")
app.add_typer(access_app, name="access")
