"""``make bench-read``: the reporting role's typical queries on a national history, each timed
next to its floor.

Order of a run:

1. the history of ``bench/readdata.py`` (34 provinces, 2018–2025, the 2025 mergers) in database
   ``vanphong_benchread``, generated and loaded the first time, reused afterwards;
2. the product's pending migrations applied to it (so the views measured are this tree's), and
   the floors (re)defined in its schema ``benchread``;
3. each query run ``BENCH_READ_RUNS`` times (a fast one more, up to 200, about 3 s of it) as
   ``vanphong_reporting`` after two warm-up runs, alternating with its floor so that both see
   the same load on the machine; p50 and p95 of the client's wall time (parse, plan, execute,
   rows decoded); then the same as a province reader of ``PROVINCE`` (``province:`` names),
   made with ``vanphong access``'s own code (CONTRACT.md §7: the views filter its rows, the
   summary checks its unit), plus its monthly table asked without a unit list;
4. a table, the targets, and ``bench/results/read-latest.json``.

**The floor** of a query is the same query on a table with no attribution at all:
``core.metric_daily`` read by recorded unit, pivoted and grouped the same way, through the same
indexes (views in ``benchread`` that the reporting role may read). For ``reporting.tasks``, which
attributes nothing, it is a plain table of the tasks' columns with an index on the unit; for
``reporting.units`` the registered and active units without the merger columns. A query within
a small factor of its floor pays little for attribution; one whose floor is itself slow is
reading more of the table than its range.

Settings: ``BENCH_READ_RUNS`` (30), ``BENCH_READ_DATABASE`` (``vanphong_benchread``: point it at
a copy to measure other views), ``BENCH_READ_MIGRATE`` (1; 0 measures the views as they are),
``BENCH_READ_EXPLAIN`` (0; 1 also writes ``EXPLAIN (ANALYZE, BUFFERS)`` of every query and floor
to ``bench/results/read-plans.txt``), ``BENCH_READ_LABEL`` (a name for the run: in the JSON,
which is also kept as ``bench/results/read-<label>.json``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.config import RESULTS_DIR
from bench.infra import with_database
from bench.readdata import DATABASE, Params, ensure
from bench.report import machine, revision
from vanphong.access.roles import grant
from vanphong.core.semantics import METRICS
from vanphong.deploy.local.config import reporting_database_url
from vanphong.ground.dsn import parse_dsn
from vanphong.ground.settings import Settings
from vanphong.sinks.migrate import migrate

OFFICE = "vptu"  # the demo's office, copy 0 (Vĩnh Long)
TERM = (date(2019, 1, 1), date(2024, 9, 30))  # the seed article's period
PROVINCE = "Vĩnh Long"
YEAR = (date(2024, 1, 1), date(2024, 12, 1))  # months of the national table
TASK_UNIT = "btctu"
PROVINCE_ROLE, PROVINCE_PASSWORD = "bench_province_reader", "bench_province_reader"
MAX_RUNS, FAST_BUDGET_MS = 200, 3000.0

PIVOT = ",\n".join(
    f"coalesce(sum(value) FILTER (WHERE metric = '{m}'), 0)::bigint AS {m}" for m in METRICS
)
MONTH = "date_trunc('month', day::timestamp)::date"

# The floors: the same shapes over core.metric_daily by recorded unit (no attribution). Defined
# on every run (they do not depend on the product's migrations, only on core.metric_daily).
FLOORS = f"""
CREATE SCHEMA IF NOT EXISTS benchread;
CREATE OR REPLACE VIEW benchread.floor_cells AS
SELECT unit_id, day, metric, dimension, value FROM core.metric_daily;
CREATE OR REPLACE VIEW benchread.floor_monthly AS
SELECT unit_id, {MONTH} AS month,
{PIVOT}
FROM core.metric_daily
GROUP BY unit_id, {MONTH};
CREATE OR REPLACE VIEW benchread.floor_documents_by_type_monthly AS
SELECT unit_id, {MONTH} AS month, dimension AS doc_type, sum(value)::bigint AS documents_issued
FROM core.metric_daily
WHERE metric = 'documents_issued'
GROUP BY unit_id, {MONTH}, dimension;
CREATE OR REPLACE VIEW benchread.floor_units AS
WITH RECURSIVE active (unit_id) AS (
    SELECT min(unit_id) FROM core.metric_daily WHERE value <> 0
  UNION ALL
    SELECT (SELECT min(m.unit_id) FROM core.metric_daily m
            WHERE m.unit_id > a.unit_id AND m.value <> 0)
    FROM active a WHERE a.unit_id IS NOT NULL
), registered AS (
    SELECT entity_id AS unit_id, record FROM core.entities
    WHERE entity_type = 'unit.registered' AND NOT voided
)
SELECT k.unit_id,
       r.record ->> 'name' AS name,
       r.record ->> 'kind' AS kind,
       r.record ->> 'parent_unit_id' AS parent_unit_id,
       r.record ->> 'province' AS province,
       r.unit_id IS NOT NULL AS registered
