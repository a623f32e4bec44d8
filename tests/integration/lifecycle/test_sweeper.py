"""The leak sweeper against the emulator and a real Airflow metadata database (SQLite, dag.test()).

The leaks are made as Airflow makes them: a create task that fails with ``delete_on_error=False`` leaves
its cluster live (as a SIGKILLed worker does; the system test kills one for real), and a deleted DAG
takes its runs with it. Clusters that carry the tags of real task instances (a finished one, or those of
the sweep's own run while it runs) stand for the clusters those tasks would have made. The sweeper runs
in its own DAG run and reads every task instance through the Task SDK, as it does in production.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec, task_instance_tags
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.sweeper import DatabricksClusterSweeperOperator
from tests.integration.lifecycle.pipelines import (
    CLUSTER,
    dag_id_for,
    run_pipeline,
    states,
    xcom,
)

pytestmark = pytest.mark.usefixtures("airflow_db")
LIVE = {"PENDING", "RUNNING", "RESTARTING", "RESIZING"}
OTHER_USER = "someone.else@example.com"
_first_sweep = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
_sweeps = iter(range(10_000))

SWEEPER_DAG = """\
# An airflow DAG file written by a test: before -> sweep -> after, so that while the sweep runs its own
# run holds a task that succeeded, one that is running and one without a state.
import json
from airflow.sdk import DAG, task
from airflow_databricks_clusters.sweeper import DatabricksClusterSweeperOperator

@task
def before():
    return "done"

@task
def after():
    return "done"

with DAG({dag_id!r}, schedule=None, catchup=False) as dag:
    before() >> DatabricksClusterSweeperOperator(task_id="sweep", **json.loads({kwargs!r})) >> after()
"""


def sweep_run_after() -> datetime:
    # A run id known in advance (manual__<run_after>), fresh for every sweep of the session.
    return _first_sweep + timedelta(minutes=next(_sweeps))


def run_sweep(
    dag_id: str | None = None, run_after: datetime | None = None, **kwargs: Any
) -> tuple[Any, dict[str, Any]]:
    """Run a DAG holding the sweeper with dag.test(); return its DagRun and the sweep's report."""
    from airflow.dag_processing.dagbag import DagBag

    dag_id = dag_id or dag_id_for("sweeper")
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dag_id}.py"
    path.write_text(SWEEPER_DAG.format(dag_id=dag_id, kwargs=json.dumps(kwargs)))
    run_after = run_after or sweep_run_after()
    try:
        dag = DagBag(dag_folder=str(path)).get_dag(dag_id)
        assert dag is not None
        dag_run = dag.test(run_after=run_after, logical_date=run_after)
    finally:
        path.unlink()
    assert dag_run.state == "success", states(dag_run)
    return dag_run, xcom(dag_run, "sweep", "return_value")


