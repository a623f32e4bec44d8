"""What a trigger event other than success means for the task that resumes (no I/O)."""

from __future__ import annotations

from airflow_databricks_clusters.errors import ClusterFailed, ClusterTimeout, DatabricksClustersError
from airflow_databricks_clusters.triggers import error_from_event

REASON = {"code": "INIT_SCRIPT_FAILURE", "type": "CLIENT_ERROR", "parameters": {"instance_id": "i-0abc"}}


def test_a_failed_event_is_the_cluster_failure_with_reason_and_events() -> None:
    error = error_from_event(
        {
            "status": "failed",
            "cluster_id": "c-1",
            "state": "TERMINATED",
            "state_message": "script failed",
            "termination_reason": REASON,
            "target_states": ["RUNNING"],
            "events": [{"timestamp": 1, "type": "TERMINATING", "details": {}}],
        }
    )
    assert isinstance(error, ClusterFailed)
    assert error.termination_reason == REASON and error.events[0]["type"] == "TERMINATING"
    assert "INIT_SCRIPT_FAILURE (CLIENT_ERROR) [instance_id=i-0abc]" in str(error)


def test_a_timeout_names_the_state_the_wait_was_for() -> None:
    error = error_from_event(
        {
            "status": "timeout",
            "cluster_id": "c-1",
            "state": "TERMINATING",
            "target_states": ["TERMINATED"],
            "waited_seconds": 1200.4,
        }
    )
    assert isinstance(error, ClusterTimeout)
    assert str(error) == "Cluster c-1 did not reach TERMINATED within 1200 s (last state TERMINATING)"


def test_an_error_event_carries_its_message() -> None:
    error = error_from_event(
        {"status": "error", "cluster_id": "c-1", "message": "HTTP 403: Invalid access token."}
    )
    assert type(error) is DatabricksClustersError
    assert str(error) == "Cluster c-1: HTTP 403: Invalid access token."
