"""Exactly once into PostgreSQL (§5.2): SIGKILLed workers, restarts and re-publication change
nothing."""

from __future__ import annotations

import asyncio

from testkit.history import all_event_types, documents_and_meetings
from tests.conftest import Env, wait_for
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
)
from vanphong.status.caught_up import applied_offsets


def applied(env: Env) -> int:
    return sum(asyncio.run(applied_offsets(env.settings.database_url)).values())


def test_workers_killed_mid_stream_apply_everything_once(env: Env) -> None:
    messages = all_event_types(seed=11, entities=5000)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.extra_env["VANPHONG_BATCH_MAX_EVENTS"] = "150"
    total = len(messages)
    for kill_at in (0.15, 0.4, 0.7):
        worker = env.workers.start()
        wait_for(
            lambda at=kill_at: applied(env) >= at * total,
            240,
            f"{kill_at:.0%} of the messages applied",
        )
        env.workers.kill(worker)  # SIGKILL: no clean shutdown, no final commit
        assert applied(env) < total, "the worker finished before it could be killed"
    env.workers.start()
    env.wait_caught_up()
    model = model_of(messages)
    assert_views_match(env, model)
    assert_counts_add_up(env, messages)
    assert_dead_letters_once(env, messages)


def test_republishing_the_same_events_changes_nothing(env: Env) -> None:
    messages = documents_and_meetings(seed=12, documents=300, meetings=100)
    raw = [(env.topic(m.topic), m.key, m.value) for m in messages]
    env.send_raw(raw)
    env.workers.start()
    env.wait_caught_up()
    before = env.fetch("SELECT * FROM core.metric_daily ORDER BY 1, 2, 3, 4")
    env.send_raw([r for r, m in zip(raw, messages, strict=True) if m.reason is None])
    env.wait_caught_up()
    assert env.fetch("SELECT * FROM core.metric_daily ORDER BY 1, 2, 3, 4") == before
    assert_views_match(env, model_of(messages))


def test_rebalances_between_two_workers_apply_everything_once(env: Env) -> None:
    messages = all_event_types(seed=13, entities=4000)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.extra_env["VANPHONG_BATCH_MAX_EVENTS"] = "150"
    total = len(messages)
    first = env.workers.start()
    wait_for(lambda: applied(env) >= 0.2 * total, 240, "20% applied by the first worker")
    env.workers.start()  # joins: the partitions are rebalanced mid-stream
    wait_for(lambda: applied(env) >= 0.5 * total, 240, "50% applied by two workers")
    env.workers.kill(first)  # the survivor takes over the first worker's partitions
    env.wait_caught_up()
    assert_views_match(env, model_of(messages))
    assert_counts_add_up(env, messages)
    assert_dead_letters_once(env, messages)
