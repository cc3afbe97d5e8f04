"""Hostile input between good messages (issue 9, §0 and §3), on the real broker and database.

Every case of tests/hostile.py (text PostgreSQL cannot store, ids its indexes cannot hold, bodies
fastavro's writer would never produce) is published raw, between a realistic run of documents
and meetings, into one running worker. Each must be dead-lettered exactly once with its reason
and a detail naming the field; every good message must count; the worker must keep running.
"""

from __future__ import annotations

import random
from typing import Any, cast

from testkit.history import Message, documents_and_meetings
from tests.conftest import Env
from tests.faultstack import (
    assert_alive,
    assert_no_agent_crashed,
    stop_cleanly,
    wait_dead_letters_relayed,
)
from tests.hostile import HOSTILE
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
)
from vanphong.schemas.catalog import BY_TYPE


def hostile_messages() -> list[Message]:
    return [
        Message(
            BY_TYPE[case.event_type].topic,
            f"hostile-{i}".encode(),
            cast(Any, case.value),  # None: a tombstone
            None,
            case.reason,
        )
        for i, case in enumerate(HOSTILE)
    ]


def interleave(good: list[Message], hostile: list[Message], seed: int) -> list[Message]:
    """The hostile messages at random places among the good ones, each in its original order."""
    total = len(good) + len(hostile)
    places = set(random.Random(seed).sample(range(total), len(hostile)))
    g, h = iter(good), iter(hostile)
    return [next(h) if i in places else next(g) for i in range(total)]


def test_hostile_messages_are_dead_lettered_once_and_every_good_one_counts(env: Env) -> None:
    good = documents_and_meetings(seed=47, documents=300, meetings=90)
    hostile = hostile_messages()
    messages = interleave(good, hostile, seed=47)
    # small batches: hostile messages share transactions with good ones on every partition
    env.workers.extra_env["VANPHONG_BATCH_MAX_EVENTS"] = "40"
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    env.workers.start()
    env.wait_caught_up()

    assert_views_match(env, model_of(messages))  # every good message counts, once
    assert_counts_add_up(env, messages)
    wait_dead_letters_relayed(env)
    assert_dead_letters_once(env, messages)  # every invalid one, once, with its reason

    by_key = {
        bytes(r["key"]): (r["reason"], r["detail"])
        for r in env.fetch("SELECT key, reason, detail FROM core.dead_letters")
        if r["key"] is not None and bytes(r["key"]).startswith(b"hostile-")
    }
    assert len(by_key) == len(HOSTILE)
    for i, case in enumerate(HOSTILE):
        reason, detail = by_key[f"hostile-{i}".encode()]
        assert reason == case.reason, (case.name, detail)
        if case.field is not None:
            assert case.field in detail, (case.name, detail)

    assert_alive(env.workers)  # the same process went through all of it
    assert_no_agent_crashed(env.workers)
    stop_cleanly(env.workers)
