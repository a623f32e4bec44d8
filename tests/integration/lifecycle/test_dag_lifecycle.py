"""Real DAGs run with dag.test() against the emulator: create -> use the cluster -> terminate as teardown."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.lifecycle.pipelines import write_dag_file

pytestmark = pytest.mark.usefixtures("airflow_db")

_dag_numbers = itertools.count()


def run_pipeline(
    name: str, *, deferrable: bool, downstream: str | None = None, create: dict[str, Any] | None = None
) -> Any:
    """Run create -> downstream -> terminate (teardown) with dag.test(); return the DagRun."""
    from airflow.dag_processing.dagbag import DagBag

    # dag.test() keeps its runs in the session's database: a fresh id per test keeps them apart.
    dag_id = f"{name}_{next(_dag_numbers)}"
    path = write_dag_file(dag_id, deferrable=deferrable, downstream=downstream, create=create)
    try:
        dag = DagBag(dag_folder=str(path)).get_dag(dag_id)
        assert dag is not None
        return dag.test()
    finally:
        path.unlink()


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def only_cluster(emu: Emulator) -> dict[str, Any]:
    clusters = list(emu.clusters.values())
    assert len(clusters) == 1, clusters
    return clusters[0]


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
