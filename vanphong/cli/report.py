"""``vanphong report``: a unit's figures over a year, a term or a range of days, beside the
same period a year earlier (CONTRACT.md §7, read as ``vanphong_reporting``), as a table, JSON,
CSV, an XLSX workbook or the summary paragraph. The command in ``vanphong/cli/__init__.py``
parses; this module fetches and renders."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from rich.table import Table as RichTable

from vanphong.ground.settings import Settings
from vanphong.reporting.database import connection, guarded, reporting_url
from vanphong.reporting.exports import csv_bytes, csv_text, xlsx_bytes
from vanphong.reporting.labels import METRIC_LABELS, Lang, label
from vanphong.reporting.model import Basis, Report, ReportError
from vanphong.reporting.periods import Period
from vanphong.reporting.queries import figures_only, full_report
from vanphong.reporting.summary import day, number
from vanphong.reporting.tables import metrics_table

__all__ = ["LABELS", "Format", "ReportError", "fetch", "render_table", "thousands", "write"]

Format = Literal["table", "json", "csv", "xlsx"]

#: Vietnamese labels for the 12 metrics, as an office would name them in a report.
LABELS: dict[str, str] = {m: names[0] for m, names in METRIC_LABELS.items()}


def thousands(n: int) -> str:
    """Numbers grouped by thousands the Vietnamese way: 40.512."""
    return number(n, "vi")


async def fetch(
    settings: Settings, unit_id: str, period: Period, basis: Basis, full: bool
) -> Report:
    """The report, as the reporting role; ``full`` adds the monthly, type, kind, task and
    history tables (the workbook needs them, the table does not)."""
    url, variable = reporting_url(settings)
    async with connection(url, variable) as conn:
        build = full_report if full else figures_only
        return await guarded(url, variable, build(conn, unit_id, period, basis))


def render_table(report: Report, lang: Lang = "vi") -> RichTable:
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


def write(report: Report, fmt: Format, output: Path | None, lang: Lang = "vi") -> str | None:
    """Write a CSV or XLSX ``output`` file; the CSV text to print when there is none."""
    if fmt == "xlsx":
        if output is None:
            raise ReportError("--format xlsx needs --output FILE.xlsx", field="output")
        output.write_bytes(xlsx_bytes(report, lang))
        return None
    if output is not None:
        output.write_bytes(csv_bytes(metrics_table(report, lang), lang))
        return None
    return csv_text(metrics_table(report, lang), lang)
