"""What a round of the shared poller reads, and when the next one starts."""

from __future__ import annotations

from airflow_databricks_clusters.wait.poll_plan import (
    LISTED_STATES,
    MIN_ROUND_GAP_SECONDS,
    next_round_at,
    reads_by_list,
    round_gap,
    unlisted,
)


def test_the_live_list_leaves_out_terminated_clusters_only() -> None:
    assert "TERMINATED" not in LISTED_STATES
    assert {"PENDING", "RUNNING", "RESTARTING", "RESIZING", "TERMINATING", "ERROR"} <= set(LISTED_STATES)


def test_a_few_clusters_are_read_alone_and_many_by_the_list() -> None:
    assert reads_by_list(1, list_pages=1) is False  # one wait polls exactly as it always did
    assert reads_by_list(2, list_pages=1) is True
    assert reads_by_list(30, list_pages=30) is False  # 30 gets cost what 30 pages cost
    assert reads_by_list(31, list_pages=30) is True
    assert reads_by_list(1, list_pages=0) is False


def test_the_watched_clusters_the_list_did_not_show_are_read_alone() -> None:
    assert unlisted({"a", "b", "c"}, {"a", "z"}) == {"b", "c"}


def test_the_next_round_starts_when_the_first_wait_is_due() -> None:
    assert next_round_at([], None, 1.0) is None
    assert next_round_at([7.0, 5.0], None, 1.0) == 5.0
    assert next_round_at([7.0, 5.0], 2.0, 1.0) == 5.0


def test_waits_arriving_one_by_one_join_the_next_round_after_the_gap() -> None:
    assert next_round_at([10.0], 9.5, 1.0) == 10.5


def test_the_gap_is_never_longer_than_the_shortest_interval_asked_for() -> None:
    assert round_gap([5.0, 30.0]) == MIN_ROUND_GAP_SECONDS
    assert round_gap([0.2, 30.0]) == 0.2
    assert round_gap([]) == MIN_ROUND_GAP_SECONDS