FROM (SELECT unit_id FROM registered
      UNION SELECT unit_id FROM active WHERE unit_id IS NOT NULL) k
LEFT JOIN registered r USING (unit_id);
CREATE TABLE IF NOT EXISTS benchread.tasks AS
SELECT a.entity_id AS task_id,
       a.record ->> 'unit_id' AS unit_id,
       a.record ->> 'title' AS title,
       core.local_day((a.record ->> 'occurred_at')::timestamptz) AS assigned_on,
       (a.record ->> 'due_date')::date AS due_on,
       core.local_day((c.record ->> 'occurred_at')::timestamptz) AS completed_on
FROM core.entities a
LEFT JOIN core.entities c
       ON c.entity_type = 'task.completed' AND c.entity_id = a.entity_id AND NOT c.voided
WHERE a.entity_type = 'task.assigned' AND NOT a.voided;
CREATE INDEX IF NOT EXISTS tasks_unit ON benchread.tasks (unit_id);
CREATE OR REPLACE VIEW benchread.floor_tasks AS
SELECT task_id, unit_id, title, assigned_on, due_on, completed_on,
       CASE
           WHEN completed_on IS NOT NULL AND completed_on <= due_on THEN 'done_on_time'
           WHEN completed_on IS NOT NULL THEN 'done_late'
           WHEN due_on < core.today() THEN 'overdue'
           ELSE 'open'
       END AS status
