"""What a good run of the example DAG ``databricks_spot_cluster_pipeline`` is, whatever runs its tasks.

``check_happy_path`` triggers the DAG through the REST API as the UI's trigger form does and checks the
run end to end; the LocalExecutor deployment (``test_spot_cluster_pipeline.py``) and the CeleryExecutor
one (``test_celery_pipeline.py``) both call it, so both topologies are held to the same account.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from local_airflow import AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator

DAG_ID = "databricks_spot_cluster_pipeline"
# What the UI's trigger form sends: numbers as numbers, the tag and node type as strings.
CONF = {"min_workers": 2, "max_workers": 4, "spot_bid_price_percent": 65, "image_tag": "2026.11.24-rc1",
        "node_type_id": "r5d.xlarge"}  # fmt: skip
DOWNSTREAM = ("transform", "aggregate")


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


def failed_run_report(airflow: AirflowDeployment, run_id: str) -> str:
    """Why a run of the DAG did not succeed, for an assertion's message: its task states, the log tails of
    each task that did not succeed (every attempt and deferral), and the errors the scheduler's executor
    logged (a task process that failed to start writes nothing to the task's own log), as CI shows nothing
    else of them."""
    states = airflow.task_states(DAG_ID, run_id)
    report = [f"task states: {states}"]
    for task_id, state in states.items():
        if state not in ("success", "upstream_failed", "skipped"):
            for name, text in airflow.task_log_files(DAG_ID, run_id, task_id).items():
                report.append(f"----- {task_id} ({state}) {name}, last lines -----\n{text[-4000:]}")
    report.append("----- the scheduler's last errors -----")
    report.extend(logged_errors(airflow.log("scheduler"))[-6:])
    return "\n".join(report)


def logged_errors(log: str) -> list[str]:
    """The error entries of a component's log, each as its first line and (for a traceback) its last three:
    the exception and the server's detail."""
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\dT)", log)
    errors = [entry.splitlines() for entry in entries if re.match(r"\S+ \[(error|critical)", entry)]
    return ["\n".join(lines[:1] + lines[1:][-3:]) for lines in errors]


def ran_in_triggerer(trigger_log: str, run_id: str, task_id: str) -> bool:
    """Whether the triggerer started a trigger for the task: its own record, whatever the trigger logs.
    (The provider's DatabricksExecutionTrigger logs nothing of its own when the run has ended by its
    first poll, as on a loaded machine it may have.)"""
    started = rf"trigger {DAG_ID}/{re.escape(run_id)}/{task_id}/-1/\d+ \(ID \d+\) starting"
    return re.search(started, trigger_log) is not None


def check_happy_path(airflow: AirflowDeployment, emulator: Emulator) -> str:
    """Trigger the DAG with ``CONF``, check the run did everything it promises; return its run id.

    The run succeeds; exactly one cluster carries its tags, built from the form's values and terminated
    by the teardown; the downstream Spark runs ran on that cluster (its id read from XCom) and
    succeeded; the create task and the downstream tasks deferred, their waits running in the triggerer;
    nothing in the workspace is left alive.
    """
    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger(DAG_ID, CONF)
    assert airflow.wait_for_run(DAG_ID, run_id) == "success", failed_run_report(airflow, run_id)

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
    # (The emulator is shared with other runs of this DAG: the runs on this run's cluster are this run's.)
    runs = [
        r
        for r in emulator.runs.all_runs()
        if r["tasks"][0].get("existing_cluster_id") == cluster["cluster_id"]
    ]
    # One Spark run per try of each downstream task: a try that the scheduler failed on a loaded machine
    # (no heartbeat for HEARTBEAT_TIMEOUT_SECONDS, or its executor's report came late) and Airflow retried
    # submits its run again.
    tries = airflow.try_numbers(DAG_ID, run_id)
    submitted = Counter(r["run_name"].split()[0] for r in runs)
    assert submitted == {task_id: tries[task_id] for task_id in DOWNSTREAM}, (
        tries,
        runs,
        {task_id: worker_and_trigger_logs(airflow, run_id, task_id)[0][-3000:] for task_id in DOWNSTREAM},
    )
    assert {r["state"]["result_state"] for r in runs} == {"SUCCESS"}
    # The create task deferred, and its wait ran in the triggerer process, not in a worker.
    logs = airflow.task_log_files(DAG_ID, run_id, "create_cluster")
    assert "Pausing task as DEFERRED" in logs["attempt=1.log"]
    trigger_logs = "".join(text for name, text in logs.items() if ".trigger." in name)
    assert "DatabricksClusterStateTrigger" in trigger_logs
    # The trigger logs the state it first sees, then each change: PENDING -> RUNNING, or just RUNNING when a
    # loaded triggerer picked the trigger up after the cluster had started.
    reached = re.compile(rf"Cluster {re.escape(cluster['cluster_id'])}: (PENDING -> )?RUNNING after \d+ s")
    assert reached.search(trigger_logs), trigger_logs[-3000:]
    # So did the downstream runs' (default_deferrable): the provider's trigger waited for each run's end.
    for task_id in DOWNSTREAM:
        worker, trigger = worker_and_trigger_logs(airflow, run_id, task_id)
        assert "Pausing task as DEFERRED" in worker, worker
        assert ran_in_triggerer(trigger, run_id, task_id), trigger
        assert "Job run completed successfully." in worker, worker
    alive = [c for c in emulator.clusters.values() if c["state"] != "TERMINATED"]
    assert not alive, [(c["cluster_id"], c["state"], c.get("custom_tags")) for c in alive]
    return run_id
