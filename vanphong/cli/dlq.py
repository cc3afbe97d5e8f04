"""``vanphong dlq list`` and ``dlq replay`` (docs/operations.md): arguments in, tables out; the
work is vanphong/dlq/'s, imported when a command runs so that ``--help`` stays quick."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from vanphong.cli.console import database_errors, err, out, quiet_kafka_client, unreachable_exit
from vanphong.ground.settings import get_settings


def _known_reason(value: str | None) -> str | None:
    from vanphong.core.rejection import Reason

    known = [r.value for r in Reason]
    if value is not None and value not in known:
        raise typer.BadParameter(f"{value!r} is not a dead-letter reason: {', '.join(known)}")
    return value


dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: inspect them, replay them.")


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
    from vanphong.dlq import DeadLetter, annotate, list_dead_letters, render_list, replays_of
    from vanphong.ground.unreachable import KAFKA_ERRORS, Unreachable, kafka_error
    from vanphong.schemas.catalog import DEAD_LETTER_TOPIC

    settings = get_settings()
    topic = settings.topic(DEAD_LETTER_TOPIC)
    quiet_kafka_client()
    try:
        replays = asyncio.run(replays_of(settings))
    except Unreachable as exc:
        # The dead letters come from Kafka, and an operator needs them most when things are
        # broken: list them, and say once, on one line, that the replay column is unknown.
        # Nothing is replayed twice for it: `dlq replay` reads the ledger and stops without it.
        err.print(
            f"[yellow]warning:[/yellow] replays unknown, not shown: {exc}",
            highlight=False,
            soft_wrap=True,
        )
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
            raise unreachable_exit(kafka_error(exc, settings.kafka_bootstrap)) from exc
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
    from vanphong.ground.unreachable import Unreachable

    settings = get_settings()
    quiet_kafka_client()
    with database_errors(settings.database_url), Progress(console=err, transient=True) as progress:
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
            raise unreachable_exit(exc) from exc
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
    if result.found:
        summary += f" ({result.found} found on the topic that the database had forgotten: recorded)"
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
