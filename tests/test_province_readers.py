"""Province readers (CONTRACT.md §7, issue 19 part 1; migration 0009, ``vanphong access``).

A history of four provinces, two of them merged away in 2025 the two ways the reorganisation
did it: Tỉnh C's office merged into Tỉnh A's (``office.merged``), Tỉnh D's units re-registered
with Tỉnh B (a higher ``unit.registered`` revision). Each province gets a reader made by the
command; each reader reads every view of ``reporting`` and ``activity_summary`` of every unit,
directly and the way the reporting page does it (vanphong_reporting, ``SET LOCAL ROLE``), and
sees exactly the national rows of its units; then the side doors are tried as one of them.
Events go through the worker's write path (tests/test_read_side.py's ``write``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from testkit.model import METRICS
from tests.conftest import VANPHONG, Env
from tests.test_read_side import _at, _common, document, meeting, merger, write
from vanphong.deploy.local.config import reporting_database_url
from vanphong.ground.dsn import parse_dsn

PASSWORD = "mật khẩu đủ dài 19"  # non-ASCII on purpose: the file is read as UTF-8
A, B, C, D = "Tỉnh A", "Tỉnh B", "Tỉnh C", "Tỉnh D"
MERGED_ON = date(2025, 7, 1)
# unit → (its province at first, its name): D's units move to B later.
UNITS = {
    "a_vp": (A, "Văn phòng Tỉnh ủy A"),
    "a_tc": (A, "Ban Tổ chức A"),
    "b_vp": (B, "Văn phòng Tỉnh ủy B"),
    "c_vp": (C, "Văn phòng Tỉnh ủy C"),
    "c_tc": (C, "Ban Tổ chức C"),
    "d_vp": (D, "Văn phòng Tỉnh ủy D"),
}


def unit(unit_id: str, province: str, revision: int = 1) -> dict[str, Any]:
    name = UNITS[unit_id][1]
    at = _at(date(2018, 1, 2), revision)
    return _common("unit.registered", unit_id, revision, False, at) | {
        "name": name,
        "kind": "OFFICE",
        "parent_unit_id": None,
        "province": province,
    }


def task(task_id: str, unit_id: str, day: date) -> dict[str, Any]:
    return _common("task.assigned", task_id, 1, False, _at(day, 600)) | {
        "unit_id": unit_id,
        "assigned_by": "BTV",
        "title": f"việc của {unit_id}",
        "source_document": None,
        "due_date": date(day.year, 12, 31).isoformat(),
    }


def activity() -> list[dict[str, Any]]:
    """Documents, meetings and a task of every unit, in 2024 and after the merger in 2025."""
    events = []
    for i, unit_id in enumerate(UNITS):
        for day in (date(2024, 3, 10 + i), date(2025, 9, 10 + i)):
            events.append(document(f"doc-{unit_id}-{day}", unit_id, day, 600, i % 2 == 0))
            events.append(meeting(f"mtg-{unit_id}-{day}", unit_id, day, 660, 10 + i))
        events.append(task(f"task-{unit_id}", unit_id, date(2024, 5, 1)))
    return events


@dataclass
class Readers:
    """The test's roles (cluster-wide, so named after the test's own prefix) and how to use
    them."""

    env: Env
    prefix: str
    password_file: Path

    def role(self, province: str) -> str:
        return f"{self.prefix}_{province[-1].lower()}"

    def vanphong(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VANPHONG), *args],
            env=self.env.workers.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def grant(self, province: str) -> str:
        done = self.vanphong(
            "access",
            "grant-province",
            self.role(province),
            "--province",
            province,
            "--password-file",
            str(self.password_file),
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def url(self, role: str) -> str:
        dsn = parse_dsn(self.env.settings.database_url)
        return dsn.with_login(role, PASSWORD).render()


@pytest.fixture
def readers(env: Env, tmp_path: Path) -> Iterator[Readers]:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    made = Readers(env, env.settings.topic_prefix, password_file)
    try:
        yield made
    finally:
        roles = [made.role(p) for p in (A, B, C, D)] + [f"{made.prefix}_x"]
        for role in roles:  # whatever a failed test left behind
            env.fetch(f'DROP ROLE IF EXISTS "{role}"')


# -- reading as a role ----------------------------------------------------------------------


def views(env: Env) -> list[str]:
    rows = env.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'reporting'"
        " AND table_name <> 'province_roles' ORDER BY 1"
    )
    return [r[0] for r in rows]


def columns(env: Env, view: str) -> list[str]:
    rows = env.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'reporting' AND table_name = $1",
        view,
    )
    return [r[0] for r in rows]


def _row(record: asyncpg.Record) -> tuple[Any, ...]:
    return tuple((k, str(v)) for k, v in record.items())


async def _read_all(conn: asyncpg.Connection, names: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for view in names:
        out[view] = sorted(_row(r) for r in await conn.fetch(f"SELECT * FROM reporting.{view}"))
    return out


def read_as(env: Env, url: str, names: list[str], set_role: str | None = None) -> dict[str, Any]:
    """Every view's rows as the role of ``url`` (or, connected so, after SET LOCAL ROLE)."""

    async def go() -> dict[str, Any]:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                if set_role:
                    await conn.execute(f'SET LOCAL ROLE "{set_role}"')
                return await _read_all(conn, names)
        finally:
            await conn.close()

    return env.run(go())


