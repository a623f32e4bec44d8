"""The example DAG on the distributed topology teams move to: CeleryExecutor, Redis, a separate worker.

The scheduler hands each task to Celery through the machine's Redis; an ``airflow celery worker`` process
of its own runs it (``conftest.py``'s ``celery_airflow``, on its own PostgreSQL database, which is also
Celery's result backend). The run is held to the same account as the LocalExecutor one
(``pipeline_checks.check_happy_path``), and then shown to have run on the Celery worker.
"""

from __future__ import annotations

import re
import time

import pytest
import redis
from local_airflow import CELERY_WORKER, AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator
from tests.system.pipeline_checks import DAG_ID, check_happy_path

# Generous: starting a deployment and one run, on a machine whose two cores are busy; never a timing check.
pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]

# The record the Task SDK's supervisor writes in the process that ran a task instance, once it has ended.
WORKLOAD_FINISHED = re.compile(r"Workload finished .*?final_state=(\w+).*?workload_id=([0-9a-f-]{36})")


def workloads_finished(process_log: str) -> dict[str, list[str]]:
    """The task instance ids a process ran, each with the final state of every time it ran it."""
    finished: dict[str, list[str]] = {}
    for state, ti_id in WORKLOAD_FINISHED.findall(process_log):
        finished.setdefault(ti_id, []).append(state)
    return finished


def worker_records(
    deployment: AirflowDeployment, ti_ids: set[str], timeout: float = 120
) -> dict[str, list[str]]:
    """The worker's records of the task instances, once it has written each one's success.

    A task instance's state is final when its task process reports it, a moment before the supervisor
    around it logs that the workload finished: the run can be over before the last record is written.
    """
    deadline = time.monotonic() + timeout
    while True:
        ran = workloads_finished(deployment.log(CELERY_WORKER))
        last_written = all("success" in ran.get(ti_id, []) for ti_id in ti_ids)
        if last_written or time.monotonic() > deadline:
            return ran
        time.sleep(1)


def test_the_example_dag_runs_on_the_celery_worker(
    celery_airflow: AirflowDeployment, celery_emulator: Emulator
) -> None:
    run_id = check_happy_path(celery_airflow, celery_emulator)

    answer = celery_airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    instances = {ti["task_id"]: ti for ti in answer["task_instances"]}
    assert set(instances) == {"check_form", "create_cluster", "transform", "aggregate", "terminate_cluster"}
    # Every task went through the deployment's own queue, the only one its worker consumes ...
    assert {ti["queue"] for ti in instances.values()} == {celery_airflow.queue}
    # ... and the worker's process ran each task instance, to its success: the supervisor's record of it
    # is in the worker's log (a deferred task runs there twice: up to the deferral, then to its end; the
    # two records may be written in either order, as the resumed run can end before the first one's
    # supervisor has written its record).
    ran = worker_records(celery_airflow, {ti["id"] for ti in instances.values()})
    for task_id, ti in instances.items():
        records = ran.get(ti["id"], [])
        assert records.count("success") == 1, (task_id, ti["id"], ran)
        assert set(records) <= {"success", "deferred"}, (task_id, ti["id"], ran)
    # The scheduler ran none of them itself (LocalExecutor's workers would have written the same record).
    assert not set(workloads_finished(celery_airflow.log("scheduler"))) & {
        ti["id"] for ti in instances.values()
    }

    # The broker's keys are the deployment's own: prefixed, none in the namespace other Celery apps share.
    with redis.Redis.from_url(celery_airflow.broker_url) as client:
        assert list(client.scan_iter(match=f"{celery_airflow.broker_prefix}*"))
        assert not client.exists(f"_kombu.binding.{celery_airflow.queue}")
