"""Saved jobs through real clients, unchanged: the official provider's ``DatabricksCreateJobsOperator`` and
``DatabricksRunNowOperator`` (blocking and deferred), databricks-sdk's ``w.jobs``, and the legacy
databricks-cli 0.18's ``jobs`` and ``runs`` commands (Jobs 2.0, its default, and 2.1).

The emulator's clock is stopped: a run moves only when a test advances it, or, for the blocking operator
(which polls in the test's own thread), when a read of the run fast-forwards the clock to its end.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.exceptions import TaskDeferred
from airflow.providers.databricks.operators.databricks import (
    DatabricksCreateJobsOperator,
    DatabricksRunNowOperator,
)
from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import ResourceDoesNotExist
from databricks.sdk.service.compute import ClusterSpec
from databricks.sdk.service.jobs import (
    JobCluster,
    JobSettings,
    RunLifeCycleState,
    RunType,
    SparkPythonTask,
    Task,
)

from airflow_databricks_clusters.emulator import Emulator
from tests.conformance.conftest import Api
from tests.conformance.test_legacy_cli import LegacyCli, cli, emu80  # noqa: F401 (fixtures)
from tests.conformance.test_official_provider import run_trigger, start_emulator

RUNTIME = "15.4.x-scala2.12"
WITHIN = 60.0
STEP = 0.05


def python_task(cluster_id: str, key: str = "etl") -> dict[str, Any]:
    return {
        "task_key": key,
        "existing_cluster_id": cluster_id,
        "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"},
    }


def running_cluster(api: Api) -> str:
    cluster = api.create()
    api.wait_for(cluster, "RUNNING")
    return cluster


def wait_run(api: Api, run_id: int) -> dict[str, Any]:
    """Advance emulated time until the run ends; the run as ``runs/get`` answers it."""
    # A fresh connection: the server closes an idle one after a few seconds, and the CLI's subprocesses
    # may have taken that long on a busy machine since the last call.
    api.session.close()
    waited = 0.0
    while True:
        status, run = api.call("GET", "/api/2.2/jobs/runs/get", run_id=run_id)
        assert status == 200, run
        if run["state"]["life_cycle_state"] in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED"):
            return dict(run)
        assert waited < WITHIN, run["state"]
        api.emu.advance(STEP)
        waited += STEP


# -- the official provider --------------------------------------------------------------------------------


@pytest.fixture
def provider_emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A stopped-clock workspace on ``databricks_default``."""
    emulator = start_emulator()
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
    yield emulator
    emulator.stop()


def create_operator(cluster_id: str, **settings: Any) -> DatabricksCreateJobsOperator:
    return DatabricksCreateJobsOperator(
        task_id="define",
        name="provider-job",
        tasks=[python_task(cluster_id)],
        max_concurrent_runs=2,
        databricks_retry_delay=1,
        **settings,
    )


def run_now_operator(job_id: int, **options: Any) -> DatabricksRunNowOperator:
    return DatabricksRunNowOperator(
        task_id="run",
        job_id=job_id,
        polling_period_seconds=0,
        databricks_retry_delay=1,
        do_xcom_push=False,
        **options,
    )


def test_create_jobs_operator_creates_then_resets_the_same_job(provider_emu: Emulator) -> None:
    api = Api(provider_emu)
    job_id = create_operator("0101-000000-abcdefgh").execute(context=None)  # type: ignore[arg-type]
    second = create_operator("0101-000000-abcdefgh", tags={"run": "second"})
    assert second.execute(context=None) == job_id  # type: ignore[arg-type]
    status, job = api.call("GET", "/api/2.2/jobs/get", job_id=job_id)
    assert status == 200, job
    # The provider sends every number as a string; the workspace reads them as numbers.
    assert job["settings"]["max_concurrent_runs"] == 2 and job["settings"]["tags"] == {"run": "second"}
    assert [r["path"] for r in provider_emu.request_log].count("/api/2.2/jobs/reset") == 1


def test_run_now_operator_blocking_by_job_name(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(fast_forward=True)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
        api = Api(emulator)
        job_id = create_operator(running_cluster(api)).execute(context=None)  # type: ignore[arg-type]
        operator = DatabricksRunNowOperator(
            task_id="run",
            job_name="provider-job",
            python_params=["--day", "2026-12-07"],
            polling_period_seconds=0,
            databricks_retry_delay=1,
            do_xcom_push=False,
            durable=False,
        )
        operator.execute(context=None)  # type: ignore[arg-type]
        [run] = [r for r in emulator.runs.all_runs() if r["run_type"] == "JOB_RUN"]
        assert run["job_id"] == job_id and run["state"]["result_state"] == "SUCCESS"
        assert run["tasks"][0]["spark_python_task"]["parameters"] == ["--day", "2026-12-07"]
    finally:
        emulator.stop()


def test_run_now_operator_deferred(provider_emu: Emulator) -> None:
    api = Api(provider_emu)
    job_id = create_operator(running_cluster(api)).execute(context=None)  # type: ignore[arg-type]
    operator = run_now_operator(job_id, deferrable=True, job_parameters={"day": "2026-12-07"})
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context=None)  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, DatabricksExecutionTrigger)
    event = asyncio.run(run_trigger(trigger, provider_emu))
    operator.execute_complete(context=None, event=event)  # type: ignore[arg-type]
    status, run = api.call("GET", "/api/2.2/jobs/runs/get", run_id=trigger.run_id)
    assert status == 200 and run["job_id"] == job_id and run["state"]["result_state"] == "SUCCESS"
    assert {"name": "day", "value": "2026-12-07"} in run["job_parameters"]


