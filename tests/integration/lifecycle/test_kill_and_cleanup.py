"""Killing a task, and Airflow failing a deferral, leave no cluster running.

The worker-side kill calls the operator's ``on_kill`` and the triggerer calls the trigger's ``on_kill``;
both are called here directly on a real cluster of the emulator, because making a scheduler kill a task
takes a running Airflow deployment (the system tests run one).
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec, task_instance_tags
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator
from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger
from tests.integration.lifecycle.pipelines import CLUSTER


def live_cluster(tags: dict[str, str] | None = None) -> str:
    return DatabricksClustersHook().create_cluster(build_cluster_spec(**CLUSTER, tags=tags))


def test_killing_the_task_in_the_worker_terminates_its_cluster(emulator: Emulator) -> None:
    cluster_id = live_cluster()
    operator = DatabricksCreateClusterOperator(task_id="create_cluster", **CLUSTER)
    operator._cluster_id = cluster_id  # what execute() recorded right after its create call
    operator.on_kill()
    assert emulator.clusters[cluster_id]["termination_reason"]["code"] == "USER_REQUEST"


@pytest.mark.usefixtures("manual_clock")  # the other cluster is PENDING until the end, however slow
def test_a_kill_during_the_create_call_terminates_the_cluster_found_by_its_tags(emulator: Emulator) -> None:
    # The create call was sent and the workspace made the cluster, but the kill came before the id did:
    # execute() had only the task instance's tags, which it knows before the call.
    tags = task_instance_tags("adhoc", "create_cluster", "manual__kill", -1)
    cluster_id = live_cluster(tags)
    other = live_cluster(task_instance_tags("adhoc", "create_cluster", "manual__another_run", -1))
    operator = DatabricksCreateClusterOperator(task_id="create_cluster", **CLUSTER)
    operator._tags = tags  # what execute() recorded before its create call
    operator.on_kill()
    assert emulator.clusters[cluster_id]["state"] in {"TERMINATING", "TERMINATED"}
    assert emulator.clusters[other]["state"] == "PENDING"  # another task instance's cluster is left alone


def test_killing_a_deferred_task_terminates_through_the_trigger(emulator: Emulator) -> None:
    cluster_id = live_cluster()
    trigger = DatabricksClusterStateTrigger(
        cluster_id=cluster_id,
        databricks_conn_id="databricks_default",
        target_states=["RUNNING"],
        end_time=time.time() + 60,
        terminate_on_kill=True,
    )
    asyncio.run(trigger.on_kill())
    assert emulator.clusters[cluster_id]["state"] in {"TERMINATING", "TERMINATED"}


@pytest.mark.usefixtures("manual_clock")  # PENDING until the end, however slow the machine
def test_a_trigger_without_terminate_on_kill_leaves_the_cluster(emulator: Emulator) -> None:
    cluster_id = live_cluster()
    trigger = DatabricksClusterStateTrigger(
        cluster_id=cluster_id,
        databricks_conn_id="databricks_default",
        target_states=["TERMINATED"],
        end_time=0,
    )
    asyncio.run(trigger.on_kill())
    assert emulator.clusters[cluster_id]["state"] == "PENDING"


def test_trigger_serialises_every_argument_and_keeps_the_absolute_deadline() -> None:
    trigger = DatabricksClusterStateTrigger(
        cluster_id="c", databricks_conn_id="db", target_states=["RUNNING"], end_time=123.0, started_at=100.0
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_databricks_clusters.triggers.DatabricksClusterStateTrigger"
    rebuilt = DatabricksClusterStateTrigger(**kwargs)
    assert rebuilt.serialize() == (path, kwargs) and rebuilt.end_time == 123.0


def test_trigger_reports_timeout_at_its_deadline(emulator: Emulator) -> None:
    emulator.set_scenario("stuck_pending")
    cluster_id = live_cluster()
    trigger = DatabricksClusterStateTrigger(
        cluster_id=cluster_id,
        databricks_conn_id="databricks_default",
        target_states=["RUNNING"],
        end_time=time.time() + 0.5,
        polling_interval=0.1,
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "timeout" and payload["state"] == "PENDING"


def test_airflow_failing_the_deferral_terminates_the_cluster_found_by_its_tags(emulator: Emulator) -> None:
    # Airflow's own deferral timeout resumes the task with next_method "__fail__": no trigger event, so no
    # cluster id. The context here carries only what the operator reads (the run id and map index);
    # producing a real deferral timeout would take minutes of a running scheduler.
    tags = task_instance_tags("adhoc", "create_cluster", "manual__x", -1)
    cluster_id = live_cluster(tags)
    with DAG("adhoc", schedule=None):
        operator = DatabricksCreateClusterOperator(task_id="create_cluster", **CLUSTER)
    context: Any = {"ti": SimpleNamespace(map_index=-1), "run_id": "manual__x"}
    with pytest.raises(Exception, match=r"TRIGGER_TIMEOUT|Timeout"):
        operator.resume_execution("__fail__", {"error": "TRIGGER_TIMEOUT"}, context)
    assert emulator.clusters[cluster_id]["state"] in {"TERMINATING", "TERMINATED"}


def test_a_kill_while_the_cluster_is_being_ensured_terminates_it_once_the_id_is_known(
    emulator: Emulator,
) -> None:
    # The worker's on_kill ran while execute() was still in its pre-flight checks (nothing to terminate
    # yet); execute() went on and created the cluster. It must not be left running.
    with DAG("adhoc_kill", schedule=None):
        operator = DatabricksCreateClusterOperator(task_id="create_cluster", deferrable=False, **CLUSTER)
    prepare = operator._prepare

    def killed_while_preparing(spec: dict[str, Any]) -> dict[str, Any]:
        operator.on_kill()
        return prepare(spec)

    operator._prepare = killed_while_preparing  # type: ignore[method-assign]
    ti = SimpleNamespace(map_index=-1, xcom_push=lambda **kwargs: None)
    with pytest.raises(Exception, match="killed"):
        operator.execute({"ti": ti, "run_id": "manual__kill"})  # type: ignore[arg-type]
    assert [c["state"] for c in emulator.clusters.values()] in (["TERMINATING"], ["TERMINATED"])