FROM benchread.tasks;
GRANT USAGE ON SCHEMA benchread TO vanphong_reporting, vanphong_province_readers;
GRANT SELECT ON ALL TABLES IN SCHEMA benchread TO vanphong_reporting, vanphong_province_readers;
"""

SUMMARY_FLOOR = f"""SELECT
{PIVOT}
FROM benchread.floor_cells WHERE unit_id = $1 AND day BETWEEN $2 AND $3"""


@dataclass(frozen=True)
class Query:
    """One measured query and its floor; ``target_ms`` bounds its p95 (None: only the floor
    bound applies)."""

    name: str
    what: str
    sql: str
    args: tuple[Any, ...]
    floor_sql: str
    floor_args: tuple[Any, ...]
    target_ms: float | None = None


def queries(province_units: list[str]) -> list[Query]:
    first, last = TERM
    months = (first, last.replace(day=1))
    return [
        Query(
            "summary_attributed",
            f"activity_summary('{OFFICE}', {first}, {last})",
            "SELECT * FROM reporting.activity_summary($1, $2, $3)",
            (OFFICE, first, last),
            SUMMARY_FLOOR,
            (OFFICE, first, last),
            20,
        ),
        Query(
            "summary_consolidated",
            f"activity_summary('{OFFICE}', {first}, {last}, true)",
            "SELECT * FROM reporting.activity_summary($1, $2, $3, true)",
            (OFFICE, first, last),
            SUMMARY_FLOOR,
            (OFFICE, first, last),
            20,
        ),
        Query(
            "province_monthly",
            f"unit_activity_monthly, {len(province_units)} units of {PROVINCE}, {YEAR[0].year}",
            "SELECT * FROM reporting.unit_activity_monthly"
            " WHERE unit_id = ANY($1::text[]) AND month BETWEEN $2 AND $3",
            (province_units, *YEAR),
            "SELECT * FROM benchread.floor_monthly"
            " WHERE unit_id = ANY($1::text[]) AND month BETWEEN $2 AND $3",
            (province_units, *YEAR),
            100,
        ),
        Query(
            "national_year",
            f"unit_activity_consolidated_monthly, every unit, {YEAR[0].year}",
            "SELECT * FROM reporting.unit_activity_consolidated_monthly"
            " WHERE month BETWEEN $1 AND $2",
            YEAR,
            "SELECT * FROM benchread.floor_monthly WHERE month BETWEEN $1 AND $2",
            YEAR,
            1000,
        ),
        Query(
            "documents_by_type",
            f"documents_by_type_monthly, '{OFFICE}', {months[0]:%Y-%m} – {months[1]:%Y-%m}",
            "SELECT * FROM reporting.documents_by_type_monthly"
            " WHERE unit_id = $1 AND month BETWEEN $2 AND $3",
            (OFFICE, *months),
            "SELECT * FROM benchread.floor_documents_by_type_monthly"
            " WHERE unit_id = $1 AND month BETWEEN $2 AND $3",
            (OFFICE, *months),
        ),
        Query(
            "units",
            "reporting.units, every row",
            "SELECT * FROM reporting.units",
            (),
            "SELECT * FROM benchread.floor_units",
            (),
        ),
        Query(
            "tasks",
            f"reporting.tasks of '{TASK_UNIT}'",
            "SELECT * FROM reporting.tasks WHERE unit_id = $1",
            (TASK_UNIT,),
            "SELECT * FROM benchread.floor_tasks WHERE unit_id = $1",
            (TASK_UNIT,),
        ),
    ]


def province_queries(province_units: list[str]) -> list[Query]:
    """The province reader's: the national role's queries about its province (not the
    national year), and its monthly table as it would naturally ask it, without a unit list
    (the views keep its units), beside the same floor."""
    mine = [
        Query(f"province:{q.name}", q.what, q.sql, q.args, q.floor_sql, q.floor_args, q.target_ms)
        for q in queries(province_units)
        if q.name != "national_year"
    ]
    monthly = next(q for q in queries(province_units) if q.name == "province_monthly")
    mine.append(
        Query(
            "province:monthly_unlisted",
            f"unit_activity_monthly, every unit it sees ({PROVINCE}), {YEAR[0].year}",
            "SELECT * FROM reporting.unit_activity_monthly WHERE month BETWEEN $1 AND $2",
            YEAR,
            monthly.floor_sql,
            monthly.floor_args,
            100,
        )
    )
    return mine


@dataclass
class Timing:
    """The samples of one query (ms), and what one run returned and read."""

    samples: list[float] = field(default_factory=list)
    rows: int = 0
    buffers: int | None = None

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return self.quantile(0.5)

    @property
    def p95(self) -> float:
        return self.quantile(0.95)


@dataclass
class Measured:
    query: Query
    view: Timing
    floor: Timing

    @property
    def ratio(self) -> float:
        return self.view.p95 / self.floor.p95 if self.floor.p95 else float("inf")

    def verdict(self) -> dict[str, Any]:
        within_floor = self.ratio <= 3.0
        target = self.query.target_ms
        met_target = target is None or self.view.p95 <= target
        return {
            "within_3x_floor": within_floor,
            "target_ms": target,
            "met_target": met_target,
            "met": within_floor and met_target,
        }


async def timed(conn: asyncpg.Connection, sql: str, args: Sequence[Any]) -> tuple[float, int]:
    started = time.perf_counter()
    rows = await conn.fetch(sql, *args)
    return (time.perf_counter() - started) * 1000, len(rows)


async def buffers(conn: asyncpg.Connection, sql: str, args: Sequence[Any]) -> tuple[int, str]:
    """Shared buffers hit or read by one run, and its plan as text."""
    plan = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
    top = json.loads(plan)[0]["Plan"] if isinstance(plan, str) else plan[0]["Plan"]
    text = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    return (
        int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0)),
        "\n".join(r[0] for r in text),
    )


async def measure(
    conn: asyncpg.Connection, query: Query, runs: int, plans: list[str] | None
) -> Measured:
    view, floor = Timing(), Timing()
    warm = 0.0
    for _ in range(2):  # warm-up: caches, catalog lookups
        warm, _ = await timed(conn, query.sql, query.args)
        await timed(conn, query.floor_sql, query.floor_args)
    # A fast query gets more runs (up to 200, about 3 s of it): its p95 is otherwise the second
    # largest of a few dozen samples, one scheduling hiccup of a shared machine.
    runs = max(runs, min(MAX_RUNS, int(FAST_BUDGET_MS / max(warm, 1.0))))
    for _ in range(runs):
        ms, view.rows = await timed(conn, query.sql, query.args)
        view.samples.append(ms)
        ms, floor.rows = await timed(conn, query.floor_sql, query.floor_args)
        floor.samples.append(ms)
    view.buffers, view_plan = await buffers(conn, query.sql, query.args)
    floor.buffers, floor_plan = await buffers(conn, query.floor_sql, query.floor_args)
    if plans is not None:
        plans.append(f"## {query.name}: {query.what}\n\n{query.sql}\n\n{view_plan}\n")
        plans.append(f"## {query.name} (floor)\n\n{query.floor_sql}\n\n{floor_plan}\n")
    return Measured(query, view, floor)


def render(results: list[Measured], console: Console) -> None:
    for m in results:
        console.print(f"  {m.query.name}: {m.query.what}")
    table = Table(
        title="reporting queries as vanphong_reporting, then (province:) as a province reader (ms)"
    )
    for column in ("query", "rows", "p50", "p95", "floor p50", "floor p95", "× floor", "target"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for m in results:
        v = m.verdict()
        target = f"≤ {m.query.target_ms:,.0f}" if m.query.target_ms else ""
        mark = "[green]met[/]" if v["met"] else "[red]missed[/]"
        table.add_row(
            m.query.name,
            f"{m.view.rows:,}",
            f"{m.view.p50:,.1f}",
            f"{m.view.p95:,.1f}",
            f"{m.floor.p50:,.1f}",
            f"{m.floor.p95:,.1f}",
            f"{m.ratio:.2f}",
            f"{target} {mark}".strip(),
        )
    console.print(table)


def document(
    results: list[Measured], params: Params, runs: int, database: str, label: str
) -> dict[str, Any]:
    return {
        "label": label,
        "revision": revision(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "database": database,
        "history": params.__dict__,
        "runs": runs,
        "machine": machine(),
        "load_average": os.getloadavg(),
        "queries": {
            m.query.name: {
                "what": m.query.what,
                "sql": m.query.sql,
                "floor_sql": m.query.floor_sql,
                "rows": m.view.rows,
                "runs": len(m.view.samples),
                "p50_ms": round(m.view.p50, 2),
                "p95_ms": round(m.view.p95, 2),
                "floor_p50_ms": round(m.floor.p50, 2),
                "floor_p95_ms": round(m.floor.p95, 2),
                "ratio_p95": round(m.ratio, 2),
                "buffers": m.view.buffers,
                "floor_buffers": m.floor.buffers,
                **m.verdict(),
            }
            for m in results
        },
    }


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: expected an integer") from None


async def amain() -> int:
    console = Console()
    if not console.is_terminal:  # a log file: room for the table rather than 80 columns
        console = Console(width=120)
    settings = Settings()
    params = Params()
    runs = max(1, _int("BENCH_READ_RUNS", 30))
    database = os.environ.get("BENCH_READ_DATABASE", "").strip() or DATABASE
    label = os.environ.get("BENCH_READ_LABEL", "").strip() or revision()
    if database == DATABASE:
        url = await ensure(settings, params, console)
    else:
        url = with_database(settings.database_url, database)
    if _int("BENCH_READ_MIGRATE", 1):
        applied = await asyncio.to_thread(migrate, url, settings.timezone)
        if applied:
            console.print(f"applied migrations {', '.join(applied)}; analyze")
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("ANALYZE core.metric_daily, core.entities")
            finally:
                await conn.close()
    owner = await asyncpg.connect(url)
    try:
        # Ranges filled since the last vacuum are unsummarized, and a BRIN returns every such
        # range: summarize them, as autovacuum (autosummarize) does on a live database.
        for (index,) in await owner.fetch(
            "SELECT i.indexrelid::regclass::text FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
            " WHERE i.indrelid = 'core.metric_daily'::regclass AND a.amname = 'brin'"
        ):
            await owner.execute("SELECT brin_summarize_new_values($1::regclass)", index)
        await owner.execute(FLOORS)
        units = [
            r["unit_id"]
            for r in await owner.fetch(
                "SELECT entity_id AS unit_id FROM core.entities"
                " WHERE entity_type = 'unit.registered' AND record ->> 'province' = $1"
                " ORDER BY 1",
                PROVINCE,
            )
        ]
    finally:
        await owner.close()
    granted = await asyncio.to_thread(grant, url, PROVINCE_ROLE, PROVINCE, PROVINCE_PASSWORD)
    console.print(granted)
    reader_url = reporting_database_url(settings.model_copy(update={"database_url": url}))
    province_url = parse_dsn(url).with_login(PROVINCE_ROLE, PROVINCE_PASSWORD).render()
    plans: list[str] | None = [] if _int("BENCH_READ_EXPLAIN", 0) else None
    results: list[Measured] = []
    national = await asyncpg.connect(reader_url, statement_cache_size=0)
    province = await asyncpg.connect(province_url, statement_cache_size=0)
    try:
        # Each province query right after its national twin: the machine's load drifts.
        mine = {q.name: q for q in province_queries(units)}
        for query in queries(units):
            console.print(f"-- {query.name}: {query.what}")
            results.append(await measure(national, query, runs, plans))
            twin = mine.pop(f"province:{query.name}", None)
            if twin is not None:
                results.append(await measure(province, twin, runs, plans))
        for query in mine.values():
            console.print(f"-- {query.name}: {query.what}")
            results.append(await measure(province, query, runs, plans))
    finally:
        await national.close()
        await province.close()
    render(results, console)
    doc = document(results, params, runs, database, label)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "read-latest.json"
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    out.write_text(text)
    if os.environ.get("BENCH_READ_LABEL", "").strip():  # kept beside the latest, by name
        (RESULTS_DIR / f"read-{label}.json").write_text(text)
    if plans is not None:
        Path(RESULTS_DIR / "read-plans.txt").write_text("\n".join(plans))
    missed = [name for name, q in doc["queries"].items() if not q["met"]]
    console.print(
        "bench-read: "
        + " ".join(f"{name}_p95_ms={q['p95_ms']:.1f}" for name, q in doc["queries"].items())
        + f" missed={','.join(missed) or 'none'}"
    )
    console.print(f"results in {out}")
    return 0


def main() -> None:
    sys.exit(asyncio.run(amain()))


if __name__ == "__main__":
    main()
