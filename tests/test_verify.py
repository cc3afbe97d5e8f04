"""``vanphong verify`` on the real database: after a history has gone through Kafka and the
worker, it exits 0; after the aggregates are damaged the way people damage them (an UPDATE of
some cells, a DELETE of others, a counter off by one), it finds exactly those cells."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from typing import Any

from testkit.history import all_event_types
from tests.conftest import VANPHONG, Env


def run_verify(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), "verify", *args],
        env=env.workers.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def verdict(env: Env) -> tuple[int, dict[str, Any]]:
    done = run_verify(env, "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def cell_key(d: dict[str, Any]) -> tuple[str, str, str, str]:
    return (d["unit_id"], d["day"], d["metric"], d["dimension"])


def load_history(env: Env, seed: int = 18, entities: int = 300) -> None:
    messages = all_event_types(seed, entities)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()


def tamper(env: Env) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """Damage three cells (UPDATE, DELETE, off by one): cell → (live now, right value)."""
    rows = env.fetch(
        "SELECT unit_id, day, metric, dimension, value FROM core.metric_daily"
        " WHERE value > 1 ORDER BY unit_id, day, metric, dimension LIMIT 3"
    )
    assert len(rows) == 3
    (u1, u2, u3) = rows
    env.fetch(
        "UPDATE core.metric_daily SET value = 1000 WHERE unit_id = $1 AND day = $2"
        " AND metric = $3 AND dimension = $4",
        *tuple(u1)[:4],
    )
    env.fetch(
        "DELETE FROM core.metric_daily WHERE unit_id = $1 AND day = $2 AND metric = $3"
        " AND dimension = $4",
        *tuple(u2)[:4],
    )
    env.fetch(
        "UPDATE core.metric_daily SET value = value + 1 WHERE unit_id = $1 AND day = $2"
        " AND metric = $3 AND dimension = $4",
        *tuple(u3)[:4],
    )

    def key(r: Any) -> tuple[str, str, str, str]:
        return (r[0], r[1].isoformat(), r[2], r[3])

    return {key(u1): (1000, u1[4]), key(u2): (0, u2[4]), key(u3): (u3[4] + 1, u3[4])}


def test_verify_exits_0_when_the_aggregates_are_what_the_entities_say(env: Env) -> None:
    load_history(env)
    status, body = verdict(env)
    assert status == 0, body
    assert body["equal"] and body["cells_differing"] == 0 and body["differences"] == []
    assert body["entities"] > 300 and body["cells_compared"] > 0
    assert body["stale_contributions"] == 0 and body["refused"] == []
    assert body["attribution_ranges"] == {"missing": [], "extra": []}
    assert any("topic_counters" in note for note in body["not_derivable"])


def test_verify_finds_exactly_the_cells_that_were_updated_deleted_or_off_by_one(env: Env) -> None:
    load_history(env)
    damaged = tamper(env)
    status, body = verdict(env)
    assert status == 1
    found = {cell_key(d): (d["live"], d["recomputed"]) for d in body["differences"]}
    assert found == damaged
    assert body["cells_differing"] == 3 and body["stale_contributions"] == 0
    table = run_verify(env)
    assert table.returncode == 1 and "3 cell(s) differ" in table.stdout


def test_verify_names_stale_contributions_refused_records_and_broken_ranges(env: Env) -> None:
    load_history(env)
    doc = env.fetch(
        "SELECT entity_id, contributions FROM core.entities"
        " WHERE entity_type = 'document.issued' AND NOT voided ORDER BY entity_id LIMIT 1"
    )[0]
    # A contribution the entity did not add (the cells stay as they are): stale.
    env.fetch(
        "UPDATE core.entities SET contributions = '[]' WHERE entity_type = 'document.issued'"
        " AND entity_id = $1",
        doc["entity_id"],
    )
    # A record today's rules refuse (a meeting with -1 attendees), its contributions kept.
    env.fetch(
        "UPDATE core.entities SET record = jsonb_set(record, '{attendees}', '-1')"
        " WHERE entity_id = (SELECT min(entity_id) FROM core.entities"
        "                    WHERE entity_type = 'meeting.held' AND NOT voided)"
        " AND entity_type = 'meeting.held'"
    )
    env.fetch("DELETE FROM core.attribution_ranges WHERE depth = 1")
    status, body = verdict(env)
    assert status == 1
    # The document's, and the meeting's (its stored record now counts other attendees).
    assert body["stale_contributions"] == 2
    assert f"document.issued {doc['entity_id']}" in body["stale_examples"]
    meeting = [r for r in body["refused"] if r["entity_type"] == "meeting.held"]
    assert len(meeting) == 1 and "attendees is -1" in meeting[0]["detail"]
    assert body["attribution_ranges"]["missing"] and not body["attribution_ranges"]["extra"]
    assert all(r["depth"] == 1 for r in body["attribution_ranges"]["missing"])
    # The meeting's record changed its attendees: that cell differs, and nothing else does.
    assert {d["metric"] for d in body["differences"]} == {"meeting_attendees"}
    assert date.fromisoformat(body["differences"][0]["day"])
