from typing import Any

import pytest

from tests.events import event
from vanphong.core.mergers import check_merge
from vanphong.core.rejection import Reason, Rejection
from vanphong.schemas.catalog import EventType


def merge(merge_id: str, absorbed: list[str], into: str, **fields: Any) -> dict[str, Any]:
    return event(
        EventType.OFFICE_MERGED,
        merge_id=merge_id,
        absorbed_unit_ids=absorbed,
        into_unit_id=into,
        **fields,
    )


def current(*merges: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["merge_id"]: m for m in merges}


def test_a_chain_is_fine() -> None:
    check_merge(merge("g2", ["b"], "c"), current(merge("g1", ["a"], "b")))


def test_a_unit_absorbed_twice_is_rejected_naming_the_first_merger() -> None:
    with pytest.raises(Rejection) as caught:
        check_merge(merge("g2", ["x", "a"], "c"), current(merge("g1", ["a"], "b")))
    assert caught.value.reason is Reason.UNIT_ALREADY_MERGED
    assert "g1" in caught.value.detail and "a" in caught.value.detail


@pytest.mark.parametrize(
    ("existing", "candidate"),
    [
        ([merge("g1", ["a"], "b")], merge("g2", ["b"], "a")),
        ([merge("g1", ["a"], "b"), merge("g2", ["b"], "c")], merge("g3", ["c"], "a")),
        ([merge("g1", ["a", "x"], "b")], merge("g2", ["b", "y"], "x")),
    ],
)
def test_a_merger_that_closes_a_cycle_is_rejected(
    existing: list[dict[str, Any]], candidate: dict[str, Any]
) -> None:
    with pytest.raises(Rejection) as caught:
        check_merge(candidate, current(*existing))
    assert caught.value.reason is Reason.MERGE_CYCLE


def test_a_correction_is_judged_against_the_others_only() -> None:
    check_merge(merge("g1", ["a"], "c", revision=2), current(merge("g1", ["a"], "b")))


def test_a_voided_merger_no_longer_blocks_and_a_void_is_always_accepted() -> None:
    check_merge(merge("g1", ["a"], "b", revision=2, voided=True), current(merge("g2", ["b"], "a")))
    # the caller passes only non-voided mergers as current: g1 voided frees a
    check_merge(merge("g2", ["a"], "c"), current())
