"""``vanphong serve`` against the real stack: its JSON figures are ``activity_summary``'s, bad
input gets a 4xx JSON answer, the downloads are CSV and XLSX, and a database it cannot ask
stops it at start with one line. The page itself in Chromium: tests/test_serve_page.py."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from testkit.history import all_event_types
from tests.conftest import VANPHONG, Env, get, wait_for
from vanphong.core.semantics import METRICS


@dataclass
class Served:
    """A running ``vanphong serve`` and the test's environment."""

    env: Env
    port: int

    def url(self, path: str, **query: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(query)}"

    def get(self, path: str, **query: str) -> tuple[int, str]:
        return get(self.port, f"{path}?{urllib.parse.urlencode(query)}")

    def get_bytes(self, path: str, **query: str) -> bytes:
        import urllib.request

        with urllib.request.urlopen(self.url(path, **query), timeout=30) as response:
            return bytes(response.read())

    def summary(self, unit: str, first: date, last: date, consolidated: bool) -> dict[str, int]:
        row = self.env.fetch(
            "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
            unit,
            first,
            last,
            consolidated,
        )[0]
        return {m: int(row[m]) for m in METRICS}


def load(env: Env) -> None:
    """A small history of every event type, with the mergers of testkit/history.py: btctu and
    btgtu into vptu (2023-09-15), vptu into tu (2024-03-01)."""
    messages = all_event_types(seed=21, entities=300)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()


