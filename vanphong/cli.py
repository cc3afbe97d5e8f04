"""The ``vanphong`` command (CONTRACT.md §8). Commands only parse arguments and print; the work
lives in the modules they call."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from deploy import stack
from vanphong.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="vanphong: the event hub of a Party committee office.")
out = Console()
err = Console(stderr=True)


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
    from vanphong.logs import configure

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
    from vanphong.report import LABELS, ReportError, summarise, thousands

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
    from vanphong.progress import wait_until_caught_up

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


# --------------------------------------------------------------------------------------------
# status and dead letters (docs/operations.md)
# --------------------------------------------------------------------------------------------


def _quiet_kafka_client() -> None:
    """These commands report an unreachable broker themselves, once; aiokafka's own log lines
    (printed by logging's last-resort handler) would only repeat it."""
    import logging

    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    logging.getLogger("aiokafka").propagate = False


def _unreachable_exit(exc: Exception) -> typer.Exit:
    for line in str(exc).splitlines():
        err.print(f"[red]error:[/red] {line}", highlight=False)
    return typer.Exit(2)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    partitions: Annotated[
        bool, typer.Option("--partitions", help="list every partition, not only those with lag")
    ] = False,
) -> None:
    """Lag per topic and partition, dead letters by reason, when the sink last committed."""
    from vanphong.status import collect, render
    from vanphong.unreachable import Unreachable

    settings = get_settings()
    _quiet_kafka_client()
    try:
        state = asyncio.run(collect(settings))
    except Unreachable as exc:
        raise _unreachable_exit(exc) from exc
    if as_json:
        out.print_json(json.dumps(state.as_json(), ensure_ascii=False))
        return
    out.print(render(state, all_partitions=partitions))


stack_app = typer.Typer(
    name="stack",
    help="The local stack: a single-node Kafka and a PostgreSQL on this machine.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(
    stack_app, name="stack", help="The local stack: Kafka and PostgreSQL on this machine."
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
) -> None:
    """Start Kafka and PostgreSQL (installed on first use); return once both accept clients."""
    _stack_cli(lambda: stack.up(timeout=timeout))


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


def _known_reason(value: str | None) -> str | None:
    from vanphong.rejection import Reason

    known = [r.value for r in Reason]
    if value is not None and value not in known:
        raise typer.BadParameter(f"{value!r} is not a dead-letter reason: {', '.join(known)}")
    return value


dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: inspect them, replay them.")
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def dlq_list(
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="only this reason", callback=_known_reason),
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", help="show the N most recent (0: all, in topic order)", min=0),
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The dead letters on the dead-letter topic: key, reason, detail, source, time.

    The topic is streamed: at most N dead letters are held at once, and with --limit 0 each is
    printed as it is read."""
    from schemas.catalog import DEAD_LETTER_TOPIC
    from vanphong.dlq import DeadLetter, annotate, list_dead_letters, render_list, replays_of
    from vanphong.unreachable import KAFKA_ERRORS, Unreachable, kafka_error

    settings = get_settings()
    topic = settings.topic(DEAD_LETTER_TOPIC)
    _quiet_kafka_client()
    try:
        replays = asyncio.run(replays_of(settings))
    except Unreachable as exc:  # the list itself comes from Kafka: still show it
        err.print(f"[yellow]warning:[/yellow] replays unknown: {exc}", highlight=False)
        replays = {}
    title = f"Dead letters on {topic}" + (f", reason {reason}" if reason else "")
    streamed = {"rows": 0}

    def print_rows(letters: list[DeadLetter]) -> None:  # --limit 0: as they are read
        rows = [annotate(d, replays) for d in letters]
        if as_json:
            for i, row in enumerate(rows, start=streamed["rows"]):
                sys.stdout.write(("," if i else "") + "\n  " + json.dumps(row, ensure_ascii=False))
        else:  # one table per chunk read; the title and header once
            table = render_list(rows, title, settings.topic_prefix + ".")
            if streamed["rows"]:
                table.title, table.show_header = None, False
            out.print(table)
        streamed["rows"] += len(rows)

    if limit == 0 and as_json:
        sys.stdout.write(f'{{"topic": {json.dumps(topic)}, "dead_letters": [')
    with Progress(console=err, transient=True, disable=limit == 0) as progress:
        task = progress.add_task("reading dead letters", total=None)
        try:
            listing = asyncio.run(
                list_dead_letters(
                    settings,
                    reason,
                    limit,
                    on_size=lambda n: progress.update(task, total=n),
                    on_read=lambda n: progress.advance(task, n),
                    on_rows=print_rows,
                )
            )
        except LookupError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        except KAFKA_ERRORS as exc:
            raise _unreachable_exit(kafka_error(exc, settings.kafka_bootstrap)) from exc
    if limit == 0 and as_json:
        sys.stdout.write(f'\n], "total": {listing.total}, "matching": {listing.matching}}}\n')
        return
    rows = [annotate(d, replays) for d in listing.shown]
    if as_json:
        doc = {
            "topic": topic,
            "total": listing.total,
            "matching": listing.matching,
            "dead_letters": rows,
        }
        out.print_json(json.dumps(doc, ensure_ascii=False))
        return
    if not rows and not streamed["rows"]:
        out.print(
            f"no dead letters{f' with reason {reason}' if reason else ''} on "
            f"{topic} ({listing.total} in all)"
        )
        return
    if rows:
        out.print(render_list(rows, title, settings.topic_prefix + "."))
    out.print(
        f"{len(rows) or streamed['rows']} shown of {listing.matching} matching"
        f" ({listing.total} on the topic)",
        highlight=False,
    )


@dlq_app.command("replay")
def dlq_replay(
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="only this reason", callback=_known_reason),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be replayed; change nothing")
    ] = False,
    again: Annotated[
        bool,
        typer.Option(
            "--again", help="also replay dead letters of replayed messages rejected again"
        ),
    ] = False,
) -> None:
    """Re-publish dead letters (original key and value) to their source topic, each once."""
    from vanphong.dlq import Planned, ReplayBusyError, replay
    from vanphong.unreachable import Unreachable

    settings = get_settings()
    _quiet_kafka_client()
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("reading dead letters", total=None)
        sent = {"n": 0}

        def on_sent(n: int) -> None:
            sent["n"] += n
            progress.update(task, description=f"replaying: {sent['n']} sent")

        try:
            result = asyncio.run(
                replay(
                    settings,
                    reason,
                    dry_run,
                    again,
                    on_size=lambda n: progress.update(task, total=n),
                    on_read=lambda n: progress.advance(task, n),
                    on_sent=on_sent,
                )
            )
        except Unreachable as exc:
            raise _unreachable_exit(exc) from exc
        except ReplayBusyError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        except LookupError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc

    def where(p: Planned) -> str:
        src = p.letter.source
        return f"{p.topic}[{p.partition}] (was offset {src[2] if src else '?'})"

    if dry_run:
        table = Table(title="Would replay (--dry-run: nothing sent)", title_justify="left")
        for column in ["dead letter", "reason", "key", "to"]:
            table.add_column(column, overflow="fold")
        for p in result.planned:
            table.add_row(
                f"{p.letter.partition}@{p.letter.offset}"
                + (" (in doubt)" if p.in_doubt is not None else ""),
                p.letter.reason,
                p.letter.key_text or "–",
                where(p),
            )
        out.print(table)
    for what, problem in result.errors:
        at = f"{what.place[0]}@{what.place[1]}"
        err.print(f"[red]not replayed[/red] dead letter {at}: {problem}", highlight=False)
    summary = (
        f"{'would replay' if dry_run else 'replayed'} "
        f"{result.replayable if dry_run else result.sent}"
        f", skipped {result.already} already replayed"
    )
    if result.rejected_again:
        summary += (
            f", left {result.rejected_again} rejected again after a replay (--again replays them)"
        )
    if result.recovered:
        summary += f", recorded {result.recovered} interrupted replay(s) found on the topic"
    if result.errors:
        summary += f", {len(result.errors)} error(s)"
    out.print(summary, highlight=False)
    if result.errors:
        raise typer.Exit(1)
