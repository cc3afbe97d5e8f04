"""``vanphong report`` with years, terms, formats and the summary paragraph, read as the
reporting role; and one line, exit 2, when PostgreSQL cannot be asked. (The original
``--from/--to/--json`` form: tests/test_commands.py.)"""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import VANPHONG, Env
from tests.test_serve import assert_one_line, bad_databases, load, refused_port
from vanphong.core.semantics import METRICS


def run(
    env: Env, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), "report", *args],
        env={**env.workers.env(), **(extra or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def summary(env: Env, unit: str, first: date, last: date, consolidated: bool) -> dict[str, int]:
    row = env.fetch(
        "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)", unit, first, last, consolidated
    )[0]
    return {m: int(row[m]) for m in METRICS}


@pytest.fixture
def loaded(env: Env) -> Env:
    load(env)
    return env


def test_a_year_and_a_term_give_activity_summary_and_a_year_earlier(
    loaded: Env, tmp_path: Path
) -> None:
    year = run(loaded, "--unit", "vptu", "--year", "2024", "--format", "json")
    assert year.returncode == 0, year.stderr
    body = json.loads(year.stdout)
    assert body["metrics"] == summary(loaded, "vptu", date(2024, 1, 1), date(2024, 12, 31), False)
    assert body["previous"] == summary(loaded, "vptu", date(2023, 1, 1), date(2023, 12, 31), False)
    assert (body["from"], body["to"], body["consolidated"]) == ("2024-01-01", "2024-12-31", False)

    term = run(loaded, "--unit", "tu", "--term", "2023-2025", "--consolidated", "--json")
    assert term.returncode == 0, term.stderr
    figures = json.loads(term.stdout)["metrics"]
    assert figures == summary(loaded, "tu", date(2023, 1, 1), date(2025, 12, 31), True)
    assert figures["documents_issued"] > 0

    table = run(loaded, "--unit", "vptu", "--year", "2024")
    assert table.returncode == 0, table.stderr
    issued = body["metrics"]["documents_issued"]
    assert "Văn bản ban hành" in table.stdout and f" {issued:,} ".replace(",", ".") in table.stdout


def test_summary_prints_the_paragraph_with_vietnamese_numbers(loaded: Env) -> None:
    done = run(loaded, "--unit", "vptu", "--from", "2023-01-01", "--to", "2024-06-30", "--summary")
    assert done.returncode == 0, done.stderr
    figures = summary(loaded, "vptu", date(2023, 1, 1), date(2024, 6, 30), False)
    issued = f"{figures['documents_issued']:,}".replace(",", ".")
    name = loaded.fetch("SELECT name FROM reporting.units WHERE unit_id = 'vptu'")[0][0]
    assert done.stdout.startswith(
        f"Từ ngày 01/01/2023 đến ngày 30/06/2024, {name or 'vptu'} đã tham mưu ban hành"
        f" {issued} văn bản"
    )
    assert done.stdout.count("\n") == 1  # one paragraph, one line
    english = run(loaded, "--unit", "vptu", "--year", "2024", "--summary", "--lang", "en")
    assert english.returncode == 0 and english.stdout.startswith("In 2024, ")


def test_csv_and_xlsx_are_written_with_the_same_figures(loaded: Env, tmp_path: Path) -> None:
    expected = summary(loaded, "vptu", date(2024, 1, 1), date(2024, 12, 31), False)
    done = run(loaded, "--unit", "vptu", "--year", "2024", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = [line.split(",") for line in done.stdout.splitlines()]
    assert rows[0][0] == "Mã chỉ tiêu"
    assert {r[0]: int(r[-3]) for r in rows[1:]} == expected

    book_path = tmp_path / "vptu-2024.xlsx"
    done = run(
        loaded, "--unit", "vptu", "--year", "2024", "--format", "xlsx", "--output", str(book_path)
    )
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(book_path)
    sheet = book["Chỉ tiêu"]
    assert {sheet.cell(r, 1).value: sheet.cell(r, 3).value for r in range(2, 14)} == expected
    assert len(book.sheetnames) == 7

    missing = run(loaded, "--unit", "vptu", "--year", "2024", "--format", "xlsx")
    assert missing.returncode == 2 and "--output" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "2024", "--term", "2020-2025"], "give one period, not year and term"),
        (["--term", "2025-2020"], "reversed"),
        (["--year", "24"], "is not a year"),
        ([], "give a period"),
        (["--year", "2024", "--format", "pdf"], "use table, json, csv or xlsx"),
    ],
)
def test_a_bad_period_or_format_is_one_line_and_exit_2(
    env: Env, args: list[str], message: str
) -> None:
    done = run(env, "--unit", "vptu", *args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_database_that_cannot_be_asked_is_one_line_naming_the_setting(env: Env) -> None:
    sock, port = refused_port()
    with sock:
        for extra, says, variable in bad_databases(env, port):
            done = run(env, "--unit", "vptu", "--year", "2024", extra=extra)
            assert_one_line(done, says, variable)
            assert done.stdout == ""
