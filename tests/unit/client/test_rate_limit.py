"""The process's request rate: slots ``1 / rate`` apart after a burst, and a 429 pausing all requests."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.client.rate_limit import DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS, RateLimit


def test_a_burst_goes_at_once_then_requests_are_spaced_by_the_rate() -> None:
    limit = RateLimit(rate=10, burst=3)
    assert [round(limit.reserve(100.0), 3) for _ in range(5)] == [0.0, 0.0, 0.0, 0.1, 0.2]


def test_a_quiet_spell_earns_the_burst_back() -> None:
    limit = RateLimit(rate=10, burst=2)
    assert [limit.reserve(0.0) for _ in range(2)] == [0.0, 0.0]
    assert limit.reserve(5.0) == 0.0
    assert limit.reserve(5.0) == 0.0


def test_a_429_holds_every_later_request_for_its_retry_after() -> None:
    limit = RateLimit(rate=100, burst=5)
    limit.hold(10.0, 3.0)
    assert limit.held_for(11.0) == pytest.approx(2.0)
    assert limit.reserve(11.0) == pytest.approx(2.0)
    # The burst resumes after the pause, no sooner.
    assert limit.reserve(11.0) == pytest.approx(2.0)
    assert limit.held_for(13.5) == 0.0


@pytest.mark.parametrize("retry_after", [None, -1.0])
def test_a_429_without_a_usable_retry_after_holds_for_the_default(retry_after: float | None) -> None:
    limit = RateLimit()
    limit.hold(0.0, retry_after)
    assert limit.held_for(0.0) == DEFAULT_HOLD_SECONDS


def test_a_shorter_hold_never_shortens_a_longer_one() -> None:
    limit = RateLimit()
    limit.hold(0.0, 10.0)
    limit.hold(1.0, 1.0)
    assert limit.held_for(5.0) == pytest.approx(5.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_a_limit_that_allows_nothing_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be > 0 and burst >= 1"):
        RateLimit(rate=rate, burst=burst)


def test_a_slot_given_back_goes_to_the_next_request() -> None:
    limit = RateLimit(rate=10, burst=1)
    assert limit.reserve(0.0) == 0.0
    assert limit.reserve(0.0) == pytest.approx(0.1)
    limit.release()  # that request was cancelled while it waited
    assert limit.reserve(0.0) == pytest.approx(0.1)


def test_a_retry_after_longer_than_the_cap_holds_for_the_cap() -> None:
    limit = RateLimit()
    limit.hold(0.0, 600.0)
    assert limit.held_for(0.0) == MAX_HOLD_SECONDS
