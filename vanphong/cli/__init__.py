"""The ``vanphong`` command (CONTRACT.md §8). Commands only parse arguments and print; the work
lives in the modules they call."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from vanphong.cli.console import err, out, quiet_kafka_client, unreachable_exit
from vanphong.cli.dlq_commands import dlq_app
from vanphong.cli.stack_commands import stack_app
from vanphong.ground.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="vanphong: the event hub of a Party committee office.")


@app.command()
def init(
    replication_factor: Annotated[
        int, typer.Option("--replication-factor", min=1, help="for topics created now")
    ] = 1,
) -> None:
    """Create the topics and apply the database migrations (idempotent)."""
    from sinks.migrate import migrate
    from streams.topics import create_topics

    settings = get_settings()
    for topic, state in asyncio.run(create_topics(settings, replication_factor)).items():
        out.print(f"topic {topic}: {state}")
    applied = migrate(settings.database_url, settings.timezone)
    out.print(f"migrations: {', '.join(applied) if applied else 'up to date'}")


@app.command()
def worker() -> None:
    """Run the processors and the PostgreSQL sink until SIGINT/SIGTERM."""
    from streams.app import run_worker
    from vanphong.ground.logs import configure

    settings = get_settings()
    configure(settings)
    sys.argv = [sys.argv[0], "worker"]  # faust's Worker reads argv; keep ours out of it
    run_worker(settings)


@app.command()
def publish(
    files: Annotated[
        list[str] | None, typer.Argument(help="JSON Lines files; - or none: stdin")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Publish the valid lines")
    ] = False,
) -> None:
    """Publish JSON Lines events as Avro; nothing is published if a line is invalid."""
    from vanphong.cli.publish import numbered_lines, prepare_all, send_all

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
    for error in errors:
        err.print(f"[red]invalid[/red] {error}", highlight=False, markup=True)
    if errors and not skip_invalid:
        err.print(
            f"{len(errors)} invalid line(s): nothing published (--skip-invalid publishes the rest)"
        )
        raise typer.Exit(1)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("publishing", total=len(messages))
        sent = asyncio.run(send_all(messages, settings, lambda n: progress.advance(task, n)))
    out.print(f"published {sent} event(s)" + (f", skipped {len(errors)} invalid" if errors else ""))
    if errors:
        raise typer.Exit(1)


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from exc


@app.command()
def report(
    unit: Annotated[str, typer.Option("--unit", help="unit_id")],
    day_from: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD")],
    day_to: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (inclusive)")],
    consolidated: Annotated[
        bool, typer.Option("--consolidated", help="include merged predecessors")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The activity summary of a unit over a range of days."""
    from vanphong.cli.report import LABELS, ReportError, summarise, thousands

    settings = get_settings()
    try:
        summary = asyncio.run(
            summarise(
                settings.database_url, unit, _parse_day(day_from), _parse_day(day_to), consolidated
            )
        )
    except ReportError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        out.print_json(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    basis = "hợp nhất (consolidated)" if consolidated else "theo thời điểm (attributed)"
    table = Table(
        title=f"{summary.unit_name or summary.unit_id} ({summary.unit_id})\n"
        f"{summary.day_from} → {summary.day_to}, {basis}"
    )
    table.add_column("metric")
    table.add_column("chỉ tiêu")
    table.add_column("value", justify="right")
    for metric, value in summary.metrics.items():
        table.add_row(metric, LABELS[metric], thousands(value))
    out.print(table)


@app.command("wait")
def wait_command(
    timeout: Annotated[float, typer.Option("--timeout", help="seconds before giving up")] = 600.0,
) -> None:
    """Wait until the worker has applied every message published so far (extension)."""
    from vanphong.cli.progress import wait_until_caught_up

    settings = get_settings()
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("processing", total=None)

        def show(remaining: int) -> None:
            progress.update(task, description=f"processing: {remaining} message(s) left")

        try:
            asyncio.run(wait_until_caught_up(settings, timeout, show))
        except TimeoutError as exc:
            err.print(f"[red]not caught up:[/red] {exc}. Is `vanphong worker` running?")
            raise typer.Exit(1) from exc
    out.print("all published events are applied")


@app.command()
def demo(
    seed: Annotated[int, typer.Option("--seed", help="same seed, same history")] = 2024,
    out_file: Annotated[
        str | None, typer.Option("--out", help="write JSON Lines here instead")
    ] = None,
) -> None:
    """Publish a realistic history of a provincial office, 2018–2025."""
    from vanphong.cli.demo import demo_events
    from vanphong.cli.publish import prepare_all, send_all

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
    from vanphong.cli.status import collect, render
    from vanphong.ground.unreachable import Unreachable

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
app.add_typer(dlq_app, name="dlq")
