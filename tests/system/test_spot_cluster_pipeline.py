"""The example DAG in the topology it runs in for real: triggered through the REST API like the UI form.

Scheduler, triggerer, dag-processor and API server run as separate processes on a fresh PostgreSQL
database, with ``[operators] default_deferrable`` on (``conftest.py``): the create task defers to the
triggerer, and so do the downstream runs, the official provider's ``DatabricksSubmitRunOperator``, whose
``DatabricksExecutionTrigger`` polls the run with the provider's async hook.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest
from local_airflow import AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator

pytestmark = pytest.mark.system
DAG_ID = "databricks_spot_cluster_pipeline"
# What the UI's trigger form sends: numbers as numbers, the tag and node type as strings.
CONF = {"min_workers": 2, "max_workers": 4, "spot_bid_price_percent": 65, "image_tag": "2026.11.24-rc1",
        "node_type_id": "r5d.xlarge"}  # fmt: skip
DOWNSTREAM = ("transform", "aggregate")
OOM = "java.lang.OutOfMemoryError: Java heap space"


def cluster_of_run(emulator: Emulator, run_id: str) -> dict[str, Any]:
    clusters = [c for c in emulator.clusters.values() if c["custom_tags"].get("airflow_run_id") == run_id]
    assert len(clusters) == 1, clusters
    return clusters[0]


def worker_and_trigger_logs(airflow: AirflowDeployment, run_id: str, task_id: str) -> tuple[str, str]:
    """A task's worker logs (every attempt) and its triggerer logs (every deferral), each joined."""
    logs = airflow.task_log_files(DAG_ID, run_id, task_id)
    worker = "".join(text for name, text in logs.items() if ".trigger." not in name)
    trigger = "".join(text for name, text in logs.items() if ".trigger." in name)
    return worker, trigger


def ran_in_triggerer(trigger_log: str, run_id: str, task_id: str) -> bool:
    """Whether the triggerer started a trigger for the task: its own record, whatever the trigger logs.
    (The provider's DatabricksExecutionTrigger logs nothing of its own when the run has ended by its
    first poll, as on a loaded machine it may have.)"""
    started = rf"trigger {DAG_ID}/{re.escape(run_id)}/{task_id}/-1/\d+ \(ID \d+\) starting"
    return re.search(started, trigger_log) is not None


def failed_tasks_errors(worker_log: str) -> list[dict[str, Any]]:
    """The failed Spark tasks' errors the provider's failures name, from every ``Task failed`` record:
    ``DatabricksSubmitRunOperator`` ends its message with the list of them (each task's key, run id and
    error, as it read them from that task run's output)."""
    errors: list[dict[str, Any]] = []
    for line in worker_log.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for detail in record.get("error_detail") or ():
            found = re.search(r"and with the errors (\[.*\])$", detail.get("exc_value", ""))
            errors += ast.literal_eval(found.group(1)) if found else []
    return errors


def task_run_ids(emulator: Emulator, task_id: str, cluster_id: str) -> set[int]:
    """The Databricks run ids of the Spark tasks an Airflow task submitted to the cluster (each attempt's)."""
    runs = [r for r in emulator.runs.all_runs() if r["run_name"].startswith(f"{task_id} ")]
    return {t["run_id"] for r in runs for t in r["tasks"] if t["existing_cluster_id"] == cluster_id}


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
    # So did the downstream runs' (default_deferrable): the provider's trigger waited for each run's end.
    for task_id in DOWNSTREAM:
        worker, trigger = worker_and_trigger_logs(airflow, run_id, task_id)
        assert "Pausing task as DEFERRED" in worker, worker
        assert ran_in_triggerer(trigger, run_id, task_id), trigger
        assert "Job run completed successfully." in worker, worker
    assert not [c for c in emulator.clusters.values() if c["state"] not in ("TERMINATED",)]


def test_a_failing_downstream_fails_the_run_and_still_terminates(
    airflow: AirflowDeployment, emulator: Emulator
) -> None:
    airflow.wait_for_dag(DAG_ID)
    # Every Spark run fails, retries included (the DAG retries a task once, after a minute).
    emulator.set_scenario("run_failure", message=OOM)
    try:
        run_id = airflow.trigger(DAG_ID, {**CONF, "min_workers": 1, "max_workers": 2})
        assert airflow.wait_for_run(DAG_ID, run_id, timeout=300) == "failed"
    finally:
        emulator.clear_scenarios()
    states = airflow.task_states(DAG_ID, run_id)
    assert states["terminate_cluster"] == "success"
    assert states["create_cluster"] == "success"
    assert states["transform"] == states["aggregate"] == "failed"
    cluster = cluster_of_run(emulator, run_id)
    assert cluster["state"] == "TERMINATED"
    # Each downstream task deferred, and failed with the Spark task's own error, which the provider read
    # from that task run's output (by the task's run id, which the failure names).
    for task_id in DOWNSTREAM:
        worker, trigger = worker_and_trigger_logs(airflow, run_id, task_id)
        assert "Pausing task as DEFERRED" in worker, worker
        assert ran_in_triggerer(trigger, run_id, task_id), trigger
        assert OOM in worker, worker
        errors = failed_tasks_errors(worker)
        assert errors, worker
        task_runs = task_run_ids(emulator, task_id, cluster["cluster_id"])
        assert {e["run_id"] for e in errors} <= task_runs, (errors, task_runs)
        assert {e["error"] for e in errors} == {OOM}, errors
