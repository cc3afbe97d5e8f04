"""``vanphong report``'s table at 80 columns (issue 20: it was cut to "01/01/2018–30/09/20…"
and "tasks_completed_on_…"): it fits, wraps where it must, and never cuts a figure's label, a
metric id or a figure."""

from __future__ import annotations

from datetime import date

import pytest
from rich.cells import cell_len
from rich.console import Console

from vanphong.cli.report import render_table
from vanphong.core.semantics import METRICS
from vanphong.reporting.labels import METRIC_LABELS, Lang, label
from vanphong.reporting.model import Report, Unit
from vanphong.reporting.periods import Period
from vanphong.reporting.summary import day, number


def _report() -> Report:
    unit = Unit("vptu", "Văn phòng Tỉnh ủy Vĩnh Long", "OFFICE", "Vĩnh Long", "active", "vptu")
    return Report(
        unit,
        Period("range", date(2019, 1, 1), date(2024, 9, 30)),
        "attributed",
        {m: 40_572 + i for i, m in enumerate(METRICS)},
        {m: 1_234_567 + i for i, m in enumerate(METRICS)},
    )


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_report_table_fits_80_columns_and_cuts_nothing(lang: Lang) -> None:
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    report = _report()
    console.print(render_table(report, lang))
    text = console.export_text()
    console.file.close()
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert "…" not in text
    before = report.previous_period  # the period compared with: both its days whole
    assert f"{day(before.start)} –" in text and day(before.end) in text
    for metric in METRICS:
        row = next(line for line in lines if f" {metric} " in line)  # the id whole, on its row
        assert number(report.metrics[metric], lang) in row
        assert number(report.previous[metric], lang) in row
    # each name whole: its words in order in its column, wrapped lines joined
    names = " ".join(line.split("│")[2].strip() for line in lines if line.count("│") == 5)
    for metric in METRICS:
        assert label(METRIC_LABELS, metric, lang) in " ".join(names.split()), metric
