"""``vanphong rebuild`` on the real database and broker: it puts damaged aggregates right while
a worker applies a stream and a reader queries ``reporting.activity_summary`` in a loop (the
reader sees no error and no figure outside the old and the new ones); a rule changed in a
release reaches all of history; SIGKILL at any point leaves the live figures as they were and a
second rebuild completes; two at once, the second says so."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from testkit.history import UNITS, Message, all_event_types, to_message
from tests.conftest import VANPHONG, Env, wait_for
from tests.test_verify import load_history, run_verify, tamper, verdict
from tests.verify import assert_views_match, model_of
from vanphong.deploy.local.config import reporting_database_url
from vanphong.schemas.catalog import EventType

PERIOD = (date(2020, 1, 1), date(2026, 12, 31))


def run_rebuild(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), "rebuild", *args],
        env=env.workers.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def elsewhere(start: int, n: int) -> list[Message]:
    """Documents of units no other history names (``zz…``): they change no figure of
    :data:`UNITS`, so a reader of those sees only the rebuild."""
    out = []
    for i in range(start, start + n):
        at = datetime(2024, 1, 1, 3, tzinfo=UTC) + timedelta(hours=7 * i)
        event = {
            "type": "document.issued",
            "document_id": f"zz-d{i}",
            "unit_id": f"zz{i % 5}",
            "number": f"{i}-CV/TU",
            "doc_type": "CONG_VAN",
            "issuing_organ": "BTV",
            "title": f"Văn bản {i}",
            "appraised": i % 2 == 0,
            "secrecy": "NONE",
            "urgency": "NONE",
            "event_id": f"zz-d{i}-r1",
            "occurred_at": at.isoformat(),
            "source": "test",
            "revision": 1,
            "voided": False,
        }
        out.append(to_message(event))
    return out


async def _summaries(conn: asyncpg.Connection) -> dict[str, tuple[int, ...]]:
    out = {}
    for unit in UNITS:
        row = await conn.fetchrow(
            "SELECT * FROM reporting.activity_summary($1, $2, $3, false)", unit, *PERIOD
        )
        out[unit] = tuple(row) if row is not None else ()
    return out


def summaries(env: Env) -> dict[str, tuple[int, ...]]:
    async def go() -> dict[str, tuple[int, ...]]:
        conn = await asyncpg.connect(reporting_database_url(env.settings))
        try:
            return await _summaries(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


class Reader(threading.Thread):
    """The reporting role asking for every unit's summary, again and again, on one session
    (so its cached plans meet the swap)."""

    def __init__(self, env: Env) -> None:
        super().__init__(daemon=True)
        self.url = reporting_database_url(env.settings)
        self.stop = threading.Event()
        self.seen: list[dict[str, tuple[int, ...]]] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        async def go() -> None:
            conn = await asyncpg.connect(self.url)
            try:
                while not self.stop.is_set():
                    self.seen.append(await _summaries(conn))
            finally:
                await conn.close()

        try:
            asyncio.run(go())
        except BaseException as exc:  # the assertion is the test's
            self.errors.append(exc)


class Sender(threading.Thread):
    """A stream for the worker to apply while the rebuild runs."""

    def __init__(self, env: Env) -> None:
        super().__init__(daemon=True)
        self.env = env
        self.stop = threading.Event()
        self.sent: list[Message] = []

    def run(self) -> None:
        while not self.stop.is_set() and len(self.sent) < 40_000:
            chunk = elsewhere(len(self.sent), 500)
            self.env.send_raw([(self.env.topic(m.topic), m.key, m.value) for m in chunk])
            self.sent.extend(chunk)


def test_rebuild_puts_damage_right_while_a_worker_applies_and_a_reader_reads(env: Env) -> None:
    messages = all_event_types(18, 300)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()
    right = summaries(env)
    damaged = tamper(env)
    old = summaries(env)
    assert old != right and damaged
    grants = privileges(env)
    reader, sender = Reader(env), Sender(env)
    reader.start()
    sender.start()
    wait_for(lambda: len(reader.seen) > 0 and len(sender.sent) > 0, 60, "reader and stream")
    try:
        done = run_rebuild(env)
    finally:
        sender.stop.set()
        sender.join()
        reader.stop.set()
        reader.join()
    assert done.returncode == 0, done.stderr + done.stdout
    meanwhile = re.search(r"\+([\d,]+) written meanwhile", done.stdout)
    assert meanwhile is not None and int(meanwhile.group(1).replace(",", "")) > 0, done.stdout
    assert "3 cell(s) changed" in done.stdout, done.stdout
    assert reader.errors == []
    assert all(s[u] in (old[u], right[u]) for s in reader.seen for u in UNITS)
    assert summaries(env) == right
    assert privileges(env) == grants
    env.wait_caught_up()
    status, body = verdict(env)
    assert status == 0, body
    assert_views_match(env, model_of(messages + sender.sent))


def test_two_rebuilds_at_once_the_second_says_so(env: Env) -> None:
    async def holding() -> subprocess.CompletedProcess[str]:
        conn = await asyncpg.connect(env.settings.database_url)
        try:
            assert await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended('vanphong.rebuild', 0))"
            )
            return await asyncio.to_thread(run_rebuild, env)
        finally:
            await conn.close()

    done = asyncio.run(holding())
    assert done.returncode == 1
    assert "another rebuild is running" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_rule_changed_in_a_release_reaches_all_of_history(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release counts a meeting's attendees twice (patched in this process, where the
    rebuild runs): afterwards every view follows the new rule, for every year."""
    from vanphong.core import semantics
    from vanphong.rebuild.run import rebuild
    from vanphong.rebuild.verify import verify

    load_history(env)
    before = env.fetch(
        "SELECT sum(value) FILTER (WHERE metric = 'meeting_attendees') AS attendees,"
        " sum(value) FILTER (WHERE metric = 'meetings_held') AS meetings,"
        " sum(value) FILTER (WHERE metric = 'documents_issued') AS documents"
        " FROM core.metric_daily"
    )[0]
    old_rule = semantics._CONTRIBUTORS[EventType.MEETING_HELD]

    def twice(record: Any, day: date) -> list[Any]:
        return [
            (u, d, m, k, n * 2 if m == "meeting_attendees" else n)
            for u, d, m, k, n in old_rule(record, day)
        ]

    monkeypatch.setitem(semantics._CONTRIBUTORS, EventType.MEETING_HELD, twice)
    outcome = asyncio.run(rebuild(env.settings.database_url, env.settings.zone, ()))
    assert outcome.cells_changed > 0 and outcome.contributions_rewritten > 0
    after = env.fetch(
        "SELECT sum(meeting_attendees) AS attendees, sum(meetings_held) AS meetings,"
        " sum(documents_issued) AS documents, min(day) AS first, max(day) AS last"
        " FROM reporting.unit_activity_daily"
    )[0]
    assert after["attendees"] == 2 * before["attendees"] > 0
    assert (after["meetings"], after["documents"]) == (before["meetings"], before["documents"])
    by_year = env.fetch(
        "SELECT extract(year FROM month) AS y, sum(meeting_attendees) AS a"
        " FROM reporting.unit_activity_monthly GROUP BY 1 ORDER BY 1"
    )
    assert len(by_year) >= 2  # several years of history, each doubled (verify: every cell)
    assert asyncio.run(verify(env.settings.database_url, env.settings.zone, ())).equal
    assert run_verify(env).returncode == 1  # under the old rule (this release) they differ


