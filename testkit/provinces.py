"""Provinces of the demo with upstream's noise: the histories ``make bench`` publishes and
``make bench-read`` stores, and that the read-side tests check.

Why built on ``vanphong.demo``: the demo is the project's shared picture of a provincial office
(mostly documents, then meetings; some receptions, tasks and awards; registrations and
mergers). A bigger history is more provinces, each a demo history with its own seed whose ids
are prefixed (``p01-vptu``...) so that provinces never collide; province 0 is the demo itself.

Upstream noise follows issue 20, not the demo: 5 % retries (the same event re-sent, same
``event_id``) and ~1 % corrections (a document or meeting re-sent as revision 2), each placed
a little after its original. Corrections change figures (a document's ``appraised`` flag, a
meeting's attendees), so a system that ignores revisions is caught by the correctness check.
"""

from __future__ import annotations

import random
from typing import Any

from vanphong.demo import Demo

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

# The 34 provinces and centrally run cities since 2025-07-01. Copy 0 is the demo itself
# (Vĩnh Long, unprefixed ids such as ``vptu``); copy i > 0 has ids prefixed ``pNN-``.
PROVINCES = (
    "Vĩnh Long",
    "Hà Nội",
    "Huế",
    "Lai Châu",
    "Điện Biên",
    "Sơn La",
    "Lạng Sơn",
    "Quảng Ninh",
    "Thanh Hóa",
    "Nghệ An",
    "Hà Tĩnh",
    "Cao Bằng",
    "Tuyên Quang",
    "Lào Cai",
    "Thái Nguyên",
    "Phú Thọ",
    "Bắc Ninh",
    "Hưng Yên",
    "Hải Phòng",
    "Ninh Bình",
    "Quảng Trị",
    "Đà Nẵng",
    "Quảng Ngãi",
    "Gia Lai",
    "Khánh Hòa",
    "Lâm Đồng",
    "Đắk Lắk",
    "Thành phố Hồ Chí Minh",
    "Đồng Nai",
    "Tây Ninh",
    "Cần Thơ",
    "Đồng Tháp",
    "Cà Mau",
    "An Giang",
)

Event = dict[str, Any]


def _rename(event: Event, prefix: str) -> Event:
    out = dict(event)
    for name in _ID_FIELDS:
        if out.get(name) is not None:
            out[name] = prefix + out[name]
    if "absorbed_unit_ids" in out:
        out["absorbed_unit_ids"] = [prefix + u for u in out["absorbed_unit_ids"]]
    return out


def province(seed: int, index: int) -> list[Event]:
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


def with_noise(base: list[Event], rnd: random.Random) -> list[tuple[float, Event]]:
    """``base`` (in publication order) with retries and corrections, each keyed by where it is
    published: an original at its own index, a retry or correction up to ``NOISE_SPREAD``
    events after it; sorted by that key."""
    keyed: list[tuple[float, Event]] = []
    for i, event in enumerate(base):
        keyed.append((float(i), event))
        roll = rnd.random()
        if roll < RETRY_RATE:
            keyed.append((i + rnd.uniform(0.5, NOISE_SPREAD), dict(event)))
        elif roll < RETRY_RATE + CORRECTION_RATE and event["type"] in _CORRECTABLE:
            keyed.append((i + rnd.uniform(0.5, NOISE_SPREAD), _correction(event, rnd)))
    keyed.sort(key=lambda pair: pair[0])
    return keyed


def province_events(seed: int, index: int) -> list[tuple[str, Event]]:
    """Copy ``index`` of the demo, in ``PROVINCES[index]``: its events in publication order
    with the instant each is published at; retries and corrections placed up to
    ``NOISE_SPREAD`` events after their originals (as ``bench.generate.history`` does for the
    whole run)."""
    name = PROVINCES[index]
    base = province(seed, index)
    if index:
        for event in base:
            if event.get("province") == "Vĩnh Long":
                event["province"] = name
            elif event.get("province"):  # the two provinces merged into it in 2025
                event["province"] = f"{event['province']} ({name})"
    base.sort(key=lambda e: e["occurred_at"])
    keyed = with_noise(base, random.Random(seed * 1000 + index))
    last = len(base) - 1
    return [(base[min(int(at), last)]["occurred_at"], event) for at, event in keyed]
