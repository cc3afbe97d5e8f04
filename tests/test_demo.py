"""The demo history: deterministic, valid, pinned to the seed articles, and shaped like an
office's year (issue 20, section 1). Pure: no broker, no database."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from testkit.model import Model
from vanphong.demo import ARTICLE_DOCUMENTS, ARTICLE_MEETINGS, demo_events
from vanphong.demo.office_calendar import TET
from vanphong.ground.settings import Settings
from vanphong.publish import to_message

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
YEARS = range(2018, 2026)
Event = dict[str, Any]


@cache
def events(seed: int = 2024) -> list[Event]:
    return demo_events(seed)


@cache
def model(seed: int = 2024) -> Model:
    out = Model(today=date(2026, 12, 1))
    for event in events(seed):
        out.consume(event)
    return out


def day(event: Event) -> date:
    instant = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    return instant.astimezone(ZONE).date()


def latest(event_type: str, seed: int = 2024) -> dict[str, Event]:
    """The live revision of each entity of ``event_type`` (retries and corrections folded)."""
    return {k: e for (t, k), e in model(seed).current.items() if t == event_type}


def totals(unit: str, first: date, last: date, seed: int = 2024) -> Counter[str]:
    out: Counter[str] = Counter()
    for (owner, when), metrics in model(seed).daily().items():
        if owner == unit and first <= when <= last:
            out.update(metrics)
    return out


def monthly_documents(seed: int = 2024) -> Counter[date]:
    docs = latest("document.issued", seed).values()
    return Counter(day(d).replace(day=1) for d in docs if d["unit_id"] == "vptu")


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    assert demo_events(5)[:500] == demo_events(5)[:500]
    assert demo_events(5)[:500] != demo_events(6)[:500]


def test_every_demo_event_is_valid_for_publish() -> None:
    settings = Settings()
    for event in events():
        to_message(json.dumps(event, ensure_ascii=False), settings)


def test_every_merger_of_the_demo_is_accepted() -> None:
    assert model().rejected_merges == []


# -- the seed articles' figures -------------------------------------------------------------


@pytest.mark.parametrize("seed", [2024, 7])
def test_the_office_figures_are_those_of_the_vinh_long_article(seed: int) -> None:
    """ "Hơn 40.500 văn bản; trên 960 cuộc hội, họp", 2019 to 9/2024 (seeds/004): pinned
    exactly, whatever the seed, as the months around them move."""
    figures = totals("vptu", date(2019, 1, 1), date(2024, 9, 30), seed)
    assert figures["documents_issued"] == ARTICLE_DOCUMENTS == 40_572
    assert figures["meetings_held"] == ARTICLE_MEETINGS == 971
    assert figures["documents_issued"] > 40_500 and figures["meetings_held"] > 960


def test_a_year_earlier_the_office_did_less() -> None:
    """The same days a year earlier (2018-01-01 – 2023-09-30) hold less: the workload grows.
    (`make run`'s comparison column, since issue 19, is the period as long just before it,
    1/4/2013 – 31/12/2018, of which the demo holds 2018: README, "For report builders".)"""
    earlier = totals("vptu", date(2018, 1, 1), date(2023, 9, 30))
    assert 38_000 < earlier["documents_issued"] < ARTICLE_DOCUMENTS
    assert 900 < earlier["meetings_held"] < ARTICLE_MEETINGS


def test_eleven_giay_khen_for_2016_to_2018_at_the_offices_review_of_2018() -> None:
    """ "Trao 11 Giấy khen cho các tập thể … trong 3 năm 2016 - 2018" (seeds/000), at the
    office's review conference; other years the office grants fewer."""
    awards = [
        a
        for a in latest("award.granted").values()
        if a["kind"] == "GIAY_KHEN" and a["granted_by_unit_id"] == "vptu"
    ]
    by_year = Counter(day(a).year for a in awards)
    in_2019 = [a for a in awards if day(a).year == 2019]
    assert by_year[2019] == 11
    assert {a["recipient_kind"] for a in in_2019} == {"COLLECTIVE"}
    assert len({a["recipient_unit_id"] for a in in_2019}) == 11
    assert all(by_year[y] < 11 for y in YEARS if y != 2019)
    review = [
        m
        for m in latest("meeting.held").values()
        if "tổng kết công tác văn phòng cấp ủy năm 2018" in m["title"]
    ]
    assert [m["kind"] for m in review] == ["TONG_KET"]
    assert {day(a) for a in in_2019} == {day(review[0])}


