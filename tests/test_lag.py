"""vanphong/core/lag.py: one lag and one stall rule for the worker, the page and the commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vanphong.core.lag import is_stalled, lag, waiting_since
from vanphong.status import is_stalled as status_is_stalled


def test_lag_is_end_minus_applied_and_never_negative() -> None:
    assert lag(50, 20) == 30
    assert lag(10, 12) == 0  # an applied offset read after a stale end offset
    assert lag(0, 0) == 0


def test_what_retention_deleted_is_not_lag() -> None:
    assert lag(80, 30, log_start=50) == 30
    assert lag(80, 60, log_start=50) == 20
    assert lag(80, 90, log_start=50) == 0


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_lag_is_what_remains_between_the_applied_offset_and_the_end(
    end: int, applied: int, start: int
) -> None:
    n = lag(end, applied, min(start, end))
    assert 0 <= n <= end
    assert n == 0 or end - n == max(applied, min(start, end))


def test_the_stall_clock_is_the_latest_known_moment() -> None:
    assert waiting_since(None, None) is None
    assert waiting_since(5.0, None, 3.0) == 5.0


def test_a_stall_needs_lag_and_the_stall_time_since_the_clock_started() -> None:
    assert not is_stalled(0, 0.0, 100.0, 10)
    assert not is_stalled(None, 0.0, 100.0, 10)  # lag unknown
    assert not is_stalled(5, 95.0, 100.0, 10)
    assert is_stalled(5, 90.0, 100.0, 10)
    assert is_stalled(5, None, 100.0, 10)  # nothing shows it ever moved


def test_status_applies_the_same_rule_to_what_postgresql_and_kafka_record() -> None:
    now = datetime(2024, 10, 1, 12, tzinfo=UTC)
    for lagging in (0, 3):
        for applied_ago, pending_ago in [(90, None), (5, 120), (None, 61), (None, None)]:
            applied_at = None if applied_ago is None else now - timedelta(seconds=applied_ago)
            pending = None if pending_ago is None else now - timedelta(seconds=pending_ago)
            since = waiting_since(
                *(None if t is None else t.timestamp() for t in (applied_at, pending))
            )
            assert status_is_stalled(lagging, applied_at, pending, now, 60) == is_stalled(
                lagging, since, now.timestamp(), 60
            )
