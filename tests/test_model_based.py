"""Model-based: random histories of all eight event types through Kafka and the worker; every
reporting view equals the reference model (testkit/model.py), computed without production code.

One worker and database serve every example; each example lives in its own namespace of unit,
entity and merger ids, and is compared on that namespace only.
"""

from __future__ import annotations

import itertools
import os
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.history import to_message
from testkit.model import KEYS, METRICS, Model
from tests.conftest import Env
from tests.verify import assert_views_match
from vanphong.schemas.codec import decode

EXAMPLES = int(os.environ.get("VANPHONG_MODEL_EXAMPLES", "20"))
UNITS = [f"u{i}" for i in range(5)]
TYPES = [
    "unit.registered",
    "document.issued",
    "meeting.held",
    "office.merged",
    "award.granted",
    "citizens.received",
    "task.assigned",
    "task.completed",
]
_namespaces = itertools.count()


def _instant(rnd: random.Random) -> datetime:
    day = date(2023, 1, 1) + timedelta(days=rnd.randrange(0, 1460))
    midnight = datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)  # 00:00 in Hanoi
    minutes = rnd.randint(-2, 2) if rnd.random() < 0.4 else rnd.randrange(-1000, 400)
    return midnight + timedelta(minutes=minutes)


def content(
    ns: str, event_type: str, key: int, revision: int, voided: bool, salt: int
) -> dict[str, Any]:
    """The event an (entity, revision) states: a function of those alone, so a re-sent revision
    is always an exact duplicate."""
    rnd = random.Random(f"{salt}/{event_type}/{key}/{revision}")
    unit = lambda: ns + rnd.choice(UNITS)  # noqa: E731
    at = _instant(rnd)
    entity = f"{ns}{event_type.split('.')[0]}{key}"
    if event_type == "unit.registered":
        entity = ns + UNITS[key % len(UNITS)]
    fields: dict[str, Any] = {
        "type": event_type,
        KEYS[event_type]: entity,
        "event_id": f"{entity}-{event_type}-r{revision}",
        "occurred_at": at.isoformat(),
        "source": "prop",
        "revision": revision,
        "voided": voided,
    }
    if event_type == "unit.registered":
        fields |= {"name": f"Đơn vị {key}", "kind": "OFFICE"}
    elif event_type == "document.issued":
        doc_type, code = rnd.choice([("CONG_VAN", "CV"), ("BAO_CAO", "BC"), ("QUY_DINH", "QĐi")])
        fields |= {
            "unit_id": unit(),
            "number": f"{key}-{code}/TU",
            "doc_type": doc_type,
            "issuing_organ": "BTV",
            "title": "t",
            "appraised": rnd.random() < 0.5,
            "secrecy": "NONE",
            "urgency": "NONE",
        }
    elif event_type == "meeting.held":
        fields |= {
            "unit_id": unit(),
            "kind": rnd.choice(["GIAO_BAN", "HOP_MAT"]),
            "title": "t",
            "attendees": rnd.randint(0, 90),
            "mode": "ONLINE",
        }
    elif event_type == "office.merged":
        absorbed = rnd.sample(UNITS, rnd.randint(1, 2))
        into = rnd.choice([u for u in UNITS if u not in absorbed])
        effective = date(2023, 1, 1) + timedelta(days=rnd.randrange(0, 1600))
        fields |= {
            "absorbed_unit_ids": [ns + u for u in absorbed],
            "into_unit_id": ns + into,
            "effective_date": effective.isoformat(),
            "legal_basis": ["18-NQ/TW"],
        }
    elif event_type == "award.granted":
        fields |= {
            "kind": "GIAY_KHEN",
            "granting_authority": "VP",
            "recipient_kind": "COLLECTIVE",
            "recipient_unit_id": unit(),
            "granted_by_unit_id": unit() if rnd.random() < 0.7 else None,
            "recipient_name": "Nguyễn Văn A",
        }
    elif event_type == "citizens.received":
        citizens = rnd.randint(1, 9)
        fields |= {"unit_id": unit(), "citizens": citizens, "petitions": rnd.randint(0, citizens)}
    elif event_type == "task.assigned":
        due = at.date() + timedelta(days=rnd.randint(-3, 40))
        fields |= {
            "unit_id": unit(),
            "assigned_by": "BTV",
            "title": "t",
            "due_date": due.isoformat(),
        }
    else:  # task.completed
        fields |= {"unit_id": unit()}
    return fields


publications = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.integers(0, 3),  # entity key
        st.integers(1, 3),  # revision
        st.booleans(),  # voided (a revision is voided iff drawn so the first time)
        st.sampled_from(["entity", "entity", "entity", "none", "wrong"]),  # the Kafka key
    ),
    min_size=1,
    max_size=45,
)


def _rejected_merges(env: Env, ns: str) -> list[tuple[str, str]]:
    out = []
    for r in env.fetch("SELECT value, reason FROM core.dead_letters"):
        record = decode(r["value"]).record
        if record.get("merge_id", "").startswith(ns):
            out.append((record["merge_id"], r["reason"]))
    return sorted(out)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=publications, salt=st.integers(0, 2**31))
def test_every_reporting_view_equals_the_reference_model(
    env: Env, history: list[tuple[str, int, int, bool, str]], salt: int
) -> None:
    if not env.workers.procs:
        env.workers.start()
    ns = f"x{next(_namespaces)}-"
    voided: dict[tuple[str, int, int], bool] = {}
    model, messages = Model(env.settings.timezone), []
    for event_type, key, revision, void, kafka_key in history:
        void = voided.setdefault((event_type, key, revision), void)
        event = content(ns, event_type, key, revision, void, salt)
        message = to_message(event)
        raw_key = {"entity": message.key, "none": None, "wrong": b"wrong"}[kafka_key]
        messages.append((env.topic(message.topic), raw_key, message.value))
        model.consume(event)
    env.send_raw(messages)
    env.wait_caught_up(120)
    assert_views_match(env, model, ns + "%")
    expected_rejections = sorted((e["merge_id"], reason) for e, reason in model.rejected_merges)
    assert _rejected_merges(env, ns) == expected_rejections
    for unit in {ns + u for u in UNITS}:
        for consolidated in (False, True):
            got = env.fetch(
                "SELECT * FROM reporting.activity_summary($1, $2, $3, $4)",
                unit,
                date(2023, 6, 1),
                date(2025, 12, 31),
                consolidated,
            )[0]
            cells = model.daily(consolidated)
            want = {
                m: sum(
                    v[m]
                    for (u, d), v in cells.items()
                    if u == unit and date(2023, 6, 1) <= d <= date(2025, 12, 31)
                )
                for m in METRICS
            }
            assert dict(got) == want, (unit, consolidated)
