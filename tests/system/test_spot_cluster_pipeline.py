"""The example DAG in the topology it runs in for real: triggered through the REST API like the UI form.

Scheduler, triggerer, dag-processor and API server run as separate processes on a fresh PostgreSQL
database, with ``[operators] default_deferrable`` on (``conftest.py``): the create task defers to the
triggerer, and so do the downstream runs, the official provider's ``DatabricksSubmitRunOperator``, whose
``DatabricksExecutionTrigger`` polls the run with the provider's async hook. What a good run is lives in
``pipeline_checks.py``, shared with the CeleryExecutor deployment's test.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest
from local_airflow import AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator
from tests.system.pipeline_checks import (
    CONF,
    DAG_ID,
    DOWNSTREAM,
    check_happy_path,
    cluster_of_run,
    ran_in_triggerer,
    worker_and_trigger_logs,
)

pytestmark = pytest.mark.system
OOM = "java.lang.OutOfMemoryError: Java heap space"


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
    check_happy_path(airflow, emulator)


def test_a_failing_downstream_fails_the_run_and_still_terminates(
    airflow: AirflowDeployment, emulator: Emulator
) -> None:
    airflow.wait_for_dag(DAG_ID)
    # Every Spark run fails, retries included (the DAG retries a task once, here after 5 s).
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
