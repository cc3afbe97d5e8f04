"""The demo history: deterministic, valid, and shaped like the seed articles."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

from tests.model import Model
from vanphong.cli.demo import demo_events
from vanphong.cli.publish import to_message
from vanphong.ground.settings import Settings


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    assert demo_events(5)[:500] == demo_events(5)[:500]
    assert demo_events(5)[:500] != demo_events(6)[:500]


def test_every_demo_event_is_valid_for_publish() -> None:
    settings = Settings()
    for event in demo_events(2024):
        to_message(json.dumps(event, ensure_ascii=False), settings)


def test_the_office_figures_are_those_of_the_vinh_long_article() -> None:
    """ "Over 40,500 documents and over 960 meetings, 2019 to 9/2024" (seeds/004)."""
    model = Model()
    for event in demo_events(2024):
        model.consume(event)
    totals: Counter[str] = Counter()
    for (unit, day), metrics in model.daily().items():
        if unit == "vptu" and date(2019, 1, 1) <= day <= date(2024, 9, 30):
            totals.update(metrics)
    assert 40_500 < totals["documents_issued"] < 41_500
    assert 960 < totals["meetings_held"] < 1_000
    january_awards = [
        e
        for e in demo_events(2024)
        if e["type"] == "award.granted"
        and e["kind"] == "GIAY_KHEN"
        and e["occurred_at"].startswith("2019-01")
    ]
    assert len({e["award_id"] for e in january_awards}) == 11


def test_the_reorganisations_of_the_seeds_are_in_the_demo() -> None:
    merges = {e["merge_id"]: e for e in demo_events(2024) if e["type"] == "office.merged"}
    assert merges["2019-vp-ban"]["effective_date"] == "2019-01-01"
    assert merges["2019-vp-ban"]["legal_basis"] == ["18-NQ/TW", "86-KH/TU"]
    assert merges["2025-cap-huyen"]["effective_date"] == "2025-07-01"
    assert set(merges["2025-btg-bdv"]["absorbed_unit_ids"]) == {"btgtu", "bdvtu"}


def test_every_publication_has_its_own_event_id_and_a_retry_repeats_it() -> None:
    events = demo_events(2024)
    by_id: dict[str, dict[str, object]] = {}
    for event in events:
        first = by_id.setdefault(str(event["event_id"]), event)
        assert first == event, f"two different events share the event_id {event['event_id']}"
