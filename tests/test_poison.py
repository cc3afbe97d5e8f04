"""The safety net on the real stack (vanphong/core/safetynet.py, streams/batch_writer.py,
streams/write_policy.py): a message that
PostgreSQL refuses, for a reason validation did not foresee, is found inside its batch and
dead-lettered while every other message counts; a fault that hits every message is the
system's, and the worker stops loudly instead of retrying forever or dead-lettering everything.

The faults are injected in the database, as an operator or a bug could put them there: a CHECK
constraint that some messages break (SQLSTATE 23514, the message's fault) and a trigger that
raises for every row (P0001, the system's).
"""

from __future__ import annotations

import json
import re
from typing import Any

from testkit.history import Message, all_event_types, to_message
from tests.conftest import Env, get, wait_for
from tests.faultstack import (
    assert_alive,
    assert_counted_once,
    assert_no_agent_crashed,
    log_lines,
    stop_cleanly,
)

POISON_CHECK = (
    "ALTER TABLE core.entities ADD CONSTRAINT injected_poison CHECK"
    " (entity_id NOT LIKE 'poison-%' AND (record ->> 'title') IS DISTINCT FROM 'POISON')"
)


def document(document_id: str, revision: int = 1, title: str = "Công văn", **extra: Any) -> dict:
    return {
        "type": "document.issued",
        "document_id": document_id,
        "unit_id": "vptu",
        "number": f"{revision}-CV/TU",
        "doc_type": "CONG_VAN",
        "issuing_organ": "VP",
        "title": title,
        "appraised": True,
        "secrecy": "NONE",
        "urgency": "NONE",
        "event_id": f"{document_id}-r{revision}",
        "occurred_at": f"2024-04-{revision:02d}T03:00:00Z",
        "source": "test",
        "revision": revision,
        **extra,
    }


def refused(event: dict[str, Any]) -> Message:
    """A message the injected CHECK constraint refuses: dead-lettered as invalid_field."""
    return to_message(event, reason="invalid_field")


def raw(env: Env, messages: list[Message]) -> list[tuple[str, bytes | None, bytes | None]]:
    return [(env.topic(m.topic), m.key, m.value) for m in messages]


def test_a_message_postgresql_refuses_is_dead_lettered_and_every_other_one_counts(
    env: Env,
) -> None:
    env.fetch(POISON_CHECK)
    history = all_event_types(seed=41, entities=240)
    middle = len(history) // 2
    poison = [
        refused(document("poison-new")),  # a new entity: the INSERT is refused
        refused(document("d-target", revision=2, title="POISON")),  # an UPDATE is refused
    ]
    target = [
        to_message(document("d-target", revision=1)),
        to_message(document("d-target", revision=3, title="Công văn, sửa lần 3")),
    ]
    # One mixed batch: the poison between hundreds of good messages, all waiting in Kafka. (A
    # revision superseded within its batch never reaches PostgreSQL: target[1] comes later.)
    first = [*history[:middle], target[0], poison[0], poison[1], *history[middle:]]
    env.send_raw(raw(env, first))
    worker = env.workers.start()
    port = env.workers.web_port(worker)
    env.wait_caught_up()

    # The quiet end of a topic: a refused message alone in its batch, then good ones again.
    alone = refused(document("poison-alone"))
    env.send_raw(raw(env, [alone]))
    env.wait_caught_up()
    after = [target[1], *(to_message(document(f"d-after-{i}")) for i in range(5))]
    env.send_raw(raw(env, after))
    env.wait_caught_up()

    messages = [*first, alone, *after]
    assert_counted_once(env, messages)
    target_row = env.fetch("SELECT revision FROM core.entities WHERE entity_id = 'd-target'")
    assert [r["revision"] for r in target_row] == [3]

    details = {
        r["key"]: r["detail"]
        for r in env.fetch(
            "SELECT key, detail FROM core.dead_letters WHERE reason = 'invalid_field'"
            " AND detail LIKE 'PostgreSQL refused%'"
        )
    }
    assert set(details) == {b"poison-new", b"d-target", b"poison-alone"}
    for detail in details.values():
        assert "SQLSTATE 23514" in detail and "injected_poison" in detail, detail
    on_topic = [
        dict(m.headers)["vanphong.error.detail"].decode()
        for m in env.dead_letters()
        if m.key in details
    ]
    assert sorted(on_topic) == sorted(details.values())
    assert log_lines(env.workers, "message refused by PostgreSQL, dead-lettered")
    metrics = get(port, "/metrics")[1]
    bisected = re.search(r'^vanphong_write_retries_total\{kind="bisect"\} (\S+)$', metrics, re.M)
    assert bisected and float(bisected[1]) > 0, "the poison was never in a batch with others"
    assert get(port, "/healthz")[0] == 200
    assert worker.poll() is None
    assert_alive(env.workers)
    assert_no_agent_crashed(env.workers)
    stop_cleanly(env.workers)


