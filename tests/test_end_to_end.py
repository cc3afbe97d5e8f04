"""Events through Kafka and the worker into PostgreSQL, checked against the reference model."""

from __future__ import annotations

from testkit.history import documents_and_meetings
from tests.conftest import Env
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
)


def test_documents_and_meetings_reach_the_reports_exactly_as_the_model_says(env: Env) -> None:
    messages = documents_and_meetings(seed=7, documents=2500, meetings=600)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(messages))
    assert_counts_add_up(env, messages)
    assert_dead_letters_once(env, messages)


def test_units_are_listed_registered_or_not_with_nfc_names(env: Env) -> None:
    messages = documents_and_meetings(seed=8, documents=50, meetings=10)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()
    units = {r["unit_id"]: r for r in env.fetch("SELECT * FROM reporting.units")}
    assert units["vptu"]["registered"] and units["vptu"]["name"] == "Đơn vị vptu – Tỉnh ủy"
    assert all(r["status"] == "active" and r["final_unit_id"] == u for u, r in units.items())
