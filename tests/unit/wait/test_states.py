"""The verdicts and reports every wait and teardown relies on."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.wait.states import (
    StateWatch,
    Verdict,
    assess,
    cluster_summary,
    counted,
    failed_states_for,
    lifetime_report,
    lifetime_text,
    spot_report,
    termination_reason_text,
    validate_target_states,
)


@pytest.mark.parametrize(
    ("state", "targets", "verdict"),
    [
        ("RUNNING", ["RUNNING"], Verdict.DONE),
        ("PENDING", ["RUNNING"], Verdict.WAITING),
        ("RESTARTING", ["RUNNING"], Verdict.WAITING),
        ("RESIZING", ["RUNNING"], Verdict.WAITING),
        ("TERMINATING", ["RUNNING"], Verdict.FAILED),
        ("TERMINATED", ["RUNNING"], Verdict.FAILED),
        ("ERROR", ["RUNNING"], Verdict.FAILED),
        ("UNKNOWN", ["RUNNING"], Verdict.WAITING),
        ("SOME_NEW_STATE", ["RUNNING"], Verdict.WAITING),
        ("RUNNING", ["TERMINATED"], Verdict.WAITING),
        ("TERMINATING", ["TERMINATED"], Verdict.WAITING),
        ("TERMINATED", ["TERMINATED"], Verdict.DONE),
        ("ERROR", ["TERMINATED"], Verdict.FAILED),
        ("TERMINATED", ["RUNNING", "TERMINATED"], Verdict.DONE),
    ],
)
def test_assess(state: str, targets: list[str], verdict: Verdict) -> None:
    assert assess(state, targets) is verdict


def test_explicit_failed_states_replace_the_defaults() -> None:
    assert assess("TERMINATED", ["RUNNING"], failed_states=["ERROR"]) is Verdict.WAITING
    assert assess("PENDING", ["RUNNING"], failed_states=["PENDING"]) is Verdict.FAILED


def test_failed_states_never_contain_a_target() -> None:
    assert failed_states_for(["TERMINATING"]) == {"ERROR"}
    assert "ERROR" not in failed_states_for(["ERROR"])


def test_validate_target_states_names_the_field_and_allowed_values() -> None:
    assert validate_target_states("RUNNING") == ("RUNNING",)
    with pytest.raises(ValueError, match=r"target_states: got \['RUNING'\]; allowed: .*RUNNING"):
        validate_target_states(["RUNING"])
    with pytest.raises(ValueError, match="target_states"):
        validate_target_states([])


def test_the_sensor_waits_for_running_by_default() -> None:
    # The sensor spells the state out (so a DAG file does not load this module): it must stay this one.
    import inspect

    from airflow_databricks_clusters.sensors import DatabricksClusterSensor
    from airflow_databricks_clusters.wait.states import RUNNING

    default = inspect.signature(DatabricksClusterSensor.__init__).parameters["target_states"].default
    assert default == (RUNNING,)
    assert DatabricksClusterSensor(task_id="s", cluster_id="c")._targets() == (RUNNING,)


def test_state_watch_logs_changes_only_with_elapsed_time() -> None:
    watch = StateWatch("c-1", ["RUNNING"], started_at=100.0)
    verdict, line = watch.observe({"state": "PENDING", "state_message": "Finding instances"}, 100.0)
    assert verdict is Verdict.WAITING
    assert line == "Cluster c-1: PENDING after 0 s (Finding instances)"
    assert watch.observe({"state": "PENDING"}, 110.0) == (Verdict.WAITING, None)
    verdict, line = watch.observe({"state": "RUNNING", "state_message": ""}, 142.4)
    assert verdict is Verdict.DONE
    assert line == "Cluster c-1: PENDING -> RUNNING after 42 s"


def test_state_watch_tolerates_unknown_states() -> None:
    watch = StateWatch("c-1", ["RUNNING"], started_at=0.0)
    verdict, line = watch.observe({"state": "HIBERNATING"}, 5.0)
    assert verdict is Verdict.WAITING
    assert line is not None and "unknown state" in line


def test_termination_reason_text() -> None:
    reason = {
        "code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
        "type": "CLOUD_FAILURE",
        "parameters": {"aws_api_error_code": "InsufficientInstanceCapacity", "b": "2"},
    }
    assert termination_reason_text(reason) == (
        "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE (CLOUD_FAILURE): "
        "aws_api_error_code=InsufficientInstanceCapacity, b=2"
    )
    assert termination_reason_text(None) == ""


def _node(spot: bool) -> dict[str, object]:
    return {"node_aws_attributes": {"is_spot": spot}}


def test_summary_counts_spot_and_on_demand_workers() -> None:
    cluster = {
        "cluster_id": "c-1",
        "state": "RUNNING",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
        "driver": _node(False),
        "executors": [_node(True), _node(True)],
        "docker_image": {"url": "repo/image:1"},
    }
    summary = cluster_summary(cluster)
    assert summary["workers"] == 2
    assert summary["workers_on_spot"] == 2
    assert summary["workers_on_demand"] == 0
    assert summary["driver_on_spot"] is False
    assert summary["fell_back_to_on_demand"] is False
    assert summary["docker_image"] == "repo/image:1"
    assert "2 workers: 2 on spot, 0 on demand" in spot_report(summary)


@pytest.mark.parametrize(("workers", "said"), [(0, "0 workers"), (1, "1 worker:"), (3, "3 workers")])
def test_the_spot_report_counts_workers_in_good_english(workers: int, said: str) -> None:
    cluster = {
        "cluster_id": "c-1",
        "aws_attributes": {"availability": "SPOT"},
        "driver": _node(False),
        "executors": [_node(True)] * workers,
    }
    report = spot_report(cluster_summary(cluster))
    assert f"driver on demand, {said}" in report
    assert counted(1, "node") == "1 node" and counted(2, "node") == "2 nodes"


def test_summary_detects_fallback_from_on_demand_workers() -> None:
    cluster = {
        "cluster_id": "c-1",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
        "driver": _node(False),
        "executors": [_node(False), _node(True)],
    }
    summary = cluster_summary(cluster)
    assert summary["fell_back_to_on_demand"] is True
    assert "fell back to on-demand" in spot_report(summary)


def test_the_spec_an_event_carries_is_no_report_of_a_fallback() -> None:
    # A CREATING or EDITED event carries the cluster's spec, SPOT_WITH_FALLBACK in it: that is what was
    # asked for, not a report that spot capacity was short.
    cluster = {
        "cluster_id": "c-1",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
        "driver": _node(False),
        "executors": [_node(True)],
    }
    spec = {"aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}
    events = [
        {"type": "CREATING", "details": {"user": "u", "attributes": spec}},
        {"type": "EDITED", "details": {"attributes": spec, "previous_attributes": spec}},
        {"type": "RUNNING", "details": {"current_num_workers": 1, "target_num_workers": 1}},
    ]
    summary = cluster_summary(cluster, events)
    assert summary["fell_back_to_on_demand"] is False
    assert "fell back" not in spot_report(summary)
    # A detail that says so is still read as a fallback.
    said = {"type": "NODES_LOST", "details": {"reason": "spot instances reclaimed; fell back to on-demand"}}
    assert cluster_summary(cluster, [*events, said])["fell_back_to_on_demand"] is True


def test_on_demand_workers_asked_for_are_no_fallback() -> None:
    cluster = {
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 3},
        "driver": _node(False),
        "executors": [_node(False), _node(False), _node(True)],
    }
    assert cluster_summary(cluster)["fell_back_to_on_demand"] is False
    cluster["aws_attributes"] = {"availability": "ON_DEMAND", "first_on_demand": 1}
    assert cluster_summary(cluster)["fell_back_to_on_demand"] is False


def test_lifetime_report() -> None:
    cluster = {
        "cluster_id": "c-1",
        "state": "TERMINATED",
        "start_time": 1_000,
        "terminated_time": 61_000,
        "termination_reason": {"code": "USER_REQUEST", "type": "SUCCESS", "parameters": {"username": "me"}},
    }
    events = [
        {"timestamp": 5, "type": "RUNNING"},
        {"timestamp": 1, "type": "CREATING"},
        {"timestamp": 7, "type": "NODES_LOST", "details": {"lost_node_count": 2}},
        {"timestamp": 9, "type": "TERMINATING"},
    ]
    report = lifetime_report(cluster, events)
    assert report["uptime_seconds"] == 60
    assert report["events"] == ["CREATING", "RUNNING", "NODES_LOST", "TERMINATING"]
    assert report["nodes_lost"] == 2
    assert report["termination_reason"] == "USER_REQUEST (SUCCESS): username=me"
    text = lifetime_text(report)
    assert "uptime 60 s" in text and "nodes lost 2" in text and "USER_REQUEST" in text


def test_lifetime_report_keeps_events_of_one_millisecond_in_the_order_they_happened() -> None:
    # As clusters/events answers by default: newest first, so of two events in one millisecond the later.
    newest_first = [
        {"timestamp": 9, "type": "TERMINATING"},
        {"timestamp": 5, "type": "RUNNING"},
        {"timestamp": 5, "type": "DRIVER_HEALTHY"},
        {"timestamp": 1, "type": "CREATING"},
    ]
    expected = ["CREATING", "DRIVER_HEALTHY", "RUNNING", "TERMINATING"]
    assert lifetime_report({}, newest_first)["events"] == expected
    assert lifetime_report({}, newest_first[::-1])["events"] == expected
