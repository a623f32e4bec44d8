"""What the Clusters page makes of a workspace's cluster list (``fleet.rows``)."""

from __future__ import annotations

from typing import Any

from airflow_databricks_clusters.fleet.rows import fleet_rows, task_instances, with_task_states
from airflow_databricks_clusters.fleet.sweep_policy import Lookup, RunStatus, TaskInstanceRef

OWNER = "airflow@example.com"
URL = "https://ws.example.com/#setting/clusters/{cluster_id}/configuration"
NOW = 1_800_000_000.0


def cluster(cluster_id: str, state: str = "RUNNING", run_id: str = "r1", **extra: Any) -> dict[str, Any]:
    return {
        "cluster_id": cluster_id,
        "cluster_name": f"name-{cluster_id}",
        "state": state,
        "creator_user_name": OWNER,
        "start_time": int((NOW - 600) * 1000),
        "custom_tags": {
            "airflow_dag_id": "etl",
            "airflow_task_id": "create",
            "airflow_run_id": run_id,
            "airflow_map_index": "-1",
        },
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
        **extra,
    }


def rows(clusters: list[dict[str, Any]], lookups: Any = None) -> list[Any]:
    return fleet_rows("conn", clusters, owner=OWNER, lookups=lookups or {}, now=NOW, cluster_url=URL)


def test_only_the_plugins_clusters_of_the_connections_user_are_rows() -> None:
    mine = cluster("a")
    untagged = {**cluster("b"), "custom_tags": {"team": "x"}}
    someone_elses = {**cluster("c"), "creator_user_name": "person@example.com"}
    assert [row.cluster_id for row in rows([mine, untagged, someone_elses])] == ["a"]
    assert task_instances([mine, untagged, mine], OWNER) == [TaskInstanceRef("etl", "create", "r1", -1)]


def test_a_live_rows_workers_uptime_and_link() -> None:
    spot = {"node_aws_attributes": {"is_spot": True}}
    on_demand = {"node_aws_attributes": {"is_spot": False}}
    (row,) = rows([cluster("a", executors=[spot, spot, on_demand], driver=on_demand)])
    assert (row.workers_on_spot, row.workers_on_demand, row.fell_back) == (2, 1, True)
    assert row.uptime_seconds == 600
    assert row.url == "https://ws.example.com/#setting/clusters/a/configuration"
    assert row.started_at == NOW - 600
    assert row.as_json(can_terminate=True)["can_terminate"] is True


def test_an_ended_rows_uptime_stops_at_its_termination_and_it_cannot_be_terminated() -> None:
    ended = cluster(
        "a",
        "TERMINATED",
        terminated_time=int((NOW - 300) * 1000),
        termination_reason={"code": "USER_REQUEST", "type": "SUCCESS"},
    )
    (row,) = rows([ended])
    assert row.uptime_seconds == 300
    assert row.workers_on_spot is None and row.fell_back is None
    assert row.termination_reason == "USER_REQUEST (SUCCESS)"
    assert row.as_json(can_terminate=True)["can_terminate"] is False


def test_orphaned_is_the_sweeps_verdict_without_its_age_floor() -> None:
    ref = TaskInstanceRef("etl", "create", "r1", -1)
    young = cluster("a", start_time=int((NOW - 5) * 1000))
    (failed,) = rows([young], {ref: Lookup.of_task("failed", RunStatus.FINISHED)})
    assert failed.orphaned and failed.task_state == "failed"
    (in_use,) = rows([young], {ref: Lookup.of_task("success", RunStatus.ACTIVE)})
    assert not in_use.orphaned
    (unknown,) = rows([young])
    assert not unknown.orphaned and unknown.task_state is None
    (ended,) = rows([{**young, "state": "TERMINATED"}], {ref: Lookup.of_task("failed", RunStatus.FINISHED)})
    assert not ended.orphaned


def test_an_ended_rows_task_state_is_filled_in_for_the_page_it_is_shown_on() -> None:
    ref = TaskInstanceRef("etl", "create", "r1", -1)
    ended = rows([cluster("a", "TERMINATED")])
    (row,) = with_task_states(ended, {ref: Lookup.of_task("success", RunStatus.FINISHED)})
    assert row.task_state == "success" and not row.orphaned
    assert with_task_states(ended, {}) == ended


def test_a_row_says_which_capacity_fallback_alternative_its_cluster_runs_on() -> None:
    on_own_spec = cluster("a")
    moved = cluster("b", run_id="r2")
    moved["custom_tags"] = {**moved["custom_tags"], "airflow_capacity_fallback": "1"}
    by_id = {row.cluster_id: row for row in rows([on_own_spec, moved])}
    assert by_id["a"].capacity_fallback is None
    assert by_id["b"].capacity_fallback == 1
    assert by_id["b"].as_json(can_terminate=False)["capacity_fallback"] == 1


def test_a_secret_in_a_termination_reason_never_reaches_the_browser() -> None:
    reason = {
        "code": "INIT_SCRIPT_FAILURE",
        "type": "CLIENT_ERROR",
        "parameters": {"db_password": "hunter22"},
    }
    (row,) = rows([cluster("a", "TERMINATED", termination_reason=reason)])
    shown = row.as_json(can_terminate=False)["termination_reason"]
    assert shown.startswith("INIT_SCRIPT_FAILURE (CLIENT_ERROR)") and "hunter22" not in shown