def test_a_giao_ban_6_thang_every_june() -> None:
    """ "Giao ban các Ban Đảng, Văn phòng Tỉnh ủy 6 tháng đầu năm 2018", 18/6 (seeds/003),
    where Ban Tổ chức was told to finish the scheme by 30/6."""
    giao_ban = [
        m
        for m in latest("meeting.held").values()
        if m["kind"] == "GIAO_BAN" and "6 tháng đầu năm" in m["title"]
    ]
    assert sorted((day(m).year, day(m).month) for m in giao_ban) == [(y, 6) for y in YEARS]
    assert all(m["unit_id"] == "vptu" for m in giao_ban)
    assert date(2018, 6, 18) in {day(m) for m in giao_ban}
    scheme = latest("task.assigned")["nv-2018-de-an-vp-phuc-vu-chung"]
    assert (scheme["unit_id"], scheme["due_date"]) == ("btctu", "2018-06-30")


def test_the_reorganisations_of_the_seeds_are_in_the_demo() -> None:
    merges = latest("office.merged")
    assert merges["2019-vp-ban"]["effective_date"] == "2019-01-01"
    assert merges["2019-vp-ban"]["legal_basis"] == ["18-NQ/TW", "86-KH/TU"]
    assert merges["2025-cap-huyen"]["effective_date"] == "2025-07-01"
    assert set(merges["2025-btg-bdv"]["absorbed_unit_ids"]) == {"btgtu", "bdvtu"}


# -- the shape --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2024, 7])
def test_months_differ_and_tet_empties_its_month(seed: int) -> None:
    """Every year's months spread (coefficient of variation above 0.1; the flat demo had 0),
    and the month of Tết is well below the year's median."""
    per_month = monthly_documents(seed)
    for year in YEARS:
        counts = [per_month[date(year, m, 1)] for m in range(1, 13)]
        assert statistics.pstdev(counts) / statistics.mean(counts) > 0.1, (year, counts)
        tet_month = per_month[TET[year].replace(day=1)]
        assert tet_month < 0.85 * statistics.median(counts), (year, counts)


def test_the_reviews_fill_june_july_and_november_december() -> None:
    """Reports and plans are a larger share of the documents before the reviews, and the
    sơ kết and tổng kết conferences crowd into their seasons (topical ones happen all year)."""
    docs = [d for d in latest("document.issued").values() if d["unit_id"] == "vptu"]
    review = [d for d in docs if day(d).month in (6, 7, 11, 12)]
    other = [d for d in docs if day(d).month not in (6, 7, 11, 12)]

    def share(sample: list[Event]) -> float:
        return sum(d["doc_type"] in ("BAO_CAO", "KE_HOACH") for d in sample) / len(sample)

    assert share(review) > 1.3 * share(other)
    meetings = [m for m in latest("meeting.held").values() if m["unit_id"] == "vptu"]
    so_ket = Counter(day(m).month in (6, 7) for m in meetings if m["kind"] == "SO_KET")
    tong_ket = Counter(day(m).month in (11, 12, 1) for m in meetings if m["kind"] == "TONG_KET")
    assert so_ket[True] / 2 > 3 * so_ket[False] / 10  # per month, in season and out of it
    assert tong_ket[True] / 3 > 3 * tong_ket[False] / 9


def test_congress_years_have_congresses_and_their_documents() -> None:
    meetings = latest("meeting.held").values()
    congresses = Counter(day(m).year for m in meetings if m["kind"] == "DAI_HOI")
    assert set(congresses) == {2020, 2025}
    assert congresses[2020] > congresses[2025]  # 2020: the district congresses too
    docs = [d for d in latest("document.issued").values() if d["unit_id"] == "vptu"]
    resolutions = Counter(day(d).year for d in docs if d["doc_type"] == "NGHI_QUYET")
    every = Counter(day(d).year for d in docs)
    assert resolutions[2020] / every[2020] > 1.5 * resolutions[2019] / every[2019]


