"""Comparing what PostgreSQL's reporting views hold with what the reference model says."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from testkit.history import Message
from testkit.model import METRICS, Model


def model_of(messages: list[Message]) -> Model:
    model = Model()
    for message in messages:
        if message.event is not None:
            model.consume(message.event)
        elif message.reason in ("merge_cycle", "unit_already_merged"):
            assert model.consume(_event_of(message)) == "rejected", message
    return model


def _event_of(message: Message) -> dict[str, Any]:
    """The JSON form of a merger that is valid on its own but must be rejected in context."""
    from vanphong.schemas.codec import decode

    record = decode(message.value).record
    return {
        **record,
        "type": "office.merged",
        "effective_date": record["effective_date"].isoformat(),
    }


def reporting_state(env: Any, like: str = "%") -> dict[str, Any]:
    """Every reporting view, for units (merges, tasks) whose id is LIKE ``like``; rows whose
    metrics are all zero are left out (the contract allows them to be absent)."""

    def rows(sql: str) -> list[Any]:
        return list(env.fetch(sql, like))

    def table(view: str, key: int) -> dict[Any, dict[str, int]]:
        out = {}
        for r in rows(f"SELECT * FROM reporting.{view} WHERE unit_id LIKE $1"):
            values = {m: r[m] for m in METRICS}
            if any(values.values()):
                out[tuple(r)[:key]] = values
        return out

    return {
        "daily": table("unit_activity_daily", 2),
        "monthly": table("unit_activity_monthly", 2),
        "consolidated": table("unit_activity_consolidated_monthly", 2),
        "by_type": {
            (r[0], r[1], r[2]): r[3]
            for r in rows("SELECT * FROM reporting.documents_by_type_monthly WHERE unit_id LIKE $1")
            if r[3]
        },
        "by_kind": {
            (r[0], r[1], r[2]): (r[3], r[4])
            for r in rows("SELECT * FROM reporting.meetings_by_kind_monthly WHERE unit_id LIKE $1")
            if r[3]
        },
        "units": {
            r["unit_id"]: {k: r[k] for k in UNIT_COLUMNS}
            for r in rows("SELECT * FROM reporting.units WHERE unit_id LIKE $1")
        },
        "merges": {
            (r[0], r[1], r[2], r[3], tuple(r[4]))
            for r in rows("SELECT * FROM reporting.merges WHERE merge_id LIKE $1")
        },
        "tasks": {
            r["task_id"]: (
                r["unit_id"],
                r["assigned_on"],
                r["due_on"],
                r["completed_on"],
                r["status"],
            )
            for r in rows("SELECT * FROM reporting.tasks WHERE task_id LIKE $1")
        },
    }


UNIT_COLUMNS = ("name", "registered", "status", "merged_into", "merged_on", "final_unit_id")


def model_state(model: Model) -> dict[str, Any]:
    return {
        "daily": model.daily(),
        "monthly": model.monthly(),
        "consolidated": model.monthly(consolidated=True),
        "by_type": model.documents_by_type(),
        "by_kind": model.meetings_by_kind(),
        "units": model.units(),
        "merges": model.merges(),
        "tasks": model.tasks(),
    }


def assert_views_match(env: Any, model: Model, like: str = "%") -> None:
    got, want = reporting_state(env, like), model_state(model)
    for view in want:
        assert got[view] == want[view], view


def assert_counts_add_up(env: Any, messages: list[Message]) -> None:
    """§6: consumed = applied + unchanged + dead-lettered, per input topic."""
    consumed = Counter(env.topic(m.topic) for m in messages)
    counters = {r["topic"]: r for r in env.fetch("SELECT * FROM core.topic_counters")}
    for topic, n in consumed.items():
        row = counters[topic]
        assert row["applied"] + row["unchanged"] + row["dead_lettered"] == n, topic
    expected_dead = Counter(env.topic(m.topic) for m in messages if m.reason)
    assert {
        t: r["dead_lettered"] for t, r in counters.items() if r["dead_lettered"]
    } == expected_dead


def assert_dead_letters_once(env: Any, messages: list[Message]) -> None:
    """Each invalid message exactly once on the dead-letter topic, bytes and key unchanged.
    Caught up means applied; the relay sends afterwards (streams/deadletters.py), so the topic is
    read until it holds as many dead letters as expected, or a deadline passes (each read
    opens a consumer and waits on the broker: no sleep)."""
    wanted = sum(1 for m in messages if m.reason)
    deadline = time.monotonic() + 60
    letters = env.dead_letters()
    while len(letters) < wanted and time.monotonic() < deadline:
        letters = env.dead_letters()
    seen = Counter(
        (m.key, m.value, dict(m.headers)["vanphong.error.reason"].decode()) for m in letters
    )
    expected = Counter((m.key, m.value, m.reason) for m in messages if m.reason)
    assert seen == expected
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert set(headers) == {
            "vanphong.error.reason",
            "vanphong.error.detail",
            "vanphong.source.topic",
            "vanphong.source.partition",
            "vanphong.source.offset",
            "vanphong.source.topic_id",
            "vanphong.failed_at",
        }
        assert headers["vanphong.source.topic"].startswith(env.settings.topic_prefix + ".")
        assert headers["vanphong.error.detail"]
