"""The command line against the real stack: publish, report, and the reporting role."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from testkit.history import all_event_types
from tests.conftest import VANPHONG, Env
from vanphong.deploy.local.stack import reporting_database_url

METRIC_COUNT = 12


def run(env: Env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), *args],
        env=env.workers.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_publish_reports_every_invalid_line_and_publishes_nothing(env: Env, tmp_path: Path) -> None:
    good = {
        "type": "meeting.held",
        "meeting_id": "m1",
        "unit_id": "vptu",
        "kind": "GIAO_BAN",
        "title": "Giao ban",
        "attendees": 12,
        "mode": "IN_PERSON",
        "event_id": "e1",
        "occurred_at": "2024-09-30T18:30:00Z",
        "source": "lich-hop",
    }
    lines = [
        json.dumps(good, ensure_ascii=False),
        "{not json",
        json.dumps({**good, "kind": "PICNIC"}),
        "",
        json.dumps({**good, "type": "document.issued"}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(env, "publish", str(path))
    assert result.returncode == 1
    assert f"{path}:2:" in result.stderr and f"{path}:3:" in result.stderr
    assert f"{path}:5:" in result.stderr and "PICNIC" in result.stderr
    assert "nothing published" in result.stderr
    env.wait_caught_up(30)  # nothing to wait for: the topics are empty
    skipped = run(env, "publish", "--skip-invalid", "-", stdin="\n".join(lines))
    assert skipped.returncode == 1 and "published 1 event" in skipped.stdout
    env.workers.start()
    env.wait_caught_up()
    day = env.fetch("SELECT day, meetings_held FROM reporting.unit_activity_daily")
    assert [(r["day"], r["meetings_held"]) for r in day] == [(date(2024, 10, 1), 1)]


@pytest.fixture
def loaded(env: Env) -> Env:
    messages = all_event_types(seed=21, entities=400)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()
    return env


@pytest.mark.parametrize(
    ("unit", "consolidated"),
    [("vptu", False), ("tu", True)],  # vptu is merged into tu: its history is consolidated there
)
def test_report_gives_the_figures_of_activity_summary(
    loaded: Env, unit: str, consolidated: bool
) -> None:
    args = ["report", "--unit", unit, "--from", "2023-01-01", "--to", "2024-12-31", "--json"]
    result = run(loaded, *args, *(["--consolidated"] if consolidated else []))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["metrics"]
    row = loaded.fetch(
        "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
        unit,
        date(2023, 1, 1),
        date(2024, 12, 31),
        consolidated,
    )[0]
    assert shown == dict(row) and len(shown) == METRIC_COUNT
    assert shown["documents_issued"] > 0


def test_report_table_is_readable_with_grouped_thousands(loaded: Env) -> None:
    unit, name = loaded.fetch(
        "SELECT u.unit_id, u.name FROM reporting.units u WHERE u.registered ORDER BY"
        " (SELECT documents_issued FROM reporting.activity_summary(u.unit_id, '2000-01-01',"
        " '2030-12-31')) DESC LIMIT 1"
    )[0]
    result = run(loaded, "report", "--unit", unit, "--from", "2000-01-01", "--to", "2030-12-31")
    assert result.returncode == 0, result.stderr
    assert name in result.stdout and "Văn bản ban hành" in result.stdout
    issued = loaded.fetch(
        "SELECT documents_issued FROM reporting.activity_summary($1, '2000-01-01', '2030-12-31')",
        unit,
    )[0][0]
    assert issued > 0 and f" {issued:,} ".replace(",", ".") in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unit", "nobody", "--from", "2024-01-01", "--to", "2024-12-31"], "unknown unit"),
        (["--unit", "vptu", "--from", "2024-12-31", "--to", "2024-01-01"], "reversed"),
        (["--unit", "vptu", "--from", "2024-13-01", "--to", "2024-12-31"], "not a date"),
    ],
)
def test_report_explains_what_is_wrong(loaded: Env, args: list[str], message: str) -> None:
    result = run(loaded, "report", *args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())


async def _as_reporting_role(env: Env) -> None:
    conn = await asyncpg.connect(reporting_database_url(env.settings))
    try:
        assert await conn.fetchval("SELECT count(*) FROM reporting.units") > 0
        await conn.fetch(
            "SELECT * FROM reporting.activity_summary('vptu', '2023-01-01', '2024-12-31', true)"
        )
        for view in ("unit_activity_daily", "tasks", "merges", "documents_by_type_monthly"):
            await conn.fetch(f"SELECT * FROM reporting.{view} LIMIT 5")
        for forbidden in (
            "SELECT * FROM core.entities",
            "SELECT * FROM core.metric_daily",
            "SELECT * FROM core.attribution",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(forbidden)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.x (i int)")
    finally:
        await conn.close()


def test_the_reporting_role_reads_reporting_and_nothing_else(loaded: Env) -> None:
    loaded.run(_as_reporting_role(loaded))


def test_recipient_names_are_stored_but_never_in_reporting(loaded: Env) -> None:
    stored = loaded.fetch(
        "SELECT count(*) FROM core.entities WHERE record->>'recipient_name' = 'Trần Thị B'"
    )[0][0]
    assert stored > 0
    columns = loaded.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'reporting'"
    )
    assert not [
        c for c in columns if "recipient" in c["column_name"] and "unit" not in c["column_name"]
    ]
    for (view,) in {(c["table_name"],) for c in columns}:
        text = " ".join(str(tuple(r)) for r in loaded.fetch(f"SELECT * FROM reporting.{view}"))
        assert "Trần Thị B" not in text, view
