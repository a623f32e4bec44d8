"""The example DAG in the topology it runs in for real: triggered through the REST API like the UI form.

Scheduler, triggerer, dag-processor and API server run as separate processes on a fresh PostgreSQL
database; the create task defers to the triggerer; the downstream runs are the official provider's.
"""

from __future__ import annotations

from typing import Any

import pytest
from local_airflow import AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator

pytestmark = pytest.mark.system
DAG_ID = "databricks_spot_cluster_pipeline"
# What the UI's trigger form sends: numbers as numbers, the tag and node type as strings.
CONF = {"min_workers": 2, "max_workers": 4, "spot_bid_price_percent": 65, "image_tag": "2026.11.24-rc1",
        "node_type_id": "r5d.xlarge"}  # fmt: skip


def cluster_of_run(emulator: Emulator, run_id: str) -> dict[str, Any]:
    clusters = [c for c in emulator.clusters.values() if c["custom_tags"].get("airflow_run_id") == run_id]
    assert len(clusters) == 1, clusters
    return clusters[0]


def test_triggered_run_uses_its_cluster_and_terminates_it(
    airflow: AirflowDeployment, emulator: Emulator
) -> None:
    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger(DAG_ID, CONF)
    assert airflow.wait_for_run(DAG_ID, run_id) == "success", airflow.task_states(DAG_ID, run_id)

    cluster = cluster_of_run(emulator, run_id)
    assert cluster["state"] == "TERMINATED"
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"
    # The trigger form's parameters reached the cluster.
    assert cluster["autoscale"] == {"min_workers": 2, "max_workers": 4}
    assert cluster["aws_attributes"]["spot_bid_price_percent"] == 65
    assert cluster["docker_image"]["url"].endswith("/dataengineeringe2e:2026.11.24-rc1")
    assert cluster["node_type_id"] == "r5d.xlarge"
    # The downstream runs ran on that cluster, whose id they read from XCom.
    assert airflow.xcom(DAG_ID, run_id, "create_cluster") == cluster["cluster_id"]
    runs = [r for r in emulator.runs.all_runs() if r["run_name"].startswith(("transform", "aggregate"))]
    assert {r["tasks"][0]["existing_cluster_id"] for r in runs} == {cluster["cluster_id"]}
    assert {r["state"]["result_state"] for r in runs} == {"SUCCESS"}
    # The create task deferred, and its wait ran in the triggerer process, not in a worker.
    logs = airflow.task_log_files(DAG_ID, run_id, "create_cluster")
    assert "Pausing task as DEFERRED" in logs["attempt=1.log"]
    trigger_logs = "".join(text for name, text in logs.items() if ".trigger." in name)
    assert "DatabricksClusterStateTrigger" in trigger_logs
    assert f"Cluster {cluster['cluster_id']}: PENDING -> RUNNING" in trigger_logs
    assert not [c for c in emulator.clusters.values() if c["state"] not in ("TERMINATED",)]


def test_a_failing_downstream_fails_the_run_and_still_terminates(
    airflow: AirflowDeployment, emulator: Emulator
) -> None:
    airflow.wait_for_dag(DAG_ID)
    # Every Spark run fails, retries included (the DAG retries a task once, after a minute).
    emulator.set_scenario("run_failure", message="java.lang.OutOfMemoryError: Java heap space")
    try:
        run_id = airflow.trigger(DAG_ID, {**CONF, "min_workers": 1, "max_workers": 2})
        assert airflow.wait_for_run(DAG_ID, run_id, timeout=300) == "failed"
    finally:
        emulator.clear_scenarios()
    states = airflow.task_states(DAG_ID, run_id)
    assert states["terminate_cluster"] == "success"
    assert states["create_cluster"] == "success"
    assert states["transform"] == states["aggregate"] == "failed"
    assert cluster_of_run(emulator, run_id)["state"] == "TERMINATED"