def test_sigkill_of_rebuild_at_random_points_leaves_the_live_figures_and_a_rebuild_completes(
    env: Env,
) -> None:
    load_history(env, entities=1500)
    started = time.monotonic()
    first = run_rebuild(env)  # nothing to change: how long a rebuild takes here, start to end
    seconds = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    damaged = tamper(env)
    live_sql = "SELECT * FROM core.metric_daily ORDER BY 1, 2, 3, 4"
    tampered = env.fetch(live_sql)
    rnd = random.Random(18)
    killed, orphans = 0, set[int]()
    for _ in range(5):
        proc = subprocess.Popen(
            [str(VANPHONG), "rebuild"],
            env=env.workers.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=rnd.uniform(0.3, seconds))  # the random point of the kill
        except subprocess.TimeoutExpired:
            orphans |= children_of(proc.pid)  # its scanning processes, if it started them
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += 1
        wait_for(lambda: not rebuild_locked(env), 60, "the killed rebuild's session to end")
        if proc.returncode == 0:  # it finished before the kill
            break
        assert env.fetch(live_sql) == tampered
    assert killed > 0
    # the scanning processes die with the command (vanphong/ground/lifetime.py)
    wait_for(lambda: not any(alive(pid) for pid in orphans), 30, f"{orphans} to exit")
    done = run_rebuild(env)
    assert done.returncode == 0, done.stderr
    status, body = verdict(env)
    assert status == 0 and body["cells_differing"] == 0, body
    assert (
        env.fetch(
            "SELECT relname FROM pg_class WHERE relname IN"
            " ('metric_daily_rebuild', 'rebuild_contributions', 'metric_daily_old')"
        )
        == []
    )
    assert damaged


def privileges(env: Env) -> dict[str, tuple[str, str | None]]:
    """Every table and view of core and reporting: its kind and its grants."""
    rows = env.fetch(
        "SELECT c.oid::regclass::text AS name, c.relkind::text AS kind, c.relacl::text AS acl"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN ('core', 'reporting') AND c.relkind IN ('r', 'v')"
    )
    return {r["name"]: (r["kind"], r["acl"]) for r in rows}


def children_of(parent: int) -> set[int]:
    """The pids whose parent is ``parent`` now (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not: it only waits for its parent's wait)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def rebuild_locked(env: Env) -> bool:
    return bool(
        env.fetch(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    )


def test_a_reader_holding_the_table_delays_the_swap_which_waits_its_turn(env: Env) -> None:
    """A report's long transaction keeps ACCESS SHARE on core.metric_daily: the swap waits for
    it (lock_timeout, retried) instead of failing, and the reader's transaction goes on."""
    load_history(env)
    damaged = tamper(env)

    async def hold_then_release() -> subprocess.CompletedProcess[str]:
        reader = await asyncpg.connect(reporting_database_url(env.settings))
        try:
            transaction = reader.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            before = await _summaries(reader)
            rebuilding = asyncio.create_task(
                asyncio.to_thread(run_rebuild, env, "--lock-timeout-ms", "200")
            )
            await asyncio.to_thread(
                wait_for,
                lambda: bool(
                    env.fetch(
                        "SELECT 1 FROM pg_locks WHERE NOT granted"
                        " AND relation = 'core.metric_daily'::regclass"
                    )
                ),
                120,
                "the swap waiting for the reader's lock",
            )
            assert await _summaries(reader) == before  # its snapshot, undisturbed
            await transaction.commit()
            return await rebuilding
        finally:
            await reader.close()

    done = asyncio.run(hold_then_release())
    assert done.returncode == 0, done.stderr
    assert "3 cell(s) changed" in done.stdout and damaged
    assert verdict(env)[0] == 0
