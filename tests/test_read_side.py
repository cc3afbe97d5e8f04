"""The read side of migration 0006 (issue 13): the same reporting objects, the same figures.

0006 replaced every reporting view and ``activity_summary`` with forms that reach
``core.metric_daily`` through its indexes, and resolves the merger graph into
``core.attribution_ranges``, a table kept by a trigger in the transaction that writes a merger.
These tests hold it to the contract: the objects and grants of CONTRACT.md §7 unchanged; every
view, also when filtered by unit, month or day (the paths the indexes serve), equal to the
reference model for random merger graphs whose mergers arrive late, are corrected or voided; the
resolved table equal to the recursive view it caches after every commit; and the filters of the
benchmark's queries reaching an index. Events go through the worker's own write path
(``vanphong.streams.pipeline.prepare`` then ``PostgresSink.write``) without Kafka, so that many
graphs fit
in one test run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.history import to_message
from testkit.model import KEYS, METRICS, Model
from testkit.provinces import PROVINCES, province_events
from tests.conftest import Env
from tests.verify import assert_views_match
from vanphong.core.batch import Coordinates, Item
from vanphong.deploy.local.config import reporting_database_url
from vanphong.schemas.catalog import BY_TYPE, EventType
from vanphong.schemas.codec import shipped_schemas
from vanphong.sinks.postgres import PostgresSink
from vanphong.streams.pipeline import prepare

EXAMPLES = int(os.environ.get("VANPHONG_READ_SIDE_EXAMPLES", "25"))
UNITS = [f"u{i}" for i in range(6)]
FIRST_DAY, LAST_DAY = date(2017, 6, 1), date(2028, 6, 30)  # around today, on both sides

_namespaces = itertools.count()
_offsets: dict[str, itertools.count[int]] = {}


# -- writing through the sink ---------------------------------------------------------------


def _items(env: Env, events: Iterable[dict[str, Any]]) -> list[Item]:
    """Each event as the worker's pipeline makes it, at the next offset of partition 0 of its
    topic (offsets only grow, whatever test wrote before in this database)."""
    out = []
    for event in events:
        message = to_message(event)
        topic = env.topic(message.topic)
        offset = next(_offsets.setdefault(topic, itertools.count()))
        event_type = BY_TYPE[event["type"]]
        out.append(
            prepare(
                Coordinates(topic, 0, offset),
                message.key,
                message.value,
                event_type,
                shipped_schemas(),
            )
        )
    return out


def write(env: Env, events: list[dict[str, Any]], rehearse: bool = False) -> None:
    """One batch, one transaction, as a writer of the worker commits it (or rolls it back)."""

    async def go() -> None:
        sink = await PostgresSink.connect(
            env.settings.database_url, env.settings.zone, shipped_schemas(), 2
        )
        try:
            items = _items(env, events)
            if rehearse:
                await sink.rehearse(items)
            else:
                await sink.write(items)
        finally:
            await sink.close()

    asyncio.run(go())


# -- events ---------------------------------------------------------------------------------


def _at(day: date, minutes: int) -> str:
    """An instant near local midnight of ``day`` (17:00Z is 00:00 in Hanoi)."""
    midnight = datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC) - timedelta(days=1)
    return (midnight + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _common(event_type: str, entity: str, revision: int, voided: bool, at: str) -> dict[str, Any]:
    return {
        "type": event_type,
        KEYS[event_type]: entity,
        "event_id": f"{entity}-{event_type}-r{revision}",
        "occurred_at": at,
        "source": "read-side",
        "revision": revision,
        "voided": voided,
    }


def document(entity: str, unit: str, day: date, minutes: int, appraised: bool) -> dict[str, Any]:
    doc_type, code = [("CONG_VAN", "CV"), ("BAO_CAO", "BC"), ("KE_HOACH", "KH")][len(entity) % 3]
    return _common("document.issued", entity, 1, False, _at(day, minutes)) | {
        "unit_id": unit,
        "number": f"{len(entity)}-{code}/TU",
        "doc_type": doc_type,
        "issuing_organ": "BTV",
        "title": "t",
        "appraised": appraised,
        "secrecy": "NONE",
        "urgency": "NONE",
    }


def meeting(entity: str, unit: str, day: date, minutes: int, attendees: int) -> dict[str, Any]:
    return _common("meeting.held", entity, 1, False, _at(day, minutes)) | {
        "unit_id": unit,
        "kind": "GIAO_BAN" if attendees % 2 else "HOP_MAT",
        "title": "t",
        "attendees": attendees,
        "mode": "IN_PERSON",
    }


def merger(
    entity: str,
    absorbed: list[str],
    into: str,
    effective: date,
    revision: int = 1,
    voided: bool = False,
) -> dict[str, Any]:
    return _common("office.merged", entity, revision, voided, _at(date(2017, 1, 2), 600)) | {
        "absorbed_unit_ids": absorbed,
        "into_unit_id": into,
        "effective_date": effective.isoformat(),
        "legal_basis": ["18-NQ/TW"],
    }


# -- what PostgreSQL says against what the model says ---------------------------------------


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def assert_filtered_views_match(
    env: Env, model: Model, units: list[str], rnd: random.Random
) -> None:
    """The views asked the way the benchmark and the reporting page ask them: one unit (or a
    few) and a range of months or days, which 0006 answers through indexes."""
    daily, consolidated = model.daily(), model.daily(consolidated=True)
    monthly, consolidated_monthly = model.monthly(), model.monthly(consolidated=True)
    by_type = model.documents_by_type()
    for unit in units:
        first = FIRST_DAY + timedelta(days=rnd.randrange(0, 3000))
        last = first + timedelta(days=rnd.randrange(0, 1500))
        months = (_first_of_month(first), _first_of_month(last))
        for view, want in (
            ("unit_activity_monthly", monthly),
            ("unit_activity_consolidated_monthly", consolidated_monthly),
        ):
            got = {
                (r["unit_id"], r["month"]): {m: r[m] for m in METRICS}
                for r in env.fetch(
                    f"SELECT * FROM reporting.{view}"
                    " WHERE unit_id = $1 AND month BETWEEN $2 AND $3",
                    unit,
                    *months,
                )
                if any(r[m] for m in METRICS)
            }
            expected = {
                k: v for k, v in want.items() if k[0] == unit and months[0] <= k[1] <= months[1]
            }
            assert got == expected, (view, unit, months)
        for view, want in (
            ("unit_activity_daily", daily),
            ("unit_activity_consolidated_daily", consolidated),
        ):
            got = {
                (r["unit_id"], r["day"]): {m: r[m] for m in METRICS}
                for r in env.fetch(
                    f"SELECT * FROM reporting.{view} WHERE unit_id = $1 AND day BETWEEN $2 AND $3",
                    unit,
                    first,
                    last,
                )
                if any(r[m] for m in METRICS)
            }
            expected = {k: v for k, v in want.items() if k[0] == unit and first <= k[1] <= last}
            assert got == expected, (view, unit, first, last)
        got_types = {
            (r["unit_id"], r["month"], r["doc_type"]): r["documents_issued"]
            for r in env.fetch(
                "SELECT * FROM reporting.documents_by_type_monthly"
                " WHERE unit_id = $1 AND month BETWEEN $2 AND $3",
                unit,
                *months,
            )
            if r["documents_issued"]
        }
        assert got_types == {
            k: v for k, v in by_type.items() if k[0] == unit and months[0] <= k[1] <= months[1]
        }
        for basis, cells in ((False, daily), (True, consolidated)):
            row = env.fetch(
                "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
                unit,
                first,
                last,
                basis,
            )[0]
            want_sum = {
                m: sum(v[m] for (u, d), v in cells.items() if u == unit and first <= d <= last)
                for m in METRICS
            }
            assert dict(row) == want_sum, (unit, first, last, basis)
    # every month of a few units at once, as the benchmark's province table asks
    some = rnd.sample(units, 3)
    got_some = {
        (r["unit_id"], r["month"]): {m: r[m] for m in METRICS}
        for r in env.fetch(
            "SELECT * FROM reporting.unit_activity_monthly WHERE unit_id = ANY($1::text[])"
            " AND month BETWEEN $2 AND $3",
            some,
            date(2019, 1, 1),
            date(2025, 12, 1),
        )
        if any(r[m] for m in METRICS)
    }
    assert got_some == {
        k: v
        for k, v in monthly.items()
        if k[0] in some and date(2019, 1, 1) <= k[1] <= date(2025, 12, 1)
    }


def assert_ranges_resolved(env: Env) -> None:
    """The table the views read holds exactly what the recursive view computes now."""
    columns = "unit_id, target_unit_id, valid_from, valid_to, depth"
    cached = sorted(tuple(r) for r in env.fetch(f"SELECT {columns} FROM core.attribution_ranges"))
    fresh = sorted(tuple(r) for r in env.fetch(f"SELECT {columns} FROM core.attribution"))
    assert cached == fresh


# -- the property -----------------------------------------------------------------------------

mergers_drawn = st.lists(
    st.tuples(
        st.integers(0, 3),  # merger key
        st.lists(st.sampled_from(UNITS), min_size=1, max_size=3, unique=True),  # absorbed
        st.sampled_from(UNITS),  # into (an absorbed one is skipped: §4 forbids it)
        st.integers(0, 4000),  # effective day, from FIRST_DAY
        st.integers(1, 3),  # revision
        st.booleans(),  # voided
        st.integers(0, 2),  # batch it arrives in: 0 with the activity, 1 and 2 after
    ),
    max_size=7,
)
activity_drawn = st.lists(
    st.tuples(
        st.sampled_from(["document", "meeting"]),
        st.sampled_from(UNITS),
        st.integers(0, 4000),  # day
        st.integers(-3, 3),  # minutes around local midnight
        st.integers(0, 120),  # attendees; a document is appraised if even
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mergers=mergers_drawn, activity=activity_drawn, seed=st.integers(0, 2**31))
def test_views_equal_the_model_for_random_merger_graphs_arriving_late(
    env: Env,
    mergers: list[tuple[int, list[str], str, int, int, bool, int]],
    activity: list[tuple[str, str, int, int, int]],
    seed: int,
) -> None:
    ns = f"r{next(_namespaces)}-"
    units = [ns + u for u in UNITS]
    batches: list[list[dict[str, Any]]] = [[], [], []]
    for i, (kind, unit, offset, minutes, n) in enumerate(activity):
        day = FIRST_DAY + timedelta(days=offset)
        if kind == "document":
            batches[0].append(document(f"{ns}d{i}", ns + unit, day, minutes, n % 2 == 0))
        else:
            batches[0].append(meeting(f"{ns}m{i}", ns + unit, day, minutes, n))
    for key, absorbed, into, offset, revision, voided, arrives in mergers:
        if into in absorbed:
            continue
        batches[arrives].append(
            merger(
                f"{ns}g{key}",
                [ns + u for u in absorbed],
                ns + into,
                FIRST_DAY + timedelta(days=offset),
                revision,
                voided,
            )
        )
    model = Model(env.settings.timezone)
    rnd = random.Random(seed)
    for batch in batches:
        if not batch:
            continue
        for event in batch:
            model.consume(event)
        write(env, batch)
        assert_ranges_resolved(env)
        assert_views_match(env, model, ns + "%")
        assert_filtered_views_match(env, model, units, rnd)


# -- named cases ------------------------------------------------------------------------------


def test_a_merger_arriving_years_late_re_attributes_history_when_it_commits(env: Env) -> None:
    history = [document(f"late-d{i}", "late-a", date(2019, 3, 4 + i), 0, True) for i in range(3)]
    write(env, history)
    summary = "SELECT documents_issued FROM reporting.activity_summary($1, $2, $3)"
    assert env.fetch(summary, "late-b", date(2019, 1, 1), date(2019, 12, 31))[0][0] == 0
    write(env, [merger("late-g", ["late-a"], "late-b", date(2019, 1, 1))])
    assert env.fetch(summary, "late-b", date(2019, 1, 1), date(2019, 12, 31))[0][0] == 3
    assert env.fetch(summary, "late-a", date(2019, 1, 1), date(2019, 12, 31))[0][0] == 0
    months = env.fetch(
        "SELECT unit_id, documents_issued FROM reporting.unit_activity_monthly"
        " WHERE unit_id LIKE 'late-%' AND month = $1",
        date(2019, 3, 1),
    )
    assert [tuple(r) for r in months] == [("late-b", 3)]
    # voided years later again: the history goes back to the unit that recorded it
    write(env, [merger("late-g", ["late-a"], "late-b", date(2019, 1, 1), 2, True)])
    assert env.fetch(summary, "late-a", date(2019, 1, 1), date(2019, 12, 31))[0][0] == 3
    assert_ranges_resolved(env)


def test_a_rehearsed_merger_leaves_the_resolved_ranges_as_they_were(env: Env) -> None:
    write(env, [merger("reh-g1", ["reh-a"], "reh-b", date(2020, 1, 1))])
    before = sorted(tuple(r) for r in env.fetch("SELECT * FROM core.attribution_ranges"))
    write(env, [merger("reh-g2", ["reh-b"], "reh-c", date(2021, 1, 1))], rehearse=True)
    assert sorted(tuple(r) for r in env.fetch("SELECT * FROM core.attribution_ranges")) == before
    assert_ranges_resolved(env)


# CONTRACT.md §7 (and the consolidated daily view, an extension): names, columns, types.
CONTRACT_VIEWS: dict[str, list[tuple[str, str]]] = {
    "units": [
        ("unit_id", "text"),
        ("name", "text"),
        ("kind", "text"),
        ("parent_unit_id", "text"),
        ("province", "text"),
        ("registered", "boolean"),
        ("status", "text"),
        ("merged_into", "text"),
        ("merged_on", "date"),
        ("final_unit_id", "text"),
    ],
    "merges": [
        ("merge_id", "text"),
        ("into_unit_id", "text"),
        ("absorbed_unit_id", "text"),
        ("effective_date", "date"),
        ("legal_basis", "ARRAY"),
    ],
    "unit_activity_daily": [("unit_id", "text"), ("day", "date")]
    + [(m, "bigint") for m in METRICS],
    "unit_activity_consolidated_daily": [("unit_id", "text"), ("day", "date")]
    + [(m, "bigint") for m in METRICS],
    "unit_activity_monthly": [("unit_id", "text"), ("month", "date")]
    + [(m, "bigint") for m in METRICS],
    "unit_activity_consolidated_monthly": [("unit_id", "text"), ("month", "date")]
    + [(m, "bigint") for m in METRICS],
    "documents_by_type_monthly": [
        ("unit_id", "text"),
        ("month", "date"),
        ("doc_type", "text"),
        ("documents_issued", "bigint"),
    ],
    "meetings_by_kind_monthly": [
        ("unit_id", "text"),
        ("month", "date"),
        ("kind", "text"),
        ("meetings_held", "bigint"),
        ("meeting_attendees", "bigint"),
    ],
    "tasks": [
        ("task_id", "text"),
        ("unit_id", "text"),
        ("title", "text"),
        ("assigned_on", "date"),
        ("due_on", "date"),
        ("completed_on", "date"),
        ("status", "text"),
    ],
}


def test_the_reporting_objects_keep_their_names_columns_and_grants(env: Env) -> None:
    for view, columns in CONTRACT_VIEWS.items():
        got = env.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'reporting' AND table_name = $1 ORDER BY ordinal_position",
            view,
        )
        assert [tuple(r) for r in got] == columns, view
    for view in CONTRACT_VIEWS:
        readable = env.fetch(
            "SELECT has_table_privilege('vanphong_reporting', $1::regclass, 'SELECT')",
            f"reporting.{view}",
        )
        assert readable[0][0], view
    function = env.fetch(
        "SELECT pg_get_function_arguments(p.oid) AS args,"
        " pg_get_function_result(p.oid) AS result, p.prosecdef,"
        " has_function_privilege('vanphong_reporting', p.oid, 'EXECUTE') AS executable,"
        " has_function_privilege('public', p.oid, 'EXECUTE') AS public"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'reporting' AND p.proname = 'activity_summary'"
    )
    assert len(function) == 1
    assert function[0]["args"] == (
        "p_unit_id text, p_from date, p_to date, p_consolidated boolean DEFAULT false"
    )
    assert function[0]["result"] == "TABLE(" + ", ".join(f"{m} bigint" for m in METRICS) + ")"
    assert function[0]["prosecdef"] and function[0]["executable"] and not function[0]["public"]

    async def as_reader() -> None:
        conn = await asyncpg.connect(reporting_database_url(env.settings))
        try:
            for view in CONTRACT_VIEWS:
                await conn.fetch(f"SELECT * FROM reporting.{view} LIMIT 1")
            await conn.fetch(
                "SELECT * FROM reporting.activity_summary('x', '2020-01-01', now()::date)"
            )
            for forbidden in ("core.attribution_ranges", "core.metric_daily"):
                try:
                    await conn.fetch(f"SELECT * FROM {forbidden}")
                except asyncpg.InsufficientPrivilegeError:
                    continue
                raise AssertionError(f"the reporting role read {forbidden}")
        finally:
            await conn.close()

    env.run(as_reader())


def _plan(env: Env, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Every node of the plan PostgreSQL makes when it must not scan metric_daily whole."""

    async def go() -> Any:
        conn = await asyncpg.connect(env.settings.database_url)
        try:
            await conn.execute("SET enable_seqscan = off")
            return await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
        finally:
            await conn.close()

    nodes, todo = [], [json.loads(env.run(go()))[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


def test_a_unit_and_a_range_of_months_or_days_reach_the_indexes_of_metric_daily(
    env: Env,
) -> None:
    write(
        env,
        [
            document(f"idx-d{i}", f"idx-u{i % 3}", date(2024, 1 + i % 12, 5), 0, True)
            for i in range(30)
        ]
        + [merger("idx-g", ["idx-u1"], "idx-u0", date(2024, 6, 1))],
    )
    months = (date(2024, 1, 1), date(2024, 12, 1))
    queries = [
        (
            "SELECT * FROM reporting.unit_activity_monthly WHERE unit_id = $1"
            " AND month BETWEEN $2 AND $3",
            ("idx-u0", *months),
        ),
        (
            "SELECT * FROM reporting.unit_activity_consolidated_monthly WHERE unit_id = $1"
            " AND month BETWEEN $2 AND $3",
            ("idx-u0", *months),
        ),
        (
            "SELECT * FROM reporting.documents_by_type_monthly WHERE unit_id = $1"
            " AND month BETWEEN $2 AND $3",
            ("idx-u0", *months),
        ),
        (
            "SELECT * FROM reporting.meetings_by_kind_monthly WHERE unit_id = $1"
            " AND month BETWEEN $2 AND $3",
            ("idx-u0", *months),
        ),
        (
            "SELECT * FROM reporting.unit_activity_consolidated_monthly"
            " WHERE month BETWEEN $1 AND $2",
            months,
        ),
        ("SELECT * FROM reporting.unit_activity_monthly WHERE month BETWEEN $1 AND $2", months),
        (
            "SELECT * FROM reporting.unit_activity_daily WHERE unit_id = $1"
            " AND day BETWEEN $2 AND $3",
            ("idx-u0", date(2024, 3, 1), date(2024, 3, 31)),
        ),
        ("SELECT * FROM reporting.tasks WHERE unit_id = $1", ("idx-u0",)),
    ]
    for sql, args in queries:
        scans = [
            n
            for n in _plan(env, sql, *args)
            if n.get("Relation Name") in ("metric_daily", "entities")
        ]
        assert scans, sql
        for scan in scans:  # each bounded by an index condition, none a scan of everything
            assert "Index Cond" in scan or "Recheck Cond" in scan, (sql, scan)


# -- the benchmark's history --------------------------------------------------------------------


def test_each_copy_of_the_read_benchmark_is_the_demo_under_its_own_ids_and_province() -> None:
    first, third = province_events(2024, 0), province_events(2024, 3)
    keys = [at for at, _ in third]
    assert keys == sorted(keys)  # publication order, retries and corrections in place
    units = {e["unit_id"] for _, e in third if e["type"] == "unit.registered"}
    assert units and all(u.startswith("p03-") for u in units)
    provinces = {e["province"] for _, e in third if e["type"] == "unit.registered"}
    assert PROVINCES[3] in provinces and "Vĩnh Long" not in provinces
    assert {e["unit_id"] for _, e in first if e["type"] == "unit.registered"} >= {"vptu", "tu"}
    merged = [e for _, e in third if e["type"] == EventType.OFFICE_MERGED.type]
    assert {e["merge_id"] for e in merged} == {
        "p03-2019-vp-ban",
        "p03-2025-btg-bdv",
        "p03-2025-cap-huyen",
        "p03-2025-hop-nhat-tinh",
        "p03-2025-vptu-hop-nhat-tinh",
    }
    ids = [e["event_id"] for _, e in third]
    assert len(ids) > len(set(ids))  # retries keep their event_id
