"""The read side: a report's rows fetched from schema ``reporting`` only (CONTRACT.md §7), on
the reporting role's connections (:mod:`vanphong.reporting.database`): the queries one by one,
a whole report on a connection (:func:`figures_only`, :func:`full_report`), and one report on
a connection of its own (:func:`fetch_report`, ``vanphong report``'s)."""

from __future__ import annotations

from datetime import date

import asyncpg

from vanphong.core.semantics import METRICS
from vanphong.ground.settings import Settings
from vanphong.reporting.database import connection, guarded, reporting_url
from vanphong.reporting.model import (
    Basis,
    Breakdown,
    Merge,
    MonthRow,
    Report,
    ReportError,
    Tasks,
    Unit,
    add_metrics,
    attributed_to,
    consolidated_members,
    history,
    months_of,
    zero_metrics,
)
from vanphong.reporting.periods import Period


async def units(conn: asyncpg.Connection) -> list[Unit]:
    """Every unit of ``reporting.units``, by name in Vietnamese order."""
    rows = await conn.fetch(
        "SELECT unit_id, name, kind, province, status, final_unit_id FROM reporting.units"
        ' ORDER BY coalesce(name, unit_id) COLLATE "vi-x-icu", unit_id'
    )
    return [_unit(r) for r in rows]


def _unit(row: asyncpg.Record) -> Unit:
    return Unit(
        row["unit_id"],
        row["name"],
        row["kind"],
        row["province"],
        row["status"],
        row["final_unit_id"],
    )


async def unit(conn: asyncpg.Connection, unit_id: str) -> Unit:
    row = await conn.fetchrow(
        "SELECT unit_id, name, kind, province, status, final_unit_id FROM reporting.units"
        " WHERE unit_id = $1",
        unit_id,
    )
    if row is None:
        raise ReportError(
            f"unknown unit {unit_id!r}: it is neither registered nor has any activity"
            " (list units with: SELECT unit_id, name FROM reporting.units)",
            code="unknown_unit",
            field="unit",
        )
    return _unit(row)


async def summary(
    conn: asyncpg.Connection, unit_id: str, period: Period, consolidated: bool
) -> dict[str, int]:
    """``reporting.activity_summary`` itself: the page's figures are the contract's."""
    row = await conn.fetchrow(
        "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
        unit_id,
        period.start,
        period.end,
        consolidated,
    )
    assert row is not None  # an aggregate without GROUP BY returns one row
    return {m: int(row[m]) for m in METRICS}


async def merges(conn: asyncpg.Connection) -> list[Merge]:
    rows = await conn.fetch(
        "SELECT merge_id, into_unit_id, absorbed_unit_id, effective_date, legal_basis"
        " FROM reporting.merges"
    )
    return [
        Merge(
            r["merge_id"],
            r["into_unit_id"],
            r["absorbed_unit_id"],
            r["effective_date"],
            tuple(r["legal_basis"] or ()),
        )
        for r in rows
    ]


async def monthly(conn: asyncpg.Connection, ids: list[str], period: Period) -> list[MonthRow]:
    """The 12 metrics by month over exactly the period's days."""
    sums = ", ".join(f"sum({m})::bigint AS {m}" for m in METRICS)
    rows = await conn.fetch(
        f"SELECT date_trunc('month', day)::date AS month, {sums}"
        " FROM reporting.unit_activity_daily"
        " WHERE unit_id = ANY($1::text[]) AND day BETWEEN $2 AND $3"
        " GROUP BY 1 ORDER BY 1",
        ids,
        period.start,
        period.end,
    )
    found: dict[date, dict[str, int]] = {}
    for row in rows:
        metrics = zero_metrics()
        add_metrics(metrics, row)
        found[row["month"]] = metrics
    return [MonthRow(m, found.get(m) or zero_metrics()) for m in months_of(period, found)]


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


async def documents_by_type(
    conn: asyncpg.Connection, ids: list[str], period: Period
) -> list[Breakdown]:
    """Documents by type over the months the period touches (the view is monthly)."""
    rows = await conn.fetch(
        "SELECT doc_type, sum(documents_issued)::bigint AS n"
        " FROM reporting.documents_by_type_monthly"
        " WHERE unit_id = ANY($1::text[]) AND month BETWEEN $2 AND $3"
        " GROUP BY doc_type HAVING sum(documents_issued) <> 0 ORDER BY n DESC, doc_type",
        ids,
        _first_of_month(period.start),
        period.end,
    )
    return [Breakdown(r["doc_type"], int(r["n"])) for r in rows]