# -- databricks-sdk ---------------------------------------------------------------------------------------


@pytest.fixture
def sdk(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> WorkspaceClient:
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    return WorkspaceClient(host=emu.url, token=emu.token, auth_type="pat")


def test_sdk_jobs_create_get_list_reset_update_run_now_delete(
    sdk: WorkspaceClient, emu: Emulator, api: Api
) -> None:
    cluster_id = running_cluster(api)
    task = Task(
        task_key="etl", existing_cluster_id=cluster_id, spark_python_task=SparkPythonTask(python_file="a.py")
    )
    on_job_cluster = Task(
        task_key="report",
        job_cluster_key="small",
        spark_python_task=SparkPythonTask(python_file="b.py"),
    )
    small = JobCluster(
        job_cluster_key="small",
        new_cluster=ClusterSpec(spark_version=RUNTIME, node_type_id="i3.xlarge", num_workers=1),
    )
    created = sdk.jobs.create(name="sdk-job", tasks=[task, on_job_cluster], job_clusters=[small])
    assert created.job_id is not None
    job = sdk.jobs.get(created.job_id)
    assert job.settings is not None and job.settings.name == "sdk-job" and job.settings.tasks is not None
    assert [t.task_key for t in job.settings.tasks] == ["etl", "report"]
    for _ in range(3):
        sdk.jobs.create(name="sdk-other", tasks=[task])
    # The iterator follows next_page_token across pages of one.
    assert [j.job_id for j in sdk.jobs.list(limit=1)][-1] == created.job_id
    assert [j.job_id for j in sdk.jobs.list(name="SDK-JOB", expand_tasks=True)] == [created.job_id]

    sdk.jobs.reset(
        created.job_id, new_settings=JobSettings(name="sdk-job", tasks=[task], max_concurrent_runs=1)
    )
    sdk.jobs.update(created.job_id, new_settings=JobSettings(tags={"owner": "sdk"}))
    settings = sdk.jobs.get(created.job_id).settings
    assert settings is not None and settings.tags == {"owner": "sdk"} and settings.tasks is not None
    assert len(settings.tasks) == 1

    waiter = sdk.jobs.run_now(created.job_id, python_params=["x"])
    run = wait_run(api, waiter.run_id)
    read = sdk.jobs.get_run(waiter.run_id)
    assert read.run_type == RunType.JOB_RUN and read.job_id == created.job_id
    assert read.state is not None and read.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run["number_in_job"] == waiter.run_id
    assert [r.run_id for r in sdk.jobs.list_runs(job_id=created.job_id)] == [waiter.run_id]

    sdk.jobs.delete_run(waiter.run_id)
    assert list(sdk.jobs.list_runs(job_id=created.job_id)) == []
    sdk.jobs.delete(created.job_id)
    with pytest.raises(ResourceDoesNotExist, match=f"Job {created.job_id} does not exist"):
        sdk.jobs.get(created.job_id)


# -- the legacy databricks-cli 0.18 -----------------------------------------------------------------------


def test_legacy_cli_jobs_and_runs(cli: LegacyCli, emu80: Emulator) -> None:  # noqa: F811
    api = Api(emu80)
    cluster_id = running_cluster(api)
    # Jobs 2.0, the CLI's default: the single-task form.
    legacy = {"name": "cli-job", "existing_cluster_id": cluster_id, "notebook_task": {"notebook_path": "/n"}}
    job_id = cli.json("jobs", "create", "--json", json.dumps(legacy))["job_id"]
    assert cli.json("jobs", "get", "--job-id", str(job_id))["settings"]["notebook_task"] == {
        "notebook_path": "/n"
    }
    assert f"{job_id}  cli-job" in cli.ok("jobs", "list")
    started = cli.json("jobs", "run-now", "--job-id", str(job_id), "--notebook-params", '{"day": "1"}')
    run = wait_run(api, started["run_id"])
    assert run["state"]["result_state"] == "SUCCESS" and run["run_type"] == "JOB_RUN"
    assert run["tasks"][0]["notebook_task"]["base_parameters"] == {"day": "1"}
    listed = cli.json("runs", "list", "--job-id", str(job_id), "--output", "JSON")
    assert [r["run_id"] for r in listed["runs"]] == [started["run_id"]]
    # Jobs 2.1: reset to tasks, list by name.
    new = {"name": "cli-job", "tasks": [python_task(cluster_id)]}
    cli.ok("jobs", "reset", "--version=2.1", "--job-id", str(job_id), "--json", json.dumps(new))
    found = cli.json(
        "jobs", "list", "--version=2.1", "--name", "cli-job", "--expand-tasks", "--output", "JSON"
    )
    assert [j["settings"]["tasks"][0]["task_key"] for j in found["jobs"]] == ["etl"]
    cli.ok("jobs", "delete", "--job-id", str(job_id))
    assert Api(emu80).call("GET", "/api/2.1/jobs/get", job_id=job_id)[0] == 400
