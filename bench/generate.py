"""The benchmark's events: the demo's realistic mix, scaled to any size, encoded once.

Why built on ``vanphong.demo``: the demo is the project's shared picture of a provincial office
(mostly documents, then meetings; some receptions, tasks and awards; registrations and mergers),
so the benchmark measures the traffic the product is for, not a synthetic best case. One demo
history is ~77,000 events (with an office's seasons since issue 20); bigger runs add more
provinces, each a demo history with its own seed whose ids are prefixed (``p01-vptu``...), then
everything is ordered by time as upstream systems would publish it and cut at ``BENCH_EVENTS``.

Upstream noise follows the issue, not the demo: 5 % retries (the same event re-sent, same
``event_id``) and ~1 % corrections (a document or meeting re-sent as revision 2), each placed a
little after its original. Corrections change figures (a document's ``appraised`` flag, a
meeting's attendees), so a system that ignores revisions is caught by the correctness check.

Encoding goes through the same path as ``vanphong publish`` (JSON form → Avro datum → §4 rules
→ single-object encoding), so every message is one the product accepts.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from vanphong.core.rules import accept
from vanphong.demo import Demo
from vanphong.publish import Outgoing
from vanphong.schemas.codec import encode
from vanphong.schemas.json_input import parse_line

RETRY_RATE = 0.05
CORRECTION_RATE = 0.01
NOISE_SPREAD = 500  # a retry or correction lands up to this many events after its original

# Fields holding unit ids or entity ids: renamed per province so provinces never collide.
_ID_FIELDS = (
    "event_id",
    "unit_id",
    "parent_unit_id",
    "into_unit_id",
    "granted_by_unit_id",
    "recipient_unit_id",
    "document_id",
    "meeting_id",
    "merge_id",
    "award_id",
    "reception_id",
    "task_id",
)
_CORRECTABLE = ("document.issued", "meeting.held")

Event = dict[str, Any]


@dataclass(frozen=True)
class Encoded:
    """One message ready to publish under any prefix: contract topic name, key, value."""

    topic: str
    key: bytes
    value: bytes

    def to(self, prefix: str) -> Outgoing:
        return Outgoing(f"{prefix}.{self.topic}", self.key, self.value)


@dataclass(frozen=True)
class History:
    events: list[Event]
    retries: int
    corrections: int

    def mix(self) -> Counter[str]:
        return Counter(e["type"] for e in self.events)


def _rename(event: Event, prefix: str) -> Event:
    out = dict(event)
    for name in _ID_FIELDS:
        if out.get(name) is not None:
            out[name] = prefix + out[name]
    if "absorbed_unit_ids" in out:
        out["absorbed_unit_ids"] = [prefix + u for u in out["absorbed_unit_ids"]]
    return out


def _province(seed: int, index: int) -> list[Event]:
    """One demo history without its noise; province 0 keeps the demo's own ids.

    The demo gives a task's completion the same ``event_id`` as its assignment; here each
    publication gets its own (``...-done-r1``), as CONTRACT.md §4 defines ``event_id``, so a
    consumer that dedups by ``event_id`` is not misled by the generator.
    """
    demo = Demo(seed + index)
    demo.units()
    demo.mergers()
    demo.activity()
    prefix = f"p{index:02d}-" if index else ""
    events = []
    for event in demo.events:
        if event["type"] == "task.completed":
            event = {**event, "event_id": event["event_id"].replace("-r1", "-done-r1")}
        events.append(_rename(event, prefix) if prefix else event)
    return events


def _correction(event: Event, rnd: random.Random) -> Event:
    fixed = {
        **event,
        "revision": 2,
        "event_id": event["event_id"].rsplit("-r", 1)[0] + "-r2",
        "title": event["title"] + " (đính chính)",
    }
    if event["type"] == "document.issued" and rnd.random() < 0.5:
        fixed["appraised"] = not event["appraised"]
    if event["type"] == "meeting.held":
        fixed["attendees"] = max(0, event["attendees"] + rnd.choice([-5, -2, 1, 3, 10]))
    return fixed


def history(count: int, seed: int = 2024) -> History:
    """``count`` events: as many provinces as needed, in time order, with retries and
    corrections interleaved shortly after their originals."""
    base: list[Event] = []
    index = 0
    while len(base) < count:
        base.extend(_province(seed, index))
        index += 1
    base.sort(key=lambda e: e["occurred_at"])  # stable: same-instant events keep their order
    rnd = random.Random(seed)
    keyed: list[tuple[float, Event]] = []
    retries = corrections = 0
    for i, event in enumerate(base):
        keyed.append((float(i), event))
        roll = rnd.random()
        if roll < RETRY_RATE:
            keyed.append((i + rnd.uniform(0.5, NOISE_SPREAD), dict(event)))
        elif roll < RETRY_RATE + CORRECTION_RATE and event["type"] in _CORRECTABLE:
            keyed.append((i + rnd.uniform(0.5, NOISE_SPREAD), _correction(event, rnd)))
    keyed.sort(key=lambda pair: pair[0])
    events = [e for _, e in keyed[:count]]
    originals = {e["event_id"] for e in base}
    seen: set[str] = set()
    for e in events:
        if e["event_id"] in seen:
            retries += 1
        elif e["event_id"] not in originals:
            corrections += 1
        seen.add(e["event_id"])
    return History(events, retries, corrections)


def encode_all(events: list[Event]) -> list[Encoded]:
    """Every event as ``vanphong publish`` would send it; an invalid one is a bug here."""
    out: list[Encoded] = []
    for event in events:
        event_type, datum = parse_line(event)
        value = encode(event_type, accept(event_type, datum))
        key = datum[event_type.key_field].encode("utf-8")
        out.append(Encoded(event_type.topic, key, value))
    return out
