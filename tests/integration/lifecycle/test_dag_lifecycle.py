"""Real DAGs run with dag.test() against the emulator: create -> use the cluster -> terminate as teardown."""

from __future__ import annotations

from datetime import datetime, timezone
from importlib.util import find_spec
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.lifecycle.pipelines import (
    CLUSTER,
    cluster_of_an_earlier_try,
    dag_id_for,
    only_cluster,
    run_pipeline,
    states,
    xcom,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_create_use_terminate(emulator: Emulator, deferrable: bool) -> None:
    dag_run = run_pipeline("happy", deferrable=deferrable, downstream="check_running")
    assert dag_run.state == "success", states(dag_run)
    cluster = only_cluster(emulator)
    assert cluster["state"] == "TERMINATED"
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"
    tags = cluster["custom_tags"]
    assert tags["airflow_task_id"] == "create_cluster"
    assert tags["airflow_dag_id"].startswith("happy_")


def test_official_submit_run_operator_uses_the_cluster(emulator: Emulator) -> None:
    dag_run = run_pipeline("submit", deferrable=True, downstream="submit_run")
    assert dag_run.state == "success", states(dag_run)
    cluster = only_cluster(emulator)
    assert cluster["state"] == "TERMINATED"
    runs = emulator.runs.all_runs()
    assert [r["tasks"][0]["existing_cluster_id"] for r in runs] == [cluster["cluster_id"]]
    assert runs[0]["state"]["result_state"] == "SUCCESS"


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_downstream_failure_still_terminates_and_fails_the_run(emulator: Emulator, deferrable: bool) -> None:
    dag_run = run_pipeline("downstream_fails", deferrable=deferrable, downstream="fail_downstream")
    assert dag_run.state == "failed"
    assert states(dag_run)["terminate_cluster"] == "success"
    assert only_cluster(emulator)["state"] == "TERMINATED"


@pytest.mark.parametrize(
    ("scenario", "code", "extra"),
    [
        ("spot_capacity_failure", "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", {"availability": "SPOT"}),
        ("docker_image_pull_failure", "DOCKER_IMAGE_PULL_FAILURE", {}),
        ("init_script_failure", "INIT_SCRIPT_FAILURE", {"init_scripts": ["s3://bucket/init/setup.sh"]}),
    ],
)
@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_start_failures_fail_the_create_task_and_leave_nothing_running(
    emulator: Emulator,
    capfd: pytest.CaptureFixture[str],
    scenario: str,
    code: str,
    extra: dict[str, Any],
    deferrable: bool,
) -> None:
    emulator.set_scenario(scenario)
    dag_run = run_pipeline("start_fails", deferrable=deferrable, create=extra)
    assert dag_run.state == "failed"
    assert states(dag_run)["create_cluster"] == "failed"
    cluster = only_cluster(emulator)
    # Nothing running: the cluster failed to start and is on its way out (or gone) with its reason.
    assert cluster["state"] in {"TERMINATING", "TERMINATED"}
    assert cluster["termination_reason"]["code"] == code
    out = capfd.readouterr().out + capfd.readouterr().err
    assert code in out


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_timeout_terminates_the_cluster(emulator: Emulator, deferrable: bool) -> None:
    emulator.set_scenario("stuck_pending")
    dag_run = run_pipeline("timeout", deferrable=deferrable, create={"timeout": 1.5})
    assert states(dag_run)["create_cluster"] == "failed"
    cluster = only_cluster(emulator)
    assert cluster["state"] in {"TERMINATING", "TERMINATED"}
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"


def test_a_create_whose_answer_was_lost_leaves_one_cluster(emulator: Emulator) -> None:
    # The create is handled, then the connection drops before the answer: the hook reports an unknown
    # outcome and the operator finds the cluster by its tags instead of creating a second one.
    emulator.add_fault("drop_after", path="clusters/create", times=1)
    dag_run = run_pipeline("lost_answer", deferrable=False, downstream="check_running")
    assert dag_run.state == "success", states(dag_run)
    assert only_cluster(emulator)["state"] == "TERMINATED"


@pytest.mark.parametrize("earlier_state", ["RUNNING", "TERMINATED"])
def test_a_retried_task_reuses_the_cluster_its_first_try_created(
    emulator: Emulator, earlier_state: str
) -> None:
    # The first try's worker died right after its create call: nothing was recorded, but the cluster
    # carries the task instance's tags. The next try finds it (and starts it again if it was terminated).
    run_after = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
    dag_id = dag_id_for("retried")
    earlier = cluster_of_an_earlier_try(dag_id, run_after, terminated=earlier_state == "TERMINATED")
    dag_run = run_pipeline(
        "retried", deferrable=False, downstream="check_running", run_after=run_after, dag_id=dag_id
    )
    assert dag_run.state == "success", states(dag_run)
    assert list(emulator.clusters) == [earlier]
    assert "STARTING" in [e["type"] for e in emulator.events(earlier)] or earlier_state == "RUNNING"


def test_a_task_cleared_after_a_fix_starts_its_cluster_again_with_the_fix(emulator: Emulator) -> None:
    # The first try ran with an image tag that was never pushed, failed, and its cleanup terminated the
    # cluster. The user fixes the tag in the DAG and clears the task: the same task instance finds its
    # cluster by its tags and must start it with the fixed image, not with the one that failed.
    run_after = datetime(2026, 11, 24, 6, 30, tzinfo=timezone.utc)
    dag_id = dag_id_for("cleared")
    broken = CLUSTER["docker_image"].replace(":latest", ":no-such-tag")
    earlier = cluster_of_an_earlier_try(dag_id, run_after, terminated=True, docker_image=broken)
    dag_run = run_pipeline(
        "cleared", deferrable=False, downstream="check_running", run_after=run_after, dag_id=dag_id
    )
    assert dag_run.state == "success", states(dag_run)
    assert list(emulator.clusters) == [earlier]
    assert emulator.clusters[earlier]["docker_image"]["url"] == CLUSTER["docker_image"]
    trail = [e["type"] for e in emulator.events(earlier)]
    assert trail.index("EDITED") < trail.index("STARTING")


@pytest.mark.parametrize("deferrable", [False, True], ids=["reschedule", "deferred"])
def test_sensor_waits_for_running(emulator: Emulator, deferrable: bool) -> None:
    sensor = {"deferrable": True} if deferrable else {"mode": "reschedule"}
    dag_run = run_pipeline("sensor", deferrable=False, downstream="check_running", sensor=sensor)
    assert dag_run.state == "success", states(dag_run)
    assert only_cluster(emulator)["state"] == "TERMINATED"


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_sensor_fails_fast_with_the_reason(
    emulator: Emulator, deferrable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator.set_scenario("docker_image_pull_failure")
    dag_run = run_pipeline("sensor_fails", deferrable=False, sensor={"deferrable": deferrable, "timeout": 60})
    assert states(dag_run)["wait_for_cluster"] == "failed"
    assert "DOCKER_IMAGE_PULL_FAILURE" in capfd.readouterr().out
    assert only_cluster(emulator)["state"] in {"TERMINATING", "TERMINATED"}


def test_xcoms_of_the_create_task(emulator: Emulator) -> None:
    emulator.set_scenario("spot_fallback_to_on_demand")
    dag_run = run_pipeline("xcoms", deferrable=True, downstream="check_running")
    cluster = only_cluster(emulator)
    assert xcom(dag_run, "create_cluster", "return_value") == cluster["cluster_id"]
    url = f"{emulator.url}/#setting/clusters/{cluster['cluster_id']}/configuration"
    assert xcom(dag_run, "create_cluster", "cluster_url") == url
    # The link Airflow stores as each task ends; both tasks resumed after a deferral to get there.
    assert xcom(dag_run, "create_cluster", "_link_DatabricksClusterLink") == url
    assert xcom(dag_run, "terminate_cluster", "_link_DatabricksClusterLink") == url
    summary = xcom(dag_run, "create_cluster", "cluster_summary")
    assert summary["fell_back_to_on_demand"] is True
    assert summary["workers_on_demand"] == 1 and summary["driver_on_spot"] is False
    report = xcom(dag_run, "terminate_cluster", "return_value")
    assert report["termination_reason"].startswith("USER_REQUEST") and report["uptime_seconds"] > 0
    # Recorded for the task's next try too (Airflow 3.3's task_state_store), besides the tags.
    if find_spec("airflow.models.task_state_store") is not None:
        assert recorded_cluster_id(dag_run) == cluster["cluster_id"]


def recorded_cluster_id(dag_run: Any) -> Any:
    import json

    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_databricks_clusters.operators import TASK_STATE_CLUSTER_ID_KEY

    with create_session() as session:
        value = session.scalar(
            select(TaskStateStoreModel.value).where(
                TaskStateStoreModel.dag_id == dag_run.dag_id,
                TaskStateStoreModel.run_id == dag_run.run_id,
                TaskStateStoreModel.task_id == "create_cluster",
                TaskStateStoreModel.key == TASK_STATE_CLUSTER_ID_KEY,
            )
        )
    return None if value is None else json.loads(value)