async def meetings_by_kind(
    conn: asyncpg.Connection, ids: list[str], period: Period
) -> list[Breakdown]:
    rows = await conn.fetch(
        "SELECT kind, sum(meetings_held)::bigint AS n, sum(meeting_attendees)::bigint AS a"
        " FROM reporting.meetings_by_kind_monthly"
        " WHERE unit_id = ANY($1::text[]) AND month BETWEEN $2 AND $3"
        " GROUP BY kind HAVING sum(meetings_held) <> 0 ORDER BY n DESC, kind",
        ids,
        _first_of_month(period.start),
        period.end,
    )
    return [Breakdown(r["kind"], int(r["n"]), int(r["a"])) for r in rows]


async def family(conn: asyncpg.Connection, the_unit: Unit) -> dict[str, asyncpg.Record]:
    """Every unit whose chain ends where ``the_unit``'s does (``unit_id``, ``name``,
    ``final_unit_id``): the only ones whose activity can ever count for it, and every side of
    its history (one chain, one final unit)."""
    rows = await conn.fetch(
        "SELECT unit_id, name, final_unit_id FROM reporting.units WHERE final_unit_id = $1",
        the_unit.final_unit_id or the_unit.unit_id,
    )
    return {r["unit_id"]: r for r in rows}


async def overdue(
    conn: asyncpg.Connection,
    the_unit: Unit,
    basis: Basis,
    ids: list[str],
    kin: list[str],
    all_merges: list[Merge],
    period: Period,
) -> int:
    """Tasks not done and past due today, due within the period, that count for the unit:
    recorded by one of its members (consolidated) or belonging to it on the day they were
    assigned (attributed)."""
    recorded = ids if basis == "consolidated" else kin
    rows = await conn.fetch(
        "SELECT unit_id, assigned_on FROM reporting.tasks"
        " WHERE status = 'overdue' AND due_on BETWEEN $2 AND $3 AND unit_id = ANY($1::text[])",
        recorded,
        period.start,
        period.end,
    )
    if basis == "consolidated":
        return len(rows)
    return sum(
        1
        for r in rows
        if attributed_to(r["unit_id"], r["assigned_on"], all_merges) == the_unit.unit_id
    )


async def figures_only(
    conn: asyncpg.Connection, unit_id: str, period: Period, basis: Basis
) -> Report:
    """The unit, its 12 metrics and those of the period compared with (a year earlier, or for
    a period longer than a year the one just before it): what ``vanphong report`` prints."""
    the_unit = await unit(conn, unit_id)
    consolidated = basis == "consolidated"
    now = await summary(conn, unit_id, period, consolidated)
    before = await summary(conn, unit_id, period.comparison(), consolidated)
    return Report(the_unit, period, basis, now, before)


async def full_report(
    conn: asyncpg.Connection, unit_id: str, period: Period, basis: Basis
) -> Report:
    """Everything the page and the exports show for one selection."""
    base = await figures_only(conn, unit_id, period, basis)
    kin = await family(conn, base.unit)
    finals = {u: r["final_unit_id"] for u, r in kin.items()}
    ids = [unit_id] if basis == "attributed" else consolidated_members(unit_id, finals)
    all_merges = await merges(conn)
    return Report(
        base.unit,
        period,
        basis,
        base.metrics,
        base.previous,
        monthly=await monthly(conn, ids, period),
        by_type=await documents_by_type(conn, ids, period),
        by_kind=await meetings_by_kind(conn, ids, period),
        tasks=Tasks(
            base.metrics["tasks_completed_on_time"],
            base.metrics["tasks_completed_late"],
            await overdue(conn, base.unit, basis, ids, sorted({unit_id, *kin}), all_merges, period),
        ),
        history=history(unit_id, all_merges),
        names={u: r["name"] for u, r in kin.items() if r["name"]},
    )


async def fetch_report(
    settings: Settings, unit_id: str, period: Period, basis: Basis, full: bool
) -> Report:
    """The report, as the reporting role, on a connection of its own; ``full`` adds the
    monthly, type, kind, task and history tables (the workbook needs them, the table does
    not)."""
    url, variable = reporting_url(settings)
    async with connection(url, variable) as conn:
        build = full_report if full else figures_only
        return await guarded(url, variable, build(conn, unit_id, period, basis))
