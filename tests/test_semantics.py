"""The fold of §5.1–5.3, without Kafka or PostgreSQL."""

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.events import event
from vanphong.core.semantics import Fold, local_day
from vanphong.schemas.catalog import EventType

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DOCUMENT, MEETING = EventType.DOCUMENT_ISSUED, EventType.MEETING_HELD
RECEPTION, AWARD = EventType.CITIZENS_RECEIVED, EventType.AWARD_GRANTED
ASSIGNED, COMPLETED = EventType.TASK_ASSIGNED, EventType.TASK_COMPLETED


def totals(fold: Fold) -> Counter[tuple[str, date, str]]:
    """Cells without the dimension, zeros dropped."""
    out: Counter[tuple[str, date, str]] = Counter()
    for (unit, day, metric, _dim), n in fold.deltas.items():
        out[(unit, day, metric)] += n
    return Counter({k: v for k, v in out.items() if v})


def fold_all(*events: tuple[EventType, dict[str, Any]]) -> Fold:
    fold = Fold(ZONE, {})
    for event_type, record in events:
        fold.apply(event_type, record, record[event_type.key_field])
    return fold


def test_the_day_is_the_local_date_in_the_configured_zone() -> None:
    assert local_day(datetime(2024, 9, 30, 18, 30, tzinfo=UTC), ZONE) == date(2024, 10, 1)
    assert local_day(datetime(2024, 9, 30, 16, 59, tzinfo=UTC), ZONE) == date(2024, 9, 30)
    assert local_day(datetime(2024, 9, 30, 18, 30, tzinfo=UTC), ZoneInfo("UTC")) == date(
        2024, 9, 30
    )


def test_a_document_counts_once_and_appraised_counts_if_appraised() -> None:
    fold = fold_all(
        (DOCUMENT, event(DOCUMENT, appraised=True)),
        (DOCUMENT, event(DOCUMENT, document_id="d2", appraised=False)),
    )
    day = date(2024, 3, 5)
    assert totals(fold) == {
        ("vptu", day, "documents_issued"): 2,
        ("vptu", day, "documents_appraised"): 1,
    }


def test_a_correction_replaces_and_a_stale_one_changes_nothing() -> None:
    fold = Fold(ZONE, {})
    assert fold.apply(MEETING, event(MEETING, attendees=10), "m1")
    assert fold.apply(MEETING, event(MEETING, revision=3, attendees=30), "m1")
    assert not fold.apply(MEETING, event(MEETING, revision=2, attendees=99), "m1")
    assert not fold.apply(MEETING, event(MEETING, revision=3, attendees=77), "m1")
    assert totals(fold)[("vptu", date(2024, 3, 5), "meeting_attendees")] == 30


def test_a_void_removes_and_a_higher_revision_brings_back() -> None:
    fold = Fold(ZONE, {})
    fold.apply(DOCUMENT, event(DOCUMENT), "d1")
    fold.apply(DOCUMENT, event(DOCUMENT, revision=2, voided=True), "d1")
    assert totals(fold) == {}
    fold.apply(DOCUMENT, event(DOCUMENT, revision=3, unit_id="btctu"), "d1")
    assert set(totals(fold)) == {
        ("btctu", date(2024, 3, 5), "documents_issued"),
        ("btctu", date(2024, 3, 5), "documents_appraised"),
    }


def test_a_correction_arriving_before_the_original_wins() -> None:
    fold = Fold(ZONE, {})
    fold.apply(RECEPTION, event(RECEPTION, revision=2, citizens=5), "r1")
    assert not fold.apply(RECEPTION, event(RECEPTION, citizens=1), "r1")
    assert totals(fold)[("vptu", date(2024, 3, 5), "citizens_received")] == 5


def test_awards_count_for_grantor_if_known_and_always_for_recipient() -> None:
    fold = fold_all(
        (AWARD, event(AWARD)),
        (AWARD, event(AWARD, award_id="a2", granted_by_unit_id=None)),
    )
    day = date(2024, 3, 5)
    assert totals(fold) == {
        ("vptu", day, "awards_granted"): 1,
        ("phong-th", day, "awards_received"): 2,
    }


DUE = date(2024, 6, 30)
ON_TIME = datetime(2024, 6, 30, 16, 59, tzinfo=UTC)  # 23:59 local, still the due day
LATE = datetime(2024, 6, 30, 17, 0, tzinfo=UTC)  # 00:00 local on 1 July


def task_cells(*events: tuple[EventType, dict[str, Any]]) -> set[tuple[str, date, str]]:
    return set(totals(fold_all(*events)))


def test_a_completion_on_the_due_day_in_local_time_is_on_time() -> None:
    assert ("btctu", date(2024, 6, 30), "tasks_completed_on_time") in task_cells(
        (ASSIGNED, event(ASSIGNED, due_date=DUE)),
        (COMPLETED, event(COMPLETED, occurred_at=ON_TIME)),
    )
    assert ("btctu", date(2024, 7, 1), "tasks_completed_late") in task_cells(
        (ASSIGNED, event(ASSIGNED, due_date=DUE)),
        (COMPLETED, event(COMPLETED, occurred_at=LATE)),
    )


def test_a_completion_before_its_assignment_counts_once_the_assignment_arrives() -> None:
    fold = Fold(ZONE, {})
    fold.apply(COMPLETED, event(COMPLETED, occurred_at=ON_TIME), "t1")
    assert totals(fold) == {}
    fold.apply(ASSIGNED, event(ASSIGNED), "t1")
    assert totals(fold) == {
        ("btctu", date(2024, 3, 5), "tasks_assigned"): 1,
        ("btctu", date(2024, 6, 30), "tasks_completed_on_time"): 1,
    }


def test_voiding_either_side_of_a_task_retracts() -> None:
    completed = (COMPLETED, event(COMPLETED, occurred_at=ON_TIME))
    assigned = (ASSIGNED, event(ASSIGNED))
    void_completion = (COMPLETED, event(COMPLETED, revision=2, voided=True))
    void_assignment = (ASSIGNED, event(ASSIGNED, revision=2, voided=True))
    assert task_cells(assigned, completed, void_completion) == {
        ("btctu", date(2024, 3, 5), "tasks_assigned")
    }
    assert task_cells(assigned, completed, void_assignment) == set()


revisions = st.lists(
    st.tuples(st.integers(1, 5), st.booleans(), st.integers(0, 50)), min_size=1, max_size=12
)


@given(revisions, st.randoms())
def test_any_arrival_order_gives_what_the_highest_revision_says(
    history: list[tuple[int, bool, int]], rnd: Any
) -> None:
    """Duplicates, reorderings and voids: only the highest revision (first seen wins ties)."""
    shuffled = history[:]
    rnd.shuffle(shuffled)
    fold = Fold(ZONE, {})
    for revision, voided, attendees in shuffled:
        fold.apply(
            MEETING,
            event(MEETING, revision=revision, voided=voided, attendees=attendees),
            "m1",
        )
    top = max(r for r, _, _ in shuffled)
    _, voided, attendees = next(x for x in shuffled if x[0] == top)
    expected = {} if voided else {("vptu", date(2024, 3, 5), "meetings_held"): 1}
    if not voided and attendees:
        expected[("vptu", date(2024, 3, 5), "meeting_attendees")] = attendees
    assert totals(fold) == expected