def tagged_cluster(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """A live cluster carrying a task instance's tags, as its create task would have made it."""
    tags = task_instance_tags(dag_id, task_id, run_id, map_index)
    return DatabricksClustersHook().create_cluster(build_cluster_spec(**CLUSTER, tags=tags))


def failed_create_leak(emulator: Emulator) -> tuple[Any, str]:
    """A pipeline whose create task fails and leaves its cluster live: the leak a sweep is for."""
    emulator.set_scenario("stuck_pending", times=1)
    dag_run = run_pipeline(
        "sweep_failed_create", deferrable=False, create={"timeout": 1.5, "delete_on_error": False}
    )
    assert dag_run.state == "failed"
    assert states(dag_run) == {"create_cluster": "failed", "terminate_cluster": "upstream_failed"}
    leaked = [c for c in emulator.clusters.values() if c["custom_tags"]["airflow_dag_id"] == dag_run.dag_id]
    assert [c["state"] for c in leaked] == ["PENDING"]  # nothing in Airflow will terminate it
    return dag_run, leaked[0]["cluster_id"]


def by_cluster(report: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {entry["cluster_id"]: entry for entry in report[name]}


def test_the_sweep_terminates_the_leaks_and_keeps_and_ignores_the_rest(emulator: Emulator) -> None:
    from airflow.api.common.delete_dag import delete_dag

    failed_run, failed_cluster = failed_create_leak(emulator)
    # A pipeline that succeeded, and a cluster with its create task's tags the teardown did not terminate.
    done_run = run_pipeline("sweep_done", deferrable=False, downstream="check_running")
    assert done_run.state == "success", states(done_run)
    outlived = tagged_cluster(done_run.dag_id, "create_cluster", done_run.run_id)
    # A pipeline whose DAG is then deleted, runs and all, with the cluster of its create task.
    deleted_run = run_pipeline("sweep_deleted", deferrable=False)
    orphan = tagged_cluster(deleted_run.dag_id, "create_cluster", deleted_run.run_id)
    delete_dag(deleted_run.dag_id)
    # Not the sweep's: no tags; another user's (with the tags of the failed task); a tag value hashed by
    # the tag rewriting (no run of that name exists, and that must not read as "deleted").
    untagged = DatabricksClustersHook().create_cluster(build_cluster_spec(**CLUSTER))
    others = emulator.workspace.clusters_create(
        build_cluster_spec(
            **CLUSTER, tags=task_instance_tags(failed_run.dag_id, "create_cluster", failed_run.run_id)
        ),
        user=OTHER_USER,
    )["cluster_id"]
    rewritten = tagged_cluster("étl_ünïcode", "create_cluster", "manual__2026-11-24T00:00:00+00:00")
    # The sweep's own run, while the sweep runs: before succeeded (its run still runs), sweep is running,
    # after has no state yet. Clusters of those task instances are in use.
    sweeper_dag, run_after = dag_id_for("sweeper"), sweep_run_after()
    own_run = f"manual__{run_after.isoformat()}"
    in_use = {task: tagged_cluster(sweeper_dag, task, own_run) for task in ("before", "sweep", "after")}

    dag_run, report = run_sweep(sweeper_dag, run_after, min_age_minutes=0)

    assert dag_run.dag_id == sweeper_dag and dag_run.run_id == own_run
    assert report["dry_run"] is False and report["min_age_minutes"] == 0
    terminated = by_cluster(report, "terminated")
    assert set(terminated) == {failed_cluster, outlived, orphan}
    assert terminated[failed_cluster] == {
        "cluster_id": failed_cluster,
        "cluster_name": "lifecycle-test",
        "cluster_state": "PENDING",
        "dag_id": failed_run.dag_id,
        "run_id": failed_run.run_id,
        "task_id": "create_cluster",
        "map_index": -1,
        "state": "failed",
        "reason": terminated[failed_cluster]["reason"],
    }
    assert "ended failed" in terminated[failed_cluster]["reason"]
    assert terminated[outlived]["state"] == "success"
    assert "DAG run has finished" in terminated[outlived]["reason"]
    assert terminated[orphan]["state"] == "dag_run_gone"
    assert "no longer exists" in terminated[orphan]["reason"]
    for cluster_id in terminated:
        cluster = emulator.clusters[cluster_id]
        assert cluster["state"] in {"TERMINATING", "TERMINATED"}
        assert cluster["termination_reason"]["code"] == "USER_REQUEST"

    kept = by_cluster(report, "kept")
    assert set(kept) == set(in_use.values())
    assert kept[in_use["before"]]["state"] == "success"
    assert "still running" in kept[in_use["before"]]["reason"]
    assert kept[in_use["sweep"]]["state"] == "running"
    assert kept[in_use["after"]]["state"] == "none"
    ignored = by_cluster(report, "ignored")
    assert set(ignored) == {untagged, others, rewritten}
    assert "no task instance tags" in ignored[untagged]["reason"]
    assert f"created by {OTHER_USER}" in ignored[others]["reason"]
    assert "may be a rewritten tag value" in ignored[rewritten]["reason"]
    untouched = [*in_use.values(), untagged, others, rewritten]
    assert {emulator.clusters[c]["state"] for c in untouched} <= LIVE
    assert report["would_terminate"] == report["not_terminated"] == []


def test_a_dry_run_terminates_nothing_and_the_age_floor_keeps_young_clusters(emulator: Emulator) -> None:
    failed_run, leaked = failed_create_leak(emulator)

    _, dry = run_sweep(min_age_minutes=0, dry_run=True)
    assert dry["dry_run"] is True and dry["terminated"] == []
    would = by_cluster(dry, "would_terminate")
    assert list(would) == [leaked]
    assert (would[leaked]["run_id"], would[leaked]["state"]) == (failed_run.run_id, "failed")
    assert emulator.clusters[leaked]["state"] in LIVE

    # The clusters here started seconds ago: under a floor of a week, every one is kept.
    _, floored = run_sweep(min_age_minutes=7 * 24 * 60)
    kept = by_cluster(floored, "kept")
    assert list(kept) == [leaked] and floored["terminated"] == []
    assert "under the 10080 min age floor" in kept[leaked]["reason"]
    assert kept[leaked]["state"] == "failed"
    assert emulator.clusters[leaked]["state"] in LIVE

    _, swept = run_sweep(min_age_minutes="0", dry_run="false", dag_ids=[failed_run.dag_id])
    assert list(by_cluster(swept, "terminated")) == [leaked]
    assert emulator.clusters[leaked]["state"] in {"TERMINATING", "TERMINATED"}


# -- what the Task SDK answers, faked: failures and the number of calls ------------------------------------


class FakeTaskInstance:
    """The Task SDK calls a sweep makes, answered from a table, recorded; a DAG in ``broken`` fails."""

    def __init__(self, tis: dict[tuple[str, str, str, int], str | None], broken: set[str]) -> None:
        self.tis = tis
        self.runs = {(dag, run) for dag, run, _, _ in tis}
        self.broken = broken
        self.calls: list[tuple[str, str]] = []
        self.pushed: dict[str, Any] = {}

    def get_task_states(self, dag_id: str, map_index: int | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("get_task_states", dag_id))
        if dag_id in self.broken:
            raise RuntimeError("API_SERVER_ERROR: the execution API answered 500")
        answer: dict[str, dict[str, Any]] = {}
        for (dag, run, task, index), state in self.tis.items():
            if dag == dag_id and index == map_index and run in kw["run_ids"] and task in kw["task_ids"]:
                answer.setdefault(run, {})[task if index < 0 else f"{task}_{index}"] = state
        return answer

    def get_dr_count(self, dag_id: str, run_ids: list[str], states: list[str] | None = None) -> int:
        self.calls.append(("get_dr_count", dag_id))
        return sum((dag_id, run) in self.runs for run in run_ids)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def sweep_with(ti: FakeTaskInstance, **kwargs: Any) -> dict[str, Any]:
    """The sweeper's execute() with ``ti`` as its task instance (Airflow's unit-test mode allows it)."""
    context: Any = {"ti": ti}
    return DatabricksClusterSweeperOperator(task_id="sweep", **kwargs).execute(context)


def test_lookups_are_batched_per_dag_and_a_failed_one_keeps_its_clusters(emulator: Emulator) -> None:
    runs = [f"manual__2026-11-24T0{n}:00:00+00:00" for n in range(4)]
    tis: dict[tuple[str, str, str, int], str | None] = {
        ("etl", run, "create_cluster", -1): "failed" for run in runs[:3]
    }
    tis[("etl", runs[3], "create_cluster", 2)] = "running"
    failed = [tagged_cluster("etl", "create_cluster", run) for run in runs[:3]]
    mapped = tagged_cluster("etl", "create_cluster", runs[3], 2)
    gone = tagged_cluster("etl", "create_cluster", "manual__2026-01-01T00:00:00+00:00")
    unreadable = [tagged_cluster("reports", "create_cluster", run) for run in runs]
    ti = FakeTaskInstance(tis, broken={"reports"})

    report = sweep_with(ti, min_age_minutes=0)

    assert set(by_cluster(report, "terminated")) == {*failed, gone}
    kept = by_cluster(report, "kept")
    assert set(kept) == {mapped, *unreadable}
    assert kept[mapped]["state"] == "running" and kept[mapped]["map_index"] == 2
    for cluster_id in unreadable:
        assert kept[cluster_id]["state"] == "unreadable"
        assert "could not be read (RuntimeError: API_SERVER_ERROR" in kept[cluster_id]["reason"]
        assert emulator.clusters[cluster_id]["state"] in LIVE
    # Eight clusters of two DAGs: one states call per DAG and map index, one count for the run not found.
    assert sorted(ti.calls) == [
        ("get_dr_count", "etl"),
        ("get_task_states", "etl"),
        ("get_task_states", "etl"),
        ("get_task_states", "reports"),
    ]


def test_a_refused_terminate_is_reported_and_fails_the_sweep_after_the_others(emulator: Emulator) -> None:
    from airflow.sdk.exceptions import AirflowException

    run = "manual__2026-11-24T00:00:00+00:00"
    first, second = (tagged_cluster(dag, "create_cluster", run) for dag in ("a", "b"))
    ti = FakeTaskInstance(
        {("a", run, "create_cluster", -1): "failed", ("b", run, "create_cluster", -1): "failed"}, set()
    )
    emulator.add_fault("status", path="clusters/delete", status=400, times=1)

    with pytest.raises(AirflowException, match="Could not terminate leaked clusters"):
        sweep_with(ti, min_age_minutes=0)

    report = ti.pushed["return_value"]
    refused = by_cluster(report, "not_terminated")
    done = by_cluster(report, "terminated")
    assert len(refused) == len(done) == 1 and set(refused) | set(done) == {first, second}
    assert emulator.clusters[next(iter(done))]["state"] in {"TERMINATING", "TERMINATED"}
    assert emulator.clusters[next(iter(refused))]["state"] in LIVE


def test_bad_parameters_fail_without_retries_before_any_call(emulator: Emulator) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="min_age_minutes: got 'soon'"):
        sweep_with(FakeTaskInstance({}, set()), min_age_minutes="soon", dry_run="maybe")
    assert emulator.request_log == []
