"""Comparing what PostgreSQL's reporting views hold with what the reference model says."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.history import Message
from tests.model import METRICS, Model


def model_of(messages: list[Message]) -> Model:
    model = Model()
    for message in messages:
        if message.event is not None:
            model.consume(message.event)
    return model


def assert_views_match(env: Any, model: Model) -> None:
    daily = {
        (r["unit_id"], r["day"]): {m: r[m] for m in METRICS}
        for r in env.fetch("SELECT * FROM reporting.unit_activity_daily")
    }
    assert {k: v for k, v in daily.items() if any(v.values())} == model.daily()
    monthly = {
        (r["unit_id"], r["month"]): {m: r[m] for m in METRICS}
        for r in env.fetch("SELECT * FROM reporting.unit_activity_monthly")
    }
    assert {k: v for k, v in monthly.items() if any(v.values())} == model.monthly()
    consolidated = {
        (r["unit_id"], r["month"]): {m: r[m] for m in METRICS}
        for r in env.fetch("SELECT * FROM reporting.unit_activity_consolidated_monthly")
    }
    assert {k: v for k, v in consolidated.items() if any(v.values())} == model.monthly(True)
    by_type = {
        (r["unit_id"], r["month"], r["doc_type"]): r["documents_issued"]
        for r in env.fetch("SELECT * FROM reporting.documents_by_type_monthly")
    }
    assert {k: v for k, v in by_type.items() if v} == model.documents_by_type()
    by_kind = {
        (r["unit_id"], r["month"], r["kind"]): (r["meetings_held"], r["meeting_attendees"])
        for r in env.fetch("SELECT * FROM reporting.meetings_by_kind_monthly")
    }
    assert {k: v for k, v in by_kind.items() if any(v)} == model.meetings_by_kind()


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
    """Each invalid message exactly once on the dead-letter topic, bytes and key unchanged."""
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
            "vanphong.failed_at",
        }
        assert headers["vanphong.source.topic"].startswith(env.settings.topic_prefix + ".")
        assert headers["vanphong.error.detail"]