@contextlib.contextmanager
def serving(
    env: Env, tmp_path: Path, extra: dict[str, str] | None = None, args: list[str] | None = None
) -> Iterator[int]:
    """``vanphong serve`` on a port the OS chooses; its port once it listens."""
    port_file = tmp_path / "serve.port"
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(VANPHONG), "serve", "--port", "0", *(args or [])],
        env={**env.workers.env(), "VANPHONG_SERVE_PORT_FILE": str(port_file), **(extra or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def listening() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"vanphong serve exited: {(tmp_path / 'serve.log').read_text()}"
                )
            return port_file.exists() and port_file.read_text().strip().isdigit()

        wait_for(listening, 60, "vanphong serve to listen")
        yield int(port_file.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def served(env: Env, tmp_path: Path) -> Iterator[Served]:
    load(env)
    with serving(env, tmp_path) as port:
        yield Served(env, port)


def report(served: Served, **query: str) -> dict[str, Any]:
    status, body = served.get("/api/report", **query)
    assert status == 200, body
    parsed: dict[str, Any] = json.loads(body)
    return parsed


SELECTIONS = [
    ({"unit": "vptu", "year": "2024"}, "vptu", date(2024, 1, 1), date(2024, 12, 31), False),
    (
        {"unit": "tu", "term": "2023-2025", "basis": "consolidated"},
        "tu",
        date(2023, 1, 1),
        date(2025, 12, 31),
        True,
    ),
    (
        {"unit": "vptu", "from": "2023-03-15", "to": "2024-02-10", "lang": "en"},
        "vptu",
        date(2023, 3, 15),
        date(2024, 2, 10),
        False,
    ),
]


# What each selection is compared with: a year earlier, or for a period longer than a year
# (the term's three years) the three years just before it (periods.Period.comparison).
COMPARED = [
    (date(2023, 1, 1), date(2023, 12, 31), "year_earlier"),
    (date(2020, 1, 1), date(2022, 12, 31), "preceding"),
    (date(2022, 3, 15), date(2023, 2, 10), "year_earlier"),
]


def test_the_json_figures_are_activity_summarys_beside_a_year_earlier(served: Served) -> None:
    for (query, unit, first, last, consolidated), compared in zip(
        SELECTIONS, COMPARED, strict=True
    ):
        body = report(served, **query)
        assert body["metrics"] == served.summary(unit, first, last, consolidated), query
        before_first, before_last, kind = compared
        assert body["previous"] == served.summary(unit, before_first, before_last, consolidated)
        assert body["previous_period"] == {
            "from": before_first.isoformat(),
            "to": before_last.isoformat(),
        }
        assert body["comparison"] == kind
        assert body["metrics"]["documents_issued"] > 0, query
        # The monthly table covers exactly the period's days: its sums are the figures.
        for metric in METRICS:
            assert sum(row[metric] for row in body["monthly"]) == body["metrics"][metric]
        assert body["tasks"]["on_time"] == body["metrics"]["tasks_completed_on_time"]
        assert body["tasks"]["late"] == body["metrics"]["tasks_completed_late"]
        assert body["selection"] == {**{"basis": "attributed", "lang": "vi"}, **query}
    # A year is whole months: the type and kind tables add up to the figures too.
    year = report(served, unit="vptu", year="2024")
    assert (
        sum(t["documents_issued"] for t in year["documents_by_type"])
        == (year["metrics"]["documents_issued"])
    )
    assert (
        sum(k["meetings_held"] for k in year["meetings_by_kind"])
        == (year["metrics"]["meetings_held"])
    )


def test_the_history_lists_the_mergers_with_dates_and_legal_basis(served: Served) -> None:
    body = report(served, unit="vptu", year="2024")
    merges = {
        (r["absorbed_unit_id"], r["into_unit_id"]): r
        for r in served.env.fetch("SELECT * FROM reporting.merges")
    }
    shown = {(h["absorbed_unit_id"], h["into_unit_id"]): h for h in body["history"]}
    assert set(shown) == {("btctu", "vptu"), ("btgtu", "vptu"), ("vptu", "tu")}
    for pair, step in shown.items():
        assert step["effective_date"] == merges[pair]["effective_date"].isoformat()
        assert step["legal_basis"] == list(merges[pair]["legal_basis"]) == ["18-NQ/TW", "86-KH/TU"]
    assert shown[("vptu", "tu")]["relation"] == "successor"
    assert shown[("btctu", "vptu")]["relation"] == "predecessor"
    status, units = served.get("/api/units")
    assert status == 200 and "vptu" in {u["unit_id"] for u in json.loads(units)["units"]}


BAD_INPUT = [
    ("/api/report", {"unit": "nobody", "year": "2024"}, 404, "unknown_unit"),
    (
        "/api/report",
        {"unit": "vptu", "from": "2024-12-31", "to": "2024-01-01"},
        400,
        "reversed_range",
    ),
    (
        "/api/report",
        {"unit": "vptu", "from": "2024-13-01", "to": "2024-12-31"},
        400,
        "malformed_date",
    ),
    ("/api/report", {"unit": "vptu", "term": "2025-2020"}, 400, "reversed_range"),
    ("/api/report", {"unit": "vptu", "year": "20x4"}, 400, "malformed_year"),
    ("/api/report", {"unit": "vptu", "basis": "both"}, 400, "bad_basis"),
    ("/api/report", {"year": "2024"}, 400, "missing_unit"),
    ("/api/export.csv", {"unit": "nobody", "year": "2024"}, 404, "unknown_unit"),
    ("/api/export.csv", {"unit": "vptu", "year": "2024", "table": "x"}, 400, "bad_table"),
    (
        "/api/export.xlsx",
        {"unit": "vptu", "from": "2024-02-30", "to": "2024-03-01"},
        400,
        "malformed_date",
    ),
]


def test_bad_input_gets_a_4xx_json_error_never_a_traceback(env: Env, tmp_path: Path) -> None:
    with serving(env, tmp_path) as port:
        for path, query, status, code in BAD_INPUT:
            answer, body = get(port, f"{path}?{urllib.parse.urlencode(query)}")
            assert answer == status, (path, query, body)
            error = json.loads(body)["error"]
            assert error["code"] == code and error["message"], (path, query)
            assert "Traceback" not in body


def test_the_downloads_are_csv_and_a_workbook_of_every_table(served: Served) -> None:
    expected = served.summary("vptu", date(2024, 1, 1), date(2024, 12, 31), False)
    data = served.get_bytes("/api/export.csv", unit="vptu", year="2024", table="metrics")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Mã chỉ tiêu,Chỉ tiêu,Kỳ này (01/01/2024–31/12/2024)")
    assert lines[1].startswith(f"documents_issued,Văn bản ban hành,{expected['documents_issued']},")
    book = openpyxl.load_workbook(
        io.BytesIO(served.get_bytes("/api/export.xlsx", unit="vptu", year="2024"))
    )
    assert book.sheetnames[0] == "Chỉ tiêu" and "Lịch sử đơn vị" in book.sheetnames
    sheet = book["Chỉ tiêu"]
    shown = {sheet.cell(r, 1).value: sheet.cell(r, 3).value for r in range(2, 14)}
    assert shown == expected and sheet["C2"].number_format == "#,##0"


def refused_port() -> tuple[socket.socket, int]:
    """A port that refuses connections and stays so until closed: bound, never listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def bad_databases(env: Env, port: int) -> list[tuple[dict[str, str], str, str]]:
    """(environment, what the line says, the variable it names) for each way to get it wrong."""
    url = urllib.parse.urlsplit(env.settings.database_url)
    reporting = f"postgresql://vanphong_reporting:wrong@{url.hostname}:{url.port}{url.path}"
    return [
        (
            {"VANPHONG_REPORTING_DATABASE_URL": reporting},
            "refused the login",
            "VANPHONG_REPORTING_DATABASE_URL",
        ),
        (
            {"VANPHONG_DATABASE_URL": env.settings.database_url.rsplit("/", 1)[0] + "/no_such_db"},
            "has no such database",
            "VANPHONG_DATABASE_URL",
        ),
        (
            {"VANPHONG_DATABASE_URL": f"postgresql://vanphong:vanphong@127.0.0.1:{port}/x"},
            "connection refused",
            "VANPHONG_DATABASE_URL",
        ),
    ]


def assert_one_line(done: subprocess.CompletedProcess[str], says: str, variable: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: PostgreSQL at postgresql://vanphong_reporting:***@")
    assert says in lines[0] and variable in lines[0] and "Traceback" not in done.stderr


def test_serve_stops_at_start_with_one_line_when_the_database_cannot_be_asked(env: Env) -> None:
    sock, port = refused_port()
    with sock:
        for extra, says, variable in bad_databases(env, port):
            done = subprocess.run(
                [str(VANPHONG), "serve", "--port", "0"],
                env={**env.workers.env(), **extra},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert_one_line(done, says, variable)


def test_the_page_and_its_static_files_are_served(served: Served) -> None:
    status, page = served.get("/")
    assert status == 200 and "/static/echarts/echarts.min.js" in page and 'lang="vi"' in page
    status, script = get(served.port, "/static/echarts/echarts.min.js")
    assert status == 200 and "echarts" in script[:2000].lower()
    status, health = get(served.port, "/healthz")
    assert (status, health) == (200, "ok\n")