def test_the_office_receives_citizens_twice_a_week_before_a_congress() -> None:
    receptions = [r for r in latest("citizens.received").values() if r["unit_id"] == "vptu"]
    per_year = Counter(day(r).year for r in receptions if 7 <= day(r).month <= 9)
    assert per_year[2024] > 1.5 * per_year[2023] and per_year[2019] > 1.5 * per_year[2018]


def test_years_differ_the_workload_grows_and_the_merged_province_doubles_it() -> None:
    per_month = monthly_documents()
    per_year = {y: sum(per_month[date(y, m, 1)] for m in range(1, 13)) for y in YEARS}
    assert len(set(per_year.values())) == len(per_year)
    assert per_year[2018] < per_year[2019] < per_year[2022] < per_year[2023] < per_year[2024]
    assert per_year[2021] < per_year[2020]  # the congress year, then the lockdown
    merged = statistics.mean(per_month[date(2025, m, 1)] for m in range(7, 13))
    assert merged > 1.5 * per_year[2024] / 12


# -- the 2025 province merger, as events (issue 19) -----------------------------------------


def test_the_neighbouring_offices_merge_into_the_vinh_long_office_on_1_july_2025() -> None:
    merge = latest("office.merged")["2025-vptu-hop-nhat-tinh"]
    assert merge["absorbed_unit_ids"] == ["vptu-bentre", "vptu-travinh"]
    assert (merge["into_unit_id"], merge["effective_date"]) == ("vptu", "2025-07-01")
    units = latest("unit.registered")
    assert units["vptu-bentre"]["province"] == "Bến Tre"
    assert units["vptu-travinh"]["province"] == "Trà Vinh"
    work = [
        e
        for t in ("document.issued", "meeting.held")
        for e in latest(t).values()
        if e["unit_id"] in ("vptu-bentre", "vptu-travinh")
    ]
    assert work and max(day(e) for e in work) < date(2025, 7, 1)
    merged = totals("vptu", date(2025, 1, 1), date(2025, 6, 30))
    merged_consolidated = Counter[str]()
    for (owner, when), metrics in model().daily(consolidated=True).items():
        if owner == "vptu" and date(2025, 1, 1) <= when <= date(2025, 6, 30):
            merged_consolidated.update(metrics)
    assert merged_consolidated["documents_issued"] > 1.5 * merged["documents_issued"]


def test_the_reception_points_are_re_registered_in_the_merged_province() -> None:
    registrations = [
        e
        for e in events()
        if e["type"] == "unit.registered" and e["unit_id"] in ("tcd-bentre", "tcd-travinh")
    ]
    before = {e["unit_id"]: e for e in registrations if e.get("revision", 1) == 1}
    after = latest("unit.registered")
    for unit, province in (("tcd-bentre", "Bến Tre"), ("tcd-travinh", "Trà Vinh")):
        assert before[unit]["province"] == province
        assert after[unit]["revision"] == 2 and day(after[unit]) == date(2025, 7, 1)
        assert (after[unit]["province"], after[unit]["parent_unit_id"]) == ("Vĩnh Long", "vptu")
        days = [day(r) for r in latest("citizens.received").values() if r["unit_id"] == unit]
        assert min(days) < date(2025, 7, 1) < max(days)  # one unit, before and after


# -- publication --------------------------------------------------------------------------------


def test_every_publication_has_its_own_event_id_and_a_retry_repeats_it() -> None:
    by_id: dict[str, Event] = {}
    for event in events():
        first = by_id.setdefault(str(event["event_id"]), event)
        assert first == event, f"two different events share the event_id {event['event_id']}"


def test_tasks_come_from_several_assigning_bodies_and_name_their_documents() -> None:
    """The task follow-up board (docs/reporting.md) groups by assigning body and by source
    document: the demo gives it more than one of each, several tasks per document."""
    tasks = [e for e in demo_events() if e["type"] == "task.assigned"]
    bodies = Counter(t["assigned_by"] for t in tasks)
    documents = Counter(t.get("source_document") for t in tasks)
    assert len(bodies) >= 3 and min(bodies.values()) > len(tasks) / 10
    assert None not in documents or documents[None] == 1  # the 2018 giao ban's task
    assert len(documents) > 100 and max(documents.values()) >= 3
