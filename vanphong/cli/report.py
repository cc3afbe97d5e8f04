"""``vanphong report`` (registered in ``vanphong/cli/__init__.py``): a unit's figures over a
year, a term or a range of days, beside the period compared with (CONTRACT.md §7, read as
``vanphong_reporting``), as a table, JSON, CSV, an XLSX workbook or the summary paragraph.
This module parses the options and prints; the read side (:mod:`vanphong.reporting`) fetches
the report and makes its files, imported when the command runs so that ``--help`` stays
quick."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.table import Table as RichTable

from vanphong.cli.console import err, out
from vanphong.ground.settings import get_settings

if TYPE_CHECKING:
    from vanphong.reporting.labels import Lang
    from vanphong.reporting.model import Report


def report_command(
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
    from vanphong.ground.unreachable import Unreachable
    from vanphong.reporting import Basis, PeriodError, ReportError, periods
    from vanphong.reporting.exports import Format, write
    from vanphong.reporting.queries import fetch_report
    from vanphong.reporting.summary import report_paragraph

    fmt = "json" if as_json else output_format
    try:
        if fmt not in ("table", "json", "csv", "xlsx"):
            raise ReportError(f"--format {fmt!r}: use table, json, csv or xlsx")
        if lang not in ("vi", "en"):
            raise ReportError(f"--lang {lang!r}: use vi or en")
        period = periods.choose(year_text=year, term_text=term, from_text=day_from, to_text=day_to)
        basis: Basis = "consolidated" if consolidated else "attributed"
        language = cast("Lang", lang)
        result = asyncio.run(fetch_report(get_settings(), unit, period, basis, full=fmt == "xlsx"))
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


def render_table(report: Report, lang: Lang = "vi") -> RichTable:
    """The figures as a terminal table: metric, its name, the value, the period compared
    with."""
    from vanphong.reporting.labels import METRIC_LABELS, label
    from vanphong.reporting.summary import day, number

    basis = "hợp nhất (consolidated)" if report.consolidated else "theo thời điểm (attributed)"
    before = report.previous_period
    table = RichTable(
        title=f"{report.unit.title} ({report.unit.unit_id})\n"
        f"{report.period.start} → {report.period.end}, {basis}"
    )
    rows = [
        (
            metric,
            label(METRIC_LABELS, metric, lang),
            number(value, lang),
            number(report.previous[metric], lang),
        )
        for metric, value in report.metrics.items()
    ]
    # Nothing is ever cut with "…" (rich's default when a table is wider than the terminal):
    # metric ids and figures keep their full width, the names wrap at words, the period's
    # header at its space ("01/01/2018 –" above "30/09/2019"); only a terminal too narrow even
    # for that folds text onto the next line, still whole.
    table.add_column("metric", no_wrap=True, overflow="fold")
    table.add_column("chỉ tiêu" if lang == "vi" else "name", overflow="fold")
    table.add_column("value", justify="right", no_wrap=True, overflow="fold")
    table.add_column(f"{day(before.start)} – {day(before.end)}", justify="right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table
