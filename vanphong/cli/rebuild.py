"""``vanphong verify`` and ``vanphong rebuild`` (docs/operations.md, "Checking and re-deriving
the figures"): arguments in, tables out; the work is vanphong/rebuild/'s, imported when a
command runs so that ``--help`` stays quick."""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vanphong.cli.console import database_errors, err, out
from vanphong.ground.settings import get_settings

if TYPE_CHECKING:
    from vanphong.rebuild.verify import Verdict

#: Exit status when the figures differ (verify) or another rebuild runs (rebuild).
DIFFERENT = 1


def _progress_bar() -> Progress:
    """A bar on a terminal only (a log file gets the result, not hundreds of redraws)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _jobs(value: int | None) -> int:
    return value if value is not None else (os.cpu_count() or 1)


JOBS_HELP = "processes that recompute (default: one per core)"


def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help=JOBS_HELP)] = None,
) -> None:
    """Recompute every aggregate from the stored entities under today's rules and compare with
    the live ones, read-only, in one snapshot: exit 0 when equal, 1 listing what differs."""
    from vanphong.rebuild.verify import verify

    settings = get_settings()
    with database_errors(settings.database_url), _progress_bar() as progress:
        task = progress.add_task("recomputing entities", total=None)

        def show(done: int, expected: int) -> None:
            progress.update(task, completed=done, total=max(done, expected))

        verdict = asyncio.run(
            verify(
                settings.database_url,
                settings.zone,
                settings.extra_schema_dirs,
                show,
                jobs=_jobs(jobs),
            )
        )
    if as_json:
        out.print_json(json.dumps(verdict.as_json(), ensure_ascii=False))
    else:
        _print_verdict(verdict)
    if not verdict.equal:
        raise typer.Exit(DIFFERENT)


def _print_verdict(verdict: Verdict) -> None:
    if verdict.differences:
        table = Table(title=f"{verdict.cells_differing:,} cell(s) differ", title_justify="left")
        for name in ("unit", "day", "metric", "dimension", "live", "recomputed"):
            table.add_column(name, justify="right" if name in ("live", "recomputed") else "left")
        for d in verdict.differences:
            row = (d.unit_id, d.day.isoformat(), d.metric, d.dimension, f"{d.live:,}")
            table.add_row(*row, f"{d.recomputed:,}")
        out.print(table)
        if verdict.cells_differing > len(verdict.differences):
            out.print(f"… and {verdict.cells_differing - len(verdict.differences):,} more")
    if verdict.stale_contributions:
        out.print(
            f"{verdict.stale_contributions:,} entit(y/ies) store contributions that today's rules"
            f" compute otherwise, e.g. {', '.join(verdict.stale_examples[:5])}",
            highlight=False,
        )
    for label, rows in (("missing", verdict.ranges_missing), ("extra", verdict.ranges_extra)):
        if rows:
            out.print(f"attribution ranges {label}: {len(rows)}, e.g. {rows[0]}", highlight=False)
    if verdict.refused:
        out.print(
            f"{len(verdict.refused):,} stored entit(y/ies) that today's rules would refuse"
            " (their contributions still count):"
        )
        for r in verdict.refused[:50]:
            out.print(f"  {r.ref.entity_type} {r.ref.entity_id}: {r.reason}: {r.detail}")
    for note in verdict.not_derivable:
        out.print(f"[dim]not compared: {note}[/dim]", highlight=False)
    summary = (
        f"{verdict.entities:,} entities, {verdict.cells_compared:,} live cells compared"
        f" in {verdict.seconds:.1f} s: "
    )
    if verdict.equal:
        out.print(summary + "[green]the aggregates are what the entities say[/green]")
    else:
        out.print(summary + f"[red]{verdict.cells_differing:,} cell(s) differ[/red]")


def rebuild_command(
    lock_timeout_ms: Annotated[
        int,
        typer.Option(
            "--lock-timeout-ms",
            min=10,
            help="the longest the swap waits for a lock, each try (writers and readers wait"
            " at most this long behind it)",
        ),
    ] = 1000,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help=JOBS_HELP)] = None,
) -> None:
    """Recompute the aggregates beside the live ones and swap them in, in one transaction,
    while workers keep running: readers see the old figures or the new, never a mix."""
    from vanphong.rebuild.run import RebuildRunning, SwapImpossible, rebuild

    settings = get_settings()
    with database_errors(settings.database_url), _progress_bar() as progress:
        task = progress.add_task("rebuilding", total=None)

        def show(what: str, done: int, expected: int | None) -> None:
            progress.update(task, description=what, completed=done, total=expected)

        try:
            outcome = asyncio.run(
                rebuild(
                    settings.database_url,
                    settings.zone,
                    settings.extra_schema_dirs,
                    show,
                    lock_timeout_ms,
                    jobs=_jobs(jobs),
                )
            )
        except RebuildRunning as exc:
            err.print(f"[red]error:[/red] {exc}: try again when it has finished", soft_wrap=True)
            raise typer.Exit(DIFFERENT) from exc
        except SwapImpossible as exc:
            err.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
            raise typer.Exit(DIFFERENT) from exc
    out.print(
        f"rebuilt in {outcome.seconds:.1f} s: {outcome.cells_changed:,} cell(s) changed"
        f" ({outcome.cells:,} cells now), {outcome.entities:,} entities recomputed"
        f" (+{outcome.caught_up:,} written meanwhile, in {outcome.rounds} round(s)),"
        f" {outcome.contributions_rewritten:,} entities' stored contributions rewritten;"
        f" writers held {outcome.writers_held_s * 1000:.0f} ms"
        f" (all {outcome.attempts} swap attempt(s): {outcome.writers_waited_s * 1000:.0f} ms)",
        highlight=False,
        soft_wrap=True,
    )
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.timings.items())
    held = ", ".join(f"{k} {v:.0f}" for k, v in outcome.held_steps_ms.items())
    out.print(f"[dim]seconds from the start: {phases}[/dim]", highlight=False, soft_wrap=True)
    out.print(
        f"[dim]ms from the writers' lock request: {held}[/dim]", highlight=False, soft_wrap=True
    )
    if outcome.refused:
        out.print(
            f"{outcome.refused:,} stored entit(y/ies) today's rules would refuse still count:"
            " `vanphong verify` lists them",
            highlight=False,
        )
