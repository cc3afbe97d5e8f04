"""PostgreSQL going back in time under a running worker (issue 16, CONTRACT.md §5.2, §6): an
asynchronous standby promoted without the primary's last commits, reached through an address
that moves or through a multi-host URL, and a backup restored after the stream went on.

Each test builds its own primary and streaming standby (tests/pgcluster.py) and uses the shared
Kafka under a topic prefix of its own; the shared PostgreSQL is never touched. Each must show:
every view equals the reference model; each dead letter is on the dead-letter topic exactly
once; the worker is the process that started (it had no reason to exit); the database being
behind is reported (``core.offset_anomalies``, kind ``database_behind``, and its metric).

Marked ``faults``: they crash and promote servers, and run in the faults pass of `make test`.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from testkit.history import Message, all_event_types
from tests.conftest import VANPHONG, Env, Workers, _delete_topics, get, wait_for
from tests.faultstack import (
    assert_alive,
    assert_no_agent_crashed,
    log_lines,
    stop_cleanly,
    wait_dead_letters_relayed,
    wait_until,
)
from tests.moving_address import MovingAddress
from tests.pgcluster import PgCluster, url
from tests.test_faults import raw
from tests.test_offset_anomalies import healthz
from tests.test_transactions import status_json
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
    model_state,
    reporting_state,
)
from vanphong.ground.settings import Settings
from vanphong.status.caught_up import applied_offsets

# integration too: `make unit` (-m "not integration") must not build clusters
pytestmark = [pytest.mark.faults, pytest.mark.integration]

DATABASE = "vanphong_failover"
ENTITIES = 1500
POISONS = 40  # dead letters spread over the stream, some of them in the commits that are lost
LOST_AT_LEAST = 800  # offsets the primary commits after the standby stopped receiving WAL
SOURCE = ("vanphong.source.topic", "vanphong.source.partition", "vanphong.source.offset")


@dataclass
class Harness:
    env: Env
    pg: PgCluster
    address: MovingAddress | None


@contextmanager
def harness(tmp_path: Path, how: str) -> Iterator[Harness]:
    """Our own primary and standby; the worker's URL through a moving address (``address``),
    the multi-host form (``multi_host``) or straight to the primary (``direct``); ``vanphong
    init`` run against it, as an operator would."""
    pg = PgCluster.build(DATABASE)
    address = MovingAddress(pg.primary.port).start() if how == "address" else None
    database_url = {
        "address": pg.url(address.port) if address else "",
        "multi_host": pg.multi_host_url(),
        "direct": pg.url(),
    }[how]
    settings = Settings().model_copy(
        update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}", "database_url": database_url}
    )
    env = Env(settings, Workers(settings, tmp_path))
    try:
        init = subprocess.run(
            [str(VANPHONG), "init"],
            env={**env.workers.env(), "VANPHONG_SCHEMA_REGISTRY_URL": ""},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        yield Harness(env, pg, address)
    finally:
        env.workers.stop_all()
        if address is not None:
            address.close()
        pg.destroy()
        asyncio.run(_delete_topics(settings))


def history(seed: int) -> list[Message]:
    """Every event type with its duplicates and invalid messages, and more undecodable messages
    spread evenly, so that each part of the stream has dead letters."""
    messages = all_event_types(seed=seed, entities=ENTITIES)
    step = len(messages) // POISONS
    for i in reversed(range(POISONS)):
        poison = Message(
            "document-issued.v1", f"poison-{i}".encode(), b"\x01\xffgarbage-%d" % i, None,
            "undecodable",
        )  # fmt: skip
        messages.insert(i * step, poison)
    return messages


def applied(database_url: str) -> int:
    return sum(asyncio.run(applied_offsets(database_url)).values())


def counter_total(port: int, name: str, label: str = "") -> float:
    """The sum of every series of ``name`` on the worker's /metrics (those with ``label``)."""
    status, text = get(port, "/metrics")
    assert status == 200, text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and label in line
    )


@dataclass
class Running:
    """The worker and the stream, between the phases of a test."""

    h: Harness
    messages: list[Message]
    proc: subprocess.Popen[bytes]
    web: int

    @property
    def env(self) -> Env:
        return self.h.env


