"""The create task under the faults issue 9 reproduced: whatever the workspace answers, a DAG run ends
with at most one cluster per task instance, nothing left running, and an error that names the cause.

Each runs create -> check_running -> terminate (teardown) with dag.test(), with Airflow's default
``retries=0`` and with one retry. With no retry left a failed create task must itself terminate what it
made (a failed setup's teardown does not run); with a retry, the next try reuses that cluster.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from tests.integration.lifecycle.pipelines import (
    UNREADABLE_LOOKUPS,
    cluster_of_an_earlier_try,
    dag_id_for,
    lost_create_then_unreadable_lookup,
    only_cluster,
    run_pipeline,
    states,
)

pytestmark = pytest.mark.usefixtures("airflow_db")
RETRIES = pytest.mark.parametrize("retries", [0, 1], ids=["no-retry", "one-retry"])


def create_options(retries: int) -> dict[str, Any]:
    return {"retries": retries, "retry_delay": 0}


def ends_clean(emulator: Emulator) -> dict[str, Any]:
    """The one cluster of the run, and it is not running."""
    cluster = only_cluster(emulator)
    assert cluster["state"] in {"TERMINATING", "TERMINATED"}, cluster["state"]
    return cluster


@RETRIES
def test_a_refused_create_then_a_lost_answer(emulator: Emulator, retries: int) -> None:
    # Repro 1: a 500 (nothing made), then the resent create is made but its answer is lost.
    emulator.add_fault("status", path="clusters/create", status=500, times=1)
    emulator.add_fault("drop_after", path="clusters/create", times=1)
    dag_run = run_pipeline(
        "refused_then_lost", deferrable=False, downstream="check_running", create=create_options(retries)
    )
    assert dag_run.state == "success", states(dag_run)
    ends_clean(emulator)


@RETRIES
@pytest.mark.parametrize("lookup", UNREADABLE_LOOKUPS)
def test_a_lost_create_answer_then_a_lookup_that_cannot_be_read(
    emulator: Emulator, capfd: pytest.CaptureFixture[str], retries: int, lookup: str
) -> None:
    lost_create_then_unreadable_lookup(emulator, lookup)
    dag_run = run_pipeline(
        "lookup_unreadable", deferrable=False, downstream="check_running", create=create_options(retries)
    )
    ends_clean(emulator)
    if retries:
        assert dag_run.state == "success", states(dag_run)
    else:
        assert states(dag_run)["create_cluster"] == "failed"
        assert "clusters/list" in capfd.readouterr().out


@RETRIES
@pytest.mark.parametrize("body", ["{}", '{"cluster_id": "0123-4', "<html>Bad Gateway</html>"])
def test_an_unreadable_create_answer(emulator: Emulator, retries: int, body: str) -> None:
    # Repro 2: the workspace made the cluster and answered 200 with something that is not its id.
    emulator.add_fault("malformed", path="clusters/create", body=body, times=1)
    dag_run = run_pipeline(
        "unreadable_create", deferrable=False, downstream="check_running", create=create_options(retries)
    )
    assert dag_run.state == "success", states(dag_run)
    ends_clean(emulator)


def test_surplus_clusters_of_the_task_instance_are_terminated(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    # Repro 4: two clusters carry the task instance's tags (two workers that both died after their
    # create call); the newest live one is reused and the other one terminated.
    run_after = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
    dag_id = dag_id_for("surplus")
    older = cluster_of_an_earlier_try(dag_id, run_after, terminated=False)
    newer = cluster_of_an_earlier_try(dag_id, run_after, terminated=False)
    emulator.workspace._clusters[newer]["start_time"] += 1000  # the list's order: newer is newer
    dag_run = run_pipeline(
        "surplus", deferrable=False, downstream="check_running", run_after=run_after, dag_id=dag_id
    )
    assert dag_run.state == "success", states(dag_run)
    assert set(emulator.clusters) == {older, newer}
    assert emulator.clusters[older]["termination_reason"]["code"] == "USER_REQUEST"
    assert "Reusing cluster " + newer in capfd.readouterr().out
    assert all(c["state"] in {"TERMINATING", "TERMINATED"} for c in emulator.clusters.values())


@RETRIES
@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
@pytest.mark.parametrize("body", ["[]", "<html>oops</html>"], ids=["json-list", "html"])
def test_an_unreadable_state_fails_soon_naming_the_endpoint(
    emulator: Emulator, capfd: pytest.CaptureFixture[str], retries: int, deferrable: bool, body: str
) -> None:
    # Repro 5: clusters/get answered a JSON list (an AttributeError before) or HTML (polled as an unknown
    # state until the timeout before). Three in a row end the wait with an error naming clusters/get.
    emulator.add_fault("malformed", path="clusters/get", body=body, times=3)
    options = {**create_options(retries), "timeout": 600}
    dag_run = run_pipeline(
        "unreadable_get", deferrable=deferrable, downstream="check_running", create=options
    )
    ends_clean(emulator)
    if retries:
        assert dag_run.state == "success", states(dag_run)
    else:
        assert states(dag_run)["create_cluster"] == "failed"
        out = capfd.readouterr().out
        assert "could not read its state" in out and "clusters/get" in out


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_one_unreadable_state_does_not_kill_a_healthy_cluster(emulator: Emulator, deferrable: bool) -> None:
    emulator.add_fault("malformed", path="clusters/get", body="<html>proxy hiccup</html>", times=1)
    dag_run = run_pipeline("one_bad_get", deferrable=deferrable, downstream="check_running")
    assert dag_run.state == "success", states(dag_run)
    ends_clean(emulator)


def test_a_templated_sensor_target_is_read_when_the_task_runs(emulator: Emulator) -> None:
    # Repro 6: the sensor checked target_states in __init__, so a Jinja value broke the DAG file.
    sensor = {"target_states": "{{ 'RUN' ~ 'NING' }}"}
    dag_run = run_pipeline("templated_sensor", deferrable=False, downstream="check_running", sensor=sensor)
    assert dag_run.state == "success", states(dag_run)


class _TaskInstance:
    def xcom_push(self, key: str, value: Any) -> None:
        pass


@pytest.fixture
def slow_termination(monkeypatch: pytest.MonkeyPatch) -> Any:
    # A stopped clock: the cluster stays TERMINATING until it is deleted, however slow the machine.
    with Emulator(start_seconds=0.3, terminate_seconds=60, time_scale=0) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        yield emu


def delete_once_terminating(cluster_id: str) -> threading.Thread:
    """Permanently delete the cluster once it is TERMINATING: it disappears mid-wait."""

    def act() -> None:
        hook, deadline = DatabricksClustersHook(), time.monotonic() + 60
        while hook.get_cluster(cluster_id)["state"] != "TERMINATING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        hook.permanent_delete_cluster(cluster_id)

    thread = threading.Thread(target=act)
    thread.start()
    return thread


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_a_teardown_whose_cluster_disappears_mid_wait_succeeds(
    slow_termination: Emulator, deferrable: bool
) -> None:
    # Repro 6: the deferred teardown treated a vanished cluster as done, the sync one failed.
    from airflow_databricks_clusters.operators import DatabricksTerminateClusterOperator

    hook = DatabricksClustersHook()
    cluster_id = hook.create_cluster(
        {
            "cluster_name": "t",
            "spark_version": "15.4.x-scala2.12",
            "node_type_id": "i3.xlarge",
            "num_workers": 1,
        }
    )
    operator = DatabricksTerminateClusterOperator(
        task_id="terminate", cluster_id=cluster_id, deferrable=deferrable, polling_interval=0.1, timeout=60
    )
    deleter = delete_once_terminating(cluster_id)
    context: Any = {"ti": _TaskInstance()}
    if deferrable:
        import asyncio

        from airflow.sdk.exceptions import TaskDeferred

        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(context)

        async def first_event() -> Any:
            async for event in deferred.value.trigger.run():
                return event.payload

        result = operator.execute_complete(context, asyncio.run(first_event()))
    else:
        result = operator.execute(context)
    deleter.join()
    assert result is None
    assert cluster_id not in slow_termination.clusters
