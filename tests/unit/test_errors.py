"""The shared error types say what went wrong in one readable message."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.errors import ClusterFailed, SpecError, SpecProblem


def test_spec_error_lists_every_problem() -> None:
    err = SpecError(
        [
            SpecProblem("aws_attributes.availability", "SPOTT", "SPOT, ON_DEMAND, SPOT_WITH_FALLBACK"),
            SpecProblem("num_workers", -1, "an integer >= 0"),
        ]
    )
    text = str(err)
    assert "2 problems" in text
    assert "aws_attributes.availability: got 'SPOTT'; allowed: SPOT, ON_DEMAND, SPOT_WITH_FALLBACK" in text
    assert "num_workers: got -1" in text
    assert isinstance(err, ValueError)


def test_spec_error_needs_a_problem() -> None:
    with pytest.raises(ValueError):
        SpecError([])


def test_cluster_failed_names_reason_and_events() -> None:
    err = ClusterFailed(
        "0123-456789-abcdefgh",
        "TERMINATED",
        state_message="Spot capacity",
        termination_reason={
            "code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
            "type": "CLOUD_FAILURE",
            "parameters": {"aws_api_error_code": "InsufficientInstanceCapacity"},
        },
        events=[{"timestamp": 1, "type": "TERMINATING", "details": {"reason": {"code": "X"}}}],
    )
    text = str(err)
    assert "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE (CLOUD_FAILURE)" in text
    assert "aws_api_error_code=InsufficientInstanceCapacity" in text
    assert "TERMINATING" in text