def test_a_trigger_that_raises_for_one_entity_dead_letters_it_and_every_other_one_counts(
    env: Env,
) -> None:
    """An exception raised by code inside the database (P0001) does not say whose fault it is. A
    trigger that refuses one entity: the message fails where a stand-in of it (its ids replaced,
    rolled back) goes through, so it is the message's, whether it sits in a mixed batch or alone
    at the quiet end of its topic. Only those two are dead-lettered; the worker keeps running."""
    env.fetch(
        "CREATE FUNCTION public.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.entity_id LIKE 'cursed-%' THEN RAISE EXCEPTION 'injected: % is cursed',"
        " NEW.entity_id; END IF; RETURN NEW; END $$"
    )
    env.fetch(
        "CREATE TRIGGER refuse_one BEFORE INSERT OR UPDATE ON core.entities"
        " FOR EACH ROW EXECUTE FUNCTION public.refuse_one()"
    )
    history = all_event_types(seed=43, entities=200)
    middle = len(history) // 2
    cursed = to_message(document("cursed-1"), reason="invalid_field")
    first = [*history[:middle], cursed, *history[middle:]]
    env.send_raw(raw(env, first))
    env.workers.extra_env["VANPHONG_FAULT_RETRIES"] = "3"
    worker = env.workers.start()
    port = env.workers.web_port(worker)
    env.wait_caught_up()

    alone = to_message(document("cursed-2"), reason="invalid_field")
    env.send_raw(raw(env, [alone]))
    env.wait_caught_up()
    after = [to_message(document(f"d-blessed-{i}")) for i in range(5)]
    env.send_raw(raw(env, after))
    env.wait_caught_up()

    messages = [*first, alone, *after]
    assert_counted_once(env, messages)
    details = {
        r["key"]: r["detail"]
        for r in env.fetch(
            "SELECT key, detail FROM core.dead_letters WHERE reason = 'invalid_field'"
            " AND detail LIKE 'PostgreSQL refused%'"
        )
    }
    assert set(details) == {b"cursed-1", b"cursed-2"}, details
    for key, detail in details.items():
        assert "SQLSTATE P0001" in detail and f"{key.decode()} is cursed" in detail, detail
    assert log_lines(env.workers, "a stand-in of the message went through")
    assert get(port, "/healthz")[0] == 200
    assert worker.poll() is None
    assert_alive(env.workers)


def test_a_fault_that_hits_every_message_stops_the_worker_loudly_and_loses_nothing(
    env: Env,
) -> None:
    env.fetch(
        "CREATE FUNCTION public.refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " RAISE EXCEPTION 'injected system fault'; END $$"
    )
    env.fetch(
        "CREATE TRIGGER refuse_all BEFORE INSERT OR UPDATE ON core.entities"
        " FOR EACH ROW EXECUTE FUNCTION public.refuse_all()"
    )
    messages = all_event_types(seed=42, entities=150)
    env.send_raw(raw(env, messages))
    env.workers.extra_env["VANPHONG_FAULT_RETRIES"] = "4"
    worker = env.workers.start()
    port = env.workers.web_port(worker)

    # Red while the worker retries within its budget, with the error and the batch's offsets.
    def red() -> bool:
        status, body = get(port, "/healthz")
        return status == 503 and "injected system fault" in body

    wait_for(lambda: red() or worker.poll() is not None, 120, "/healthz red, or an exit")
    status, body = get(port, "/healthz")
    assert worker.poll() is None, "the worker exited before /healthz said why"
    health = json.loads(body)
    assert status == 503 and health["status"] in ("failing", "failed"), body
    assert "injected system fault" in health["failure"]["error"]
    assert health["failure"]["partitions"], body  # the batch's coordinates

    wait_for(lambda: worker.poll() is not None, 120, "the worker to give up and exit")
    assert worker.returncode == 1  # faust's Worker re-raises the crash: EX_FAILURE
    last_word = log_lines(env.workers, "batch failed, the worker exits")
    assert last_word and "injected system fault" in last_word[0], env.workers.log_tail()
    assert "partitions" in last_word[0] and ".v1/" in last_word[0], last_word[0]
    retries = log_lines(env.workers, "batch failed, retrying")  # each writer: its budget, 4
    assert {line.split("retry=")[1][:1] for line in retries} == {"1", "2", "3", "4"}, retries
    assert env.fetch("SELECT count(*) AS n FROM core.entities")[0]["n"] == 0
    assert not log_lines(env.workers, "message refused by PostgreSQL")  # nothing dead-lettered

    # The fault removed, a restart reads the batch again: everything counts exactly once.
    env.fetch("DROP TRIGGER refuse_all ON core.entities")
    env.workers.start()
    env.wait_caught_up()
    assert_counted_once(env, messages)


def test_a_one_off_failure_of_a_batch_splits_it_and_loses_nothing(env: Env) -> None:
    """A batch whose write fails once with an error that is not transient (here a trigger that
    raises once; in life a glitch nobody foresaw) is not skipped and does not stop the worker:
    the safety net writes it in halves, which go through."""
    env.fetch("CREATE SEQUENCE public.injected_faults")
    env.fetch(
        "CREATE FUNCTION public.fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF nextval('public.injected_faults') = 1 THEN"
        " RAISE EXCEPTION 'injected fault (once)'; END IF; RETURN NULL; END $$"
    )
    env.fetch(
        "CREATE TRIGGER fail_once AFTER UPDATE ON core.sink_offsets"
        " FOR EACH STATEMENT EXECUTE FUNCTION public.fail_once()"
    )
    messages = all_event_types(seed=34, entities=300)
    env.send_raw(raw(env, messages))
    env.workers.start()
    env.wait_caught_up()
    assert env.fetch("SELECT is_called FROM public.injected_faults")[0][0], "never fired"
    assert_counted_once(env, messages)
    assert not log_lines(env.workers, "message refused by PostgreSQL|the worker exits")
    assert_alive(env.workers)
    assert_no_agent_crashed(env.workers)