def start_streaming(h: Harness, seed: int) -> tuple[Running, list[Message], list[Message]]:
    """The first 40 % published and half of it applied by one worker; returns the two parts
    still to publish (30 % each)."""
    messages = history(seed)
    a, b = len(messages) * 4 // 10, len(messages) * 7 // 10
    h.env.workers.extra_env["VANPHONG_BATCH_MAX_EVENTS"] = "100"
    h.env.send_raw(raw(h.env, messages[:a]))
    proc = h.env.workers.start()
    web = h.env.workers.web_port(proc)
    url_ = h.env.settings.database_url
    wait_until(h.env, lambda: applied(url_) >= a // 2, 300, "half of the first part applied")
    return Running(h, messages, proc, web), messages[a:b], messages[b:]


def views_right_again(run: Running, since: float, timeout_s: float = 300) -> float:
    """Seconds from ``since`` until every view equals the model of the whole stream."""
    want = model_state(model_of(run.messages))

    def right() -> bool:
        assert_alive(run.env.workers)
        try:
            return bool(reporting_state(run.env) == want)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
            return False  # a connection cut as the address moved

    try:
        wait_for(right, timeout_s, "every view equal to the model", poll_s=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{run.env.workers.log_tail()}") from None
    return time.monotonic() - since


def assert_dead_letters_once_by_source(env: Env, messages: list[Message]) -> int:
    """Each dead letter on the topic exactly once, counted by its source coordinates (the
    ``vanphong.source.*`` headers), and the bytes, keys and reasons those of the invalid
    messages published. Returns how many."""
    wait_dead_letters_relayed(env)
    letters = env.dead_letters()
    by_source = Counter(
        tuple(dict(letter.headers)[h].decode() for h in SOURCE) for letter in letters
    )
    twice = {source: n for source, n in by_source.items() if n > 1}
    assert not twice, f"dead letters on the topic more than once: {twice}"
    assert len(by_source) == sum(1 for m in messages if m.reason)
    assert_dead_letters_once(env, messages)
    return len(letters)


def assert_reported_and_measure(run: Running, seconds: float, what: str) -> None:
    """Print what the closing note measures; then: the anomaly is reported (row, metric, log
    line), each dead letter is on the topic once, the worker is the same process."""
    env = run.env
    redelivered = counter_total(run.web, "vanphong_events_redelivered_total")
    reread_metric = counter_total(run.web, "vanphong_messages_reread_total")
    metric = counter_total(run.web, "vanphong_offset_anomalies_total", 'kind="database_behind"')
    rows = env.fetch("SELECT * FROM core.offset_anomalies WHERE kind = 'database_behind'")
    reread = sum(dict(row).get("reread") or 0 for row in rows)
    print(
        f"\n{what}: views right {seconds:.1f} s after it; {len(run.messages)} messages; worker"
        f" pid {run.proc.pid}; database_behind: {len(rows)} rows, metric {metric:.0f}; read"
        f" twice: {reread} (rows), {reread_metric:.0f} (vanphong_messages_reread_total);"
        f" redelivered (vanphong_events_redelivered_total) {redelivered:.0f}"
    )
    for row in rows:
        print(f"  {dict(row)}")
    assert run.proc.poll() is None and env.workers.procs == [run.proc]
    assert_alive(env.workers)
    assert_no_agent_crashed(env.workers)
    assert rows, "no database_behind anomaly in core.offset_anomalies"
    assert metric == len(rows)
    assert log_lines(env.workers, r"database is behind"), env.workers.log_tail()
    doc = status_json(env)  # `vanphong status --json`, through the same URL as the worker
    assert "database_behind" in {a["kind"] for a in doc["offset_anomalies"]}
    assert doc["offset_anomalies_pending"] == []
    assert "database_behind" in {a["kind"] for a in healthz(run.web)["offset_anomalies"]}
    letters = assert_dead_letters_once_by_source(env, run.messages)
    print(f"  {letters} dead letters, each once on the topic")
    stop_cleanly(env.workers)


def fail_over(run: Running, rest: list[Message], later: list[Message], what: str) -> None:
    """Mid-stream the standby stops receiving WAL; the primary commits at least
    :data:`LOST_AT_LEAST` more offsets; it crashes; the standby is promoted and (with a moving
    address) takes the primary's address; the stream goes on."""
    h = run.h
    env, pg = h.env, h.pg
    pg.cut_replication()
    standby_url = url(pg.standby.port, pg.database)
    at_cut = applied(standby_url)
    env.send_raw(raw(env, rest))
    primary_url = pg.url()
    wait_until(
        env,
        lambda: applied(primary_url) >= at_cut + LOST_AT_LEAST,
        300,
        f"the primary to commit {LOST_AT_LEAST} offsets the standby never receives",
    )
    before_crash = applied(primary_url)
    pg.primary.crash()
    pg.promote()
    promoted = time.monotonic()
    if h.address is not None:
        h.address.move(pg.standby.port)
    on_standby = applied(standby_url)
    print(
        f"\n{what}: offsets applied on the primary before its crash >= {before_crash}, on the"
        f" promoted standby {on_standby}: {before_crash - on_standby} or more lost"
    )
    assert on_standby < before_crash
    goes_on(run, later, promoted, f"{what}, from the promotion")


def goes_on(run: Running, later: list[Message], since: float, what: str) -> None:
    """The rest of the stream is published into the running worker; every view is right again,
    the counters add up, and the anomaly, the dead letters and the worker are as they must be."""
    env = run.env
    env.send_raw(raw(env, later))
    seconds = views_right_again(run, since)
    env.wait_caught_up()
    assert_views_match(env, model_of(run.messages))
    assert_counts_add_up(env, run.messages)
    assert_reported_and_measure(run, seconds, what)


def test_asynchronous_failover_with_commits_lost_and_the_address_moving(tmp_path: Path) -> None:
    with harness(tmp_path, "address") as h:
        run, rest, later = start_streaming(h, seed=161)
        fail_over(run, rest, later, "failover, the address moving")


def test_asynchronous_failover_with_a_multi_host_url(tmp_path: Path) -> None:
    with harness(tmp_path, "multi_host") as h:
        assert re.search(r"@127\.0\.0\.1:\d+,127\.0\.0\.1:\d+/", h.env.settings.database_url)
        run, rest, later = start_streaming(h, seed=162)
        fail_over(run, rest, later, "failover, a multi-host URL")


def test_a_backup_restored_after_the_stream_went_on(tmp_path: Path) -> None:
    """pg_dump mid-stream; the stream goes on; the operator restores the backup into a new
    database and swaps it in by name under the running worker."""
    with harness(tmp_path, "direct") as h:
        env, pg = h.env, h.pg
        run, rest, later = start_streaming(h, seed=163)
        backup = pg.base / "mid-stream.dump"
        pg.primary.dump(DATABASE, backup)
        at_dump = applied(env.settings.database_url)  # at least what the dump holds
        env.send_raw(raw(env, rest))
        wait_until(
            env,
            lambda: applied(env.settings.database_url) >= at_dump + LOST_AT_LEAST,
            300,
            f"{LOST_AT_LEAST} offsets applied after the backup",
        )
        pg.primary.restore_as(backup, f"{DATABASE}_restored")
        pg.primary.swap_in(f"{DATABASE}_restored", DATABASE)
        restored = time.monotonic()
        print(f"\nrestore: backup taken with <= {at_dump} offsets applied")
        goes_on(run, later, restored, "backup restored, from the swap")


def test_a_point_in_time_restore_under_a_running_worker(tmp_path: Path) -> None:
    """A base backup and the archived WAL; mid-stream a recovery target (an LSN); the stream
    goes on; the operator restores to the target on another server, stops the old primary and
    moves the address to the restored one."""
    with harness(tmp_path, "address") as h:
        env, pg = h.env, h.pg
        base = pg.pitr_base()
        run, rest, later = start_streaming(h, seed=164)
        target, at_target = pg.lsn(), applied(pg.url())
        env.send_raw(raw(env, rest))
        wait_until(
            env,
            lambda: applied(pg.url()) >= at_target + LOST_AT_LEAST,
            300,
            f"{LOST_AT_LEAST} offsets applied after the recovery target",
        )
        pg.restore_to(base, target)
        on_restored, on_primary = applied(url(base.port, pg.database)), applied(pg.url())
        pg.primary.stop()
        assert h.address is not None
        h.address.move(base.port)
        restored = time.monotonic()
        print(
            f"\npitr: restored to {target} ({at_target} offsets applied just after it):"
            f" {on_restored} offsets applied on the restored server, {on_primary} on the primary"
        )
        assert on_restored < on_primary
        goes_on(run, later, restored, "point-in-time restore, from the address moving")