def visible_rows(env: Env, national: dict[str, Any], units: set[str]) -> dict[str, Any]:
    """The national rows about ``units``: by unit_id, or both units of a merger."""
    out = {}
    for view, rows in national.items():
        cols = columns(env, view)
        if "unit_id" in cols:
            out[view] = [r for r in rows if dict(r)["unit_id"] in units]
        elif {"absorbed_unit_id", "into_unit_id"} <= set(cols):
            out[view] = [
                r
                for r in rows
                if dict(r)["absorbed_unit_id"] in units and dict(r)["into_unit_id"] in units
            ]
        else:
            raise AssertionError(f"reporting.{view} has no unit column: how is it filtered?")
    return out


def summaries(env: Env, url: str, set_role: str | None = None) -> dict[str, Any]:
    """activity_summary of every unit, both bases: the row, or 'denied' (SQLSTATE 42501)."""

    async def go() -> dict[str, Any]:
        conn = await asyncpg.connect(url)
        out: dict[str, Any] = {}
        try:
            for unit_id in UNITS:
                for consolidated in (False, True):
                    try:
                        async with conn.transaction():
                            if set_role:
                                await conn.execute(f'SET LOCAL ROLE "{set_role}"')
                            row = await conn.fetchrow(
                                "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
                                unit_id,
                                date(2018, 1, 1),
                                date(2026, 12, 31),
                                consolidated,
                            )
                        out[f"{unit_id}/{consolidated}"] = [row[m] for m in METRICS]
                    except asyncpg.InsufficientPrivilegeError:
                        out[f"{unit_id}/{consolidated}"] = "denied"
        finally:
            await conn.close()
        return out

    return env.run(go())


def assert_reads_exactly(
    env: Env, readers: Readers, province: str, units: set[str], national: dict[str, Any]
) -> None:
    role = readers.role(province)
    names = list(national)
    expected = visible_rows(env, national, units)
    page = reporting_database_url(env.settings)
    assert read_as(env, readers.url(role), names) == expected, province
    assert read_as(env, page, names, set_role=role) == expected, province
    national_sums = summaries(env, page)
    want = {k: (v if k.split("/")[0] in units else "denied") for k, v in national_sums.items()}
    assert summaries(env, readers.url(role)) == want, province
    assert summaries(env, page, set_role=role) == want, province


# -- the tests ------------------------------------------------------------------------------


def test_each_province_reads_its_units_and_the_history_merged_into_it(
    env: Env, readers: Readers
) -> None:
    write(env, [unit(u, p) for u, (p, _) in UNITS.items()] + activity())
    for province in (A, B, C, D):
        assert "created" in readers.grant(province)
    # 2025: C's offices merge into A's; D's unit is re-registered with B.
    write(
        env,
        [
            merger("m-c", ["c_vp"], "a_vp", MERGED_ON),
            merger("m-c2", ["c_tc"], "a_tc", MERGED_ON),
            unit("d_vp", B, revision=2),
        ],
    )
    names = views(env)
    national = read_as(env, reporting_database_url(env.settings), names)
    assert {"units", "merges", "unit_activity_monthly", "tasks"} <= set(names)

    assert_reads_exactly(env, readers, A, {"a_vp", "a_tc", "c_vp", "c_tc"}, national)
    assert_reads_exactly(env, readers, B, {"b_vp", "d_vp"}, national)
    # The old provinces: C's units still say C (their history before the merger, nothing
    # after it: their later activity belongs to A's offices); D's role sees nothing at all.
    assert_reads_exactly(env, readers, C, {"c_vp", "c_tc"}, national)
    assert_reads_exactly(env, readers, D, set(), national)

    # The merged province's whole history is A's: its consolidated months include C's 2024.
    a_role = readers.url(readers.role(A))
    a_months = read_as(env, a_role, ["unit_activity_consolidated_monthly"])
    march = [
        dict(r)
        for r in a_months["unit_activity_consolidated_monthly"]
        if dict(r)["unit_id"] == "a_vp" and dict(r)["month"] == "2024-03-01"
    ]
    assert march and march[0]["documents_issued"] == "2", march  # a_vp's and c_vp's
    c_months = read_as(env, readers.url(readers.role(C)), ["unit_activity_monthly"])
    assert all(dict(r)["month"] < str(MERGED_ON) for r in c_months["unit_activity_monthly"])
    assert c_months["unit_activity_monthly"], "C's reader keeps C's history before the merger"


