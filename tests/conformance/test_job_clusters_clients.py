"""One-time runs on job clusters through clients nobody here wrote, unchanged: the official provider's
``DatabricksSubmitRunOperator(new_cluster=...)`` (blocking and deferrable), its ``json={"tasks": [...],
"job_clusters": [...]}`` form, and databricks-sdk's ``w.jobs.submit`` with a ``new_cluster``.

Stopped clock throughout: the deferrable operator's trigger runs while the test moves emulated time
(``run_trigger``); the blocking operator and the SDK poll in the test's own thread, so their workspace
fast-forwards (a read of the run first moves the clock until the run rests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from airflow.exceptions import TaskDeferred
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.compute import ClusterSource, ClusterSpec, State, TerminationReasonCode
from databricks.sdk.service.jobs import RunResultState, SparkPythonTask, SubmitTask

from airflow_databricks_clusters.emulator import Emulator
from tests.conformance.test_official_provider import run_trigger

NEW_CLUSTER: dict[str, Any] = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 1,
}
PYTHON_TASK = {"python_file": "dbfs:/jobs/transform.py"}
OOM = "java.lang.OutOfMemoryError: Java heap space"


@pytest.fixture
def connected(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """``emu``, the provider's ``databricks_default`` connection pointing at it."""
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
    return emu


@pytest.fixture
def fast(connected: Emulator) -> Iterator[Emulator]:
    """``connected``, fast-forwarding: for a client that polls in the test's own thread."""
    connected.fast_forward = True
    yield connected


def operator(**options: Any) -> DatabricksSubmitRunOperator:
    return DatabricksSubmitRunOperator(
        task_id="transform",
        run_name="transform",
        polling_period_seconds=0,
        databricks_retry_delay=1,
        do_xcom_push=False,
        durable=False,  # no task instance here to keep the run id in
        **options,
    )


def job_cluster_of(emu: Emulator) -> dict[str, Any]:
    """The one job cluster the workspace holds."""
    [cluster] = [c for c in emu.workspace.all_clusters() if c["cluster_source"] == "JOB"]
    return cluster


def test_blocking_operator_with_new_cluster_succeeds_and_its_cluster_ends(fast: Emulator) -> None:
    operator(new_cluster=NEW_CLUSTER, spark_python_task=PYTHON_TASK).execute(context=None)  # type: ignore[arg-type]
    [run] = fast.runs.all_runs()
    assert run["state"]["result_state"] == "SUCCESS"
    cluster = job_cluster_of(fast)
    assert run["tasks"][0]["cluster_instance"]["cluster_id"] == cluster["cluster_id"]
    assert run["tasks"][0]["new_cluster"] == NEW_CLUSTER
    assert cluster["termination_reason"]["code"] == "JOB_FINISHED"


def test_blocking_operator_fails_with_the_tasks_error_on_a_job_cluster(fast: Emulator) -> None:
    fast.set_scenario("run_failure", times=1, message=OOM)
    with pytest.raises(AirflowException, match="OutOfMemoryError: Java heap space"):
        operator(new_cluster=NEW_CLUSTER, spark_python_task=PYTHON_TASK).execute(context=None)  # type: ignore[arg-type]


def test_deferrable_operator_with_new_cluster_fires_on_success(connected: Emulator) -> None:
    submit = operator(new_cluster=NEW_CLUSTER, spark_python_task=PYTHON_TASK, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        submit.execute(context=None)  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, DatabricksExecutionTrigger)
    event = asyncio.run(run_trigger(trigger, connected))
    assert event["errors"] == []
    submit.execute_complete(context=None, event=event)  # type: ignore[arg-type]
    assert connected.runs.all_runs()[0]["state"]["result_state"] == "SUCCESS"


def test_json_form_with_job_clusters_runs_each_task_on_its_cluster(connected: Emulator) -> None:
    body = {
        "job_clusters": [
            {"job_cluster_key": "etl", "new_cluster": NEW_CLUSTER},
            {"job_cluster_key": "ml", "new_cluster": {**NEW_CLUSTER, "num_workers": 2}},
        ],
        "tasks": [
            {"task_key": "extract", "job_cluster_key": "etl", "spark_python_task": PYTHON_TASK},
            {
                "task_key": "load",
                "job_cluster_key": "etl",
                "depends_on": [{"task_key": "extract"}],
                "spark_python_task": PYTHON_TASK,
            },
            {"task_key": "train", "job_cluster_key": "ml", "spark_python_task": PYTHON_TASK},
        ],
    }
    submit = operator(json=body, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        submit.execute(context=None)  # type: ignore[arg-type]
    event = asyncio.run(run_trigger(deferred.value.trigger, connected))
    assert event["errors"] == []
    tasks = DatabricksHook().get_run_tasks(event["run_id"])
    clusters = [t["cluster_instance"]["cluster_id"] for t in tasks]
    assert clusters[0] == clusters[1] != clusters[2]
    assert [t["state"]["result_state"] for t in tasks] == ["SUCCESS"] * 3


def test_a_bad_job_cluster_key_fails_the_operator_naming_it(connected: Emulator) -> None:
    body = {
        "job_clusters": [{"job_cluster_key": "etl", "new_cluster": NEW_CLUSTER}],
        "tasks": [{"task_key": "t", "job_cluster_key": "typo", "spark_python_task": PYTHON_TASK}],
    }
    with pytest.raises(AirflowException, match="job_cluster_key 'typo'"):
        operator(json=body).execute(context=None)  # type: ignore[arg-type]
    assert connected.workspace.cluster_count() == 0


def test_sdk_submit_with_new_cluster(emu: Emulator) -> None:
    # databricks-sdk's submit (generated from the current API spec) has no job_clusters: each task its own.
    emu.fast_forward = True
    w = WorkspaceClient(host=emu.url, token=emu.token, auth_type="pat")
    spec = ClusterSpec(spark_version=NEW_CLUSTER["spark_version"], node_type_id="i3.xlarge", num_workers=1)
    python = SparkPythonTask(python_file=PYTHON_TASK["python_file"])
    run = w.jobs.submit(
        run_name="sdk",
        tasks=[
            SubmitTask(task_key="first", new_cluster=spec, spark_python_task=python),
            SubmitTask(task_key="second", new_cluster=spec, spark_python_task=python),
        ],
    ).result(timeout=timedelta(seconds=120))  # the SDK's own wait: it sees the end at its first look
    assert run.state is not None and run.state.result_state == RunResultState.SUCCESS
    clusters = set()
    for task in run.tasks or []:
        assert task.cluster_instance is not None and task.cluster_instance.cluster_id
        assert task.new_cluster is not None and task.new_cluster.num_workers == 1
        cluster = w.clusters.get(task.cluster_instance.cluster_id)  # fast-forwarded through TERMINATING
        assert cluster.cluster_source == ClusterSource.JOB and cluster.state == State.TERMINATED
        assert cluster.termination_reason is not None
        assert cluster.termination_reason.code == TerminationReasonCode.JOB_FINISHED
        clusters.add(cluster.cluster_id)
    assert len(clusters) == 2
