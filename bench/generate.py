"""The benchmark's events: the demo's realistic mix, scaled to any size, encoded once.

Why built on the demo: the demo is the project's shared picture of a provincial office, so the
benchmark measures the traffic the product is for, not a synthetic best case. One demo history
(``testkit.provinces``: a province, with upstream's noise of retries and corrections) is ~77,000
events (with an office's seasons since issue 20); bigger runs add more provinces, each a demo
history with its own seed whose ids are prefixed (``p01-vptu``...), then everything is ordered
by time as upstream systems would publish it and cut at ``BENCH_EVENTS``.

Encoding goes through the same path as ``vanphong publish`` (JSON form → Avro datum → §4 rules
→ single-object encoding), so every message is one the product accepts.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from testkit.provinces import Event, province, with_noise
from vanphong.core.rules import accept
from vanphong.publish import Outgoing
from vanphong.schemas.codec import encode, shipped_schemas
from vanphong.schemas.json_input import parse_line


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


def history(count: int, seed: int = 2024) -> History:
    """``count`` events: as many provinces as needed, in time order, with retries and
    corrections interleaved shortly after their originals."""
    base: list[Event] = []
    index = 0
    while len(base) < count:
        base.extend(province(seed, index))
        index += 1
    base.sort(key=lambda e: e["occurred_at"])  # stable: same-instant events keep their order
    keyed = with_noise(base, random.Random(seed))
    retries = corrections = 0
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
        event_type, datum = parse_line(event, shipped_schemas())
        value = encode(event_type, accept(event_type, datum, shipped_schemas()))
        key = datum[event_type.key_field].encode("utf-8")
        out.append(Encoded(event_type.topic, key, value))
    return out
