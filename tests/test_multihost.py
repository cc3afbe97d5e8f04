"""A multi-host VANPHONG_DATABASE_URL (CONTRACT.md §1, v1.2) in every command: the first host
refuses connections, the second is the real stack's PostgreSQL, and ``target_session_attrs``
asks for the primary. init, the worker, wait, status, report and dlq list all work through it
(``vanphong init`` used to crash: "Port could not be cast to integer value")."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from testkit.history import all_event_types
from tests.conftest import VANPHONG, Env, wait_for
from vanphong.ground.dsn import Host, parse_dsn


def run(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), *args], env=env.workers.env(), capture_output=True, text=True, timeout=300
    )


def test_every_command_follows_a_multi_host_url_past_a_host_that_is_down(
    env: Env, refused_host: Host
) -> None:
    dsn = parse_dsn(env.settings.database_url)
    real = dsn.hosts[0]
    url = replace(
        dsn.with_hosts(refused_host, real),
        params=(("target_session_attrs", "read-write"),),
    )
    env.workers.extra_env["VANPHONG_DATABASE_URL"] = url.render()

    init = run(env, "init")
    assert init.returncode == 0, init.stderr
    assert "migrations: up to date" in init.stdout

    published_after = datetime.now(UTC) - timedelta(seconds=5)  # brokers' clocks: same host
    messages = all_event_types(seed=16, entities=60)
    garbage = (env.topic("document-issued.v1"), b"k", b"\x00not avro")
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages] + [garbage])
    env.workers.start()

    waited = run(env, "wait", "--timeout", "240")
    assert waited.returncode == 0, waited.stderr + env.workers.log_tail()
    applied = env.fetch("SELECT sum(next_offset) AS n FROM core.sink_offsets")[0]["n"]
    assert applied == len(messages) + 1

    status = run(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert sum(p["applied_offset"] for p in shown["topics"]) == applied
    dead = env.fetch("SELECT count(*) AS n FROM core.dead_letters")[0]["n"]
    assert sum(shown["dead_letters"].values()) == dead and shown["dead_letters"]["undecodable"]
    documents = next(r for r in shown["retention"] if r["topic"].endswith("document-issued.v1"))
    assert documents["holds_everything"] and documents["kafka_holds_from"] is None
    kept = [p["oldest_kept_at"] for p in documents["partitions"] if p["log_end"]]
    assert kept and all(
        published_after <= datetime.fromisoformat(t) <= datetime.now(UTC) for t in kept
    )
    text = run(env, "status")
    assert text.returncode == 0 and "a restore of any age is refilled" in text.stdout

    unit = env.fetch(
        "SELECT unit_id FROM reporting.units WHERE registered ORDER BY unit_id LIMIT 1"
    )[0]["unit_id"]
    report = run(env, "report", "--unit", unit, "--from", "2000-01-01", "--to", "2030-12-31")
    assert report.returncode == 0, report.stderr

    def relayed() -> bool:
        return not env.fetch("SELECT 1 FROM core.dead_letters WHERE sent_at IS NULL")

    wait_for(relayed, 120, "the dead letter on the dead-letter topic")
    listed = run(env, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert "undecodable" in listed.stdout
