"""capacity_fallback in real DAG runs (dag.test()) against the emulator: a start that cannot get its
instances moves on to the next alternative in the same try, on the same cluster, sync or deferred."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_databricks_clusters.cluster_spec.capacity_fallback import (
    TAG_CAPACITY_FALLBACK,
    parse_alternatives,
)
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
from tests.integration.lifecycle.test_bad_input import create_task, run

pytestmark = pytest.mark.usefixtures("airflow_db")

ON_DEMAND = {"availability": "ON_DEMAND"}
SPOT_ELSEWHERE = {"node_type_id": "r5d.xlarge", "zone_id": "ap-southeast-1a"}
SHORTAGE = "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"


def event_types(emu: Emulator, cluster_id: str) -> list[str]:
    return [e["type"] for e in sorted(emu.events(cluster_id), key=lambda e: e["timestamp"])]


def run_with_fallback(emu: Emulator, *, deferrable: bool, shortages: int, fallback: list[Any]) -> Any:
    """A SPOT cluster whose first ``shortages`` starts find no spot capacity."""
    emu.set_scenario("spot_capacity_failure", times=shortages)
    return run_pipeline(
        "capacity",
        deferrable=deferrable,
        downstream="check_running",
        create={"availability": "SPOT", "capacity_fallback": fallback},
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_a_shortage_moves_on_to_the_next_alternative_on_the_same_cluster(
    emulator: Emulator, capfd: pytest.CaptureFixture[str], deferrable: bool
) -> None:
    dag_run = run_with_fallback(
        emulator, deferrable=deferrable, shortages=2, fallback=[SPOT_ELSEWHERE, ON_DEMAND]
    )
    assert dag_run.state == "success", states(dag_run)
    cluster = only_cluster(emulator)  # one cluster for the task try, edited and started again twice
    trail = event_types(emulator, cluster["cluster_id"])
    assert trail.count("EDITED") == 2 and trail.count("STARTING") == 2, trail
    assert cluster["custom_tags"][TAG_CAPACITY_FALLBACK] == "1"
    assert cluster["aws_attributes"]["availability"] == "ON_DEMAND"
    # ON_DEMAND laid over the first alternative? No: each alternative is laid over the task's own spec.
    assert cluster["node_type_id"] == "i3.xlarge"
    summary = xcom(dag_run, "create_cluster", "cluster_summary")
    assert summary["capacity_fallback"] == 1
    out = capfd.readouterr().out
    assert f"could not get its instances ({SHORTAGE}" in out
    assert "moving on to capacity_fallback[0] (1 of 2): " in out
    assert 'node_type_id "i3.xlarge" -> "r5d.xlarge"' in out
    assert "moving on to capacity_fallback[1] (2 of 2): " in out
    assert "on capacity_fallback[1] after a shortage" in out


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_when_every_alternative_is_short_the_task_fails_with_the_shortage_and_nothing_runs(
    emulator: Emulator, capfd: pytest.CaptureFixture[str], deferrable: bool
) -> None:
    emulator.set_scenario("spot_capacity_failure")
    dag_run = run_pipeline(
        "all_short",
        deferrable=deferrable,
        create={"availability": "SPOT", "capacity_fallback": [{"node_type_id": "r5d.xlarge"}]},
    )
    assert states(dag_run)["create_cluster"] == "failed"
    cluster = only_cluster(emulator)
    assert cluster["state"] in {"TERMINATING", "TERMINATED"}
    assert cluster["termination_reason"]["code"] == SHORTAGE
    assert event_types(emulator, cluster["cluster_id"]).count("STARTING") == 1
    assert SHORTAGE in capfd.readouterr().out


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_any_other_start_failure_does_not_move_on(emulator: Emulator, deferrable: bool) -> None:
    emulator.set_scenario("docker_image_pull_failure")
    dag_run = run_pipeline("pull_fails", deferrable=deferrable, create={"capacity_fallback": [ON_DEMAND]})
    assert states(dag_run)["create_cluster"] == "failed"
    cluster = only_cluster(emulator)
    assert cluster["termination_reason"]["code"] == "DOCKER_IMAGE_PULL_FAILURE"
    assert "STARTING" not in event_types(emulator, cluster["cluster_id"])


def test_sync_and_deferred_leave_the_same_trail(emulator: Emulator) -> None:
    trails = []
    for deferrable in (False, True):
        dag_run = run_with_fallback(emulator, deferrable=deferrable, shortages=1, fallback=[ON_DEMAND])
        assert dag_run.state == "success", states(dag_run)
        cluster_id = xcom(dag_run, "create_cluster", "return_value")
        summary = xcom(dag_run, "create_cluster", "cluster_summary")
        summary.pop("cluster_id")
        trails.append((event_types(emulator, cluster_id), summary))
    assert trails[0] == trails[1]


def test_a_bad_alternative_fails_the_task_before_any_call(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_pipeline(
        "bad_alternative", deferrable=False, create={"capacity_fallback": [{"zone": "ap-southeast-1a"}]}
    )
    assert states(dag_run)["create_cluster"] == "failed"
    assert not [r for r in emulator.request_log if "/clusters/" in r["path"]]
    out = capfd.readouterr().out
    assert "capacity_fallback[0].zone: got 'ap-southeast-1a'" in out
    assert "did you mean 'zone_id'?" in out


def test_a_retried_try_starts_again_from_the_tasks_own_spec(emulator: Emulator) -> None:
    # The first try's cluster ran on an alternative, and was terminated when that try failed. The next
    # try finds it by its tags, puts the task's own spec back, and moves on again only after a shortage.
    run_after = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    dag_id = dag_id_for("capacity_retry")
    earlier = cluster_of_an_earlier_try(
        dag_id, run_after, terminated=True, availability="ON_DEMAND", custom_tags={TAG_CAPACITY_FALLBACK: "0"}
    )
    emulator.set_scenario("spot_capacity_failure", times=1)
    dag_run = run_pipeline(
        "capacity_retry",
        deferrable=True,
        downstream="check_running",
        create={"availability": "SPOT", "capacity_fallback": [ON_DEMAND]},
        run_after=run_after,
        dag_id=dag_id,
    )
    assert dag_run.state == "success", states(dag_run)
    assert list(emulator.clusters) == [earlier]
    assert event_types(emulator, earlier).count("STARTING") == 2
    assert xcom(dag_run, "create_cluster", "cluster_summary")["capacity_fallback"] == 0


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_a_node_type_short_in_its_zone_starts_in_the_next_zone(emulator: Emulator, deferrable: bool) -> None:
    # The emulator's capacity, not a scenario: i3.xlarge has nothing in 1c, spot or on-demand; 1a has it.
    emulator.set_capacity([{"node_type_id": "i3.xlarge", "zone_id": "ap-southeast-1c"}])
    dag_run = run_pipeline(
        "zone_short",
        deferrable=deferrable,
        downstream="check_running",
        create={"zone_id": "ap-southeast-1c", "capacity_fallback": [{"zone_id": "ap-southeast-1a"}]},
    )
    assert dag_run.state == "success", states(dag_run)
    cluster = only_cluster(emulator)
    assert cluster["aws_attributes"]["zone_id"] == "ap-southeast-1a"
    summary = xcom(dag_run, "create_cluster", "cluster_summary")
    assert summary["capacity_fallback"] == 0 and summary["zone_id"] == "ap-southeast-1a"
    assert summary["workers"] == 1  # autoscale's min_workers, on the zone that had them


def test_every_alternative_is_pre_flighted_before_the_first_call(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_pipeline(
        "alternative_preflight", deferrable=False, create={"capacity_fallback": [{"node_type_id": "z9.mega"}]}
    )
    assert states(dag_run)["create_cluster"] == "failed"
    assert not [r for r in emulator.request_log if r["path"].endswith("clusters/create")]
    out = capfd.readouterr().out
    assert "capacity_fallback[0]: " in out and "z9.mega" in out


def test_a_kill_while_the_cluster_moves_to_an_alternative_leaves_nothing_running(emulator: Emulator) -> None:
    # Airflow's kill calls on_kill and lets the task's thread run on until it kills the process. A kill that
    # comes while the cluster is being edited finds it stopped and terminates nothing: the task itself must
    # not start it, or nothing would hold the cluster.
    emulator.set_scenario("spot_capacity_failure", times=1)
    operator = create_task(**{**CLUSTER, "availability": "SPOT", "capacity_fallback": [ON_DEMAND]})
    edit = operator.hook.edit_cluster

    def edit_then_killed(spec: Any) -> None:
        edit(spec)
        operator.on_kill()

    operator.hook.edit_cluster = edit_then_killed  # type: ignore[method-assign]
    with pytest.raises(AirflowException, match="killed"):
        run(operator)
    cluster = only_cluster(emulator)
    assert cluster["state"] in {"TERMINATED", "TERMINATING"}, cluster["state"]
    assert "STARTING" not in event_types(emulator, cluster["cluster_id"])


def test_capacity_fallback_templated_from_params_is_read_as_python_too() -> None:
    rendered = str([{"node_type_id": "r5.xlarge", "first_on_demand": 1}])  # what {{ params.x }} renders
    assert parse_alternatives(rendered) == [{"node_type_id": "r5.xlarge", "first_on_demand": 1}]


def test_capacity_fallback_without_waiting_for_running_is_refused_at_parse_time() -> None:
    with pytest.raises(ValueError, match="capacity_fallback: needs wait_for_running=True"):
        create_task(**CLUSTER, capacity_fallback=[ON_DEMAND], wait_for_running=False)