def test_side_doors_stay_shut_for_a_province_reader(env: Env, readers: Readers) -> None:
    write(env, [unit(u, p) for u, (p, _) in UNITS.items()] + activity())
    readers.grant(A)
    role = readers.role(A)
    hidden_units = {u for u, (p, _) in UNITS.items() if p != A}
    hidden = hidden_units | {UNITS[u][1] for u in hidden_units} | {B, C, D}
    names = views(env)
    view_columns = {view: columns(env, view) for view in names}

    def leaked(text: str) -> set[str]:
        return {h for h in hidden if h in text}

    async def go() -> None:
        conn = await asyncpg.connect(readers.url(role))
        notices: list[str] = []
        conn.add_log_listener(lambda _c, message: notices.append(str(message.message)))
        try:
            # A function of the reader's own, as cheap as can be, sees only the kept rows.
            await conn.execute(
                "CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE plpgsql"
                " COST 0.0000001 AS $$ BEGIN RAISE NOTICE 'peek %', $1; RETURN true; END $$"
            )
            for view in names:
                for column in view_columns[view]:
                    await conn.fetch(
                        f"SELECT 1 FROM reporting.{view} WHERE pg_temp.peek({column}::text)"
                    )
                    # An error that would name a hidden row's value, were it evaluated on it.
                    await conn.fetch(
                        f"SELECT 1 FROM reporting.{view} WHERE 1 / (CASE WHEN {column}::text"
                        f" = ANY ($1::text[]) THEN 0 ELSE 1 END) = 1",
                        sorted(hidden),
                    )
                plan = await conn.fetch(
                    f"EXPLAIN (ANALYZE, VERBOSE, BUFFERS) SELECT * FROM reporting.{view}"
                )
                assert not leaked("\n".join(r[0] for r in plan)), view
            assert notices and not leaked("\n".join(notices)), notices
            # A cast that fails names a value: one of the reader's own.
            with pytest.raises(asyncpg.InvalidTextRepresentationError) as failed:
                await conn.fetch("SELECT 1 FROM reporting.units WHERE name::int = 0")
            assert not leaked(str(failed.value))
            # COPY reads through the same views; the tables behind them are closed.
            lines: list[bytes] = []

            async def sink(chunk: bytes) -> None:
                lines.append(chunk)

            await conn.copy_from_query("SELECT * FROM reporting.units", output=sink)
            copied = b"".join(lines).decode()
            assert "a_vp" in copied and not leaked(copied)
            for table in ("core.metric_daily", "core.entities", "core.province_readers"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetch(f"SELECT * FROM {table} LIMIT 1")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.copy_from_table(table.split(".")[1], schema_name="core", output=sink)
            stats = await conn.fetchval(
                "SELECT count(*) FROM pg_stats WHERE schemaname IN ('core', 'reporting')"
            )
            assert stats == 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(
                    "SELECT * FROM reporting.activity_summary('b_vp', $1, $2)",
                    date(2018, 1, 1),
                    date(2026, 1, 1),
                )
            # Its own row of the role map, no other; no way to the national role.
            assert [
                tuple(r) for r in await conn.fetch("SELECT * FROM reporting.province_roles")
            ] == [(role, A)]
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("SET ROLE vanphong_reporting")
            # The group it belongs to sees nothing.
            await conn.execute("SET ROLE vanphong_province_readers")
            assert await conn.fetchval("SELECT count(*) FROM reporting.units") == 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(
                    "SELECT * FROM reporting.activity_summary('a_vp', $1, $2)",
                    date(2018, 1, 1),
                    date(2026, 1, 1),
                )
        finally:
            await conn.close()

    env.run(go())
    # Every view is a security barrier; the only function that runs as its owner is the
    # summary, which checks its caller; no function of ours is leakproof.
    loose = env.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'reporting' AND c.relkind = 'v'"
        " AND NOT coalesce('security_barrier=true' = ANY (c.reloptions), false)"
    )
    assert not loose, [r[0] for r in loose]
    definers = env.fetch(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'reporting' AND p.prosecdef"
    )
    assert [r[0] for r in definers] == ["activity_summary"]
    leakproof = env.fetch(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n"
        " ON n.oid = p.pronamespace WHERE p.proleakproof AND n.nspname IN ('core', 'reporting')"
    )
    assert not leakproof
