"""A real leak and its sweep, in the topology Airflow runs in (scheduler, triggerer, dag-processor and API
server as separate processes, LocalExecutor, PostgreSQL).

The create task of ``sweeper_kill_pipeline`` (retries=0) waits in its worker for a cluster held in
PENDING; the test SIGKILLs the task's process, as the kernel's OOM killer would. No ``on_kill`` runs, the
setup fails without a retry and its teardown never runs: the cluster stays live after the run has ended.
Then ``databricks_cluster_sweeper``, triggered as a person would from its form, terminates that cluster
and leaves alone the cluster of another run whose create task is still running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from local_airflow import AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator

# Generous: starting Airflow, a kill noticed and two runs on a busy machine; never a timing assertion.
pytestmark = [pytest.mark.system, pytest.mark.timeout(1500)]
PIPELINE = "sweeper_kill_pipeline"
SWEEPER = "databricks_cluster_sweeper"
LIVE = {"PENDING", "RUNNING", "RESTARTING", "RESIZING"}
T = TypeVar("T")


def eventually(what: str, read: Callable[[], T | None], timeout: float = 240) -> T:
    """Poll ``read`` until it returns something; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read()
        if found is not None:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def cluster_of_run(emulator: Emulator, run_id: str) -> dict[str, Any] | None:
    clusters = [c for c in emulator.clusters.values() if c["custom_tags"].get("airflow_run_id") == run_id]
    assert len(clusters) <= 1, clusters
    return clusters[0] if clusters else None


def create_task_waiting(airflow: AirflowDeployment, emulator: Emulator, name: str) -> tuple[str, str, str]:
    """Trigger the pipeline with its cluster held in PENDING; return the run id, the create task
    instance's id and the cluster id once the task is running and its cluster exists."""
    emulator.set_scenario("stuck_pending", cluster_name=f"sweeper-kill-{name}", times=1)
    run_id = airflow.trigger(PIPELINE, {"name": name})
    path = f"/dags/{PIPELINE}/dagRuns/{run_id}/taskInstances/create_cluster"

    def running() -> str | None:
        ti = airflow.api("GET", path)
        return str(ti["id"]) if ti["state"] == "running" else None

    ti_id = eventually(f"{path} to run", running)
    cluster = eventually(f"the cluster of {run_id}", lambda: cluster_of_run(emulator, run_id))
    assert cluster["state"] == "PENDING"
    return run_id, ti_id, cluster["cluster_id"]


def task_process(ti_id: str) -> int | None:
    """The pid of the process running a task instance: the Task SDK titles it ``airflow worker -- <ti id>``
    (its supervisor, the parent, is titled by the executor)."""
    title = f"airflow worker -- {ti_id}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip().decode(
                errors="replace"
            ) == title:
                return int(entry.name)
    return None


@pytest.fixture
def held_runs(airflow: AirflowDeployment, emulator: Emulator) -> Iterator[list[str]]:
    """Runs the test leaves running; failed afterwards, and every cluster of the pipeline terminated, so
    the tests after this one find a quiet workspace."""
    runs: list[str] = []
    yield runs
    for run_id in runs:
        with contextlib.suppress(RuntimeError):
            airflow.api("PATCH", f"/dags/{PIPELINE}/dagRuns/{run_id}", {"state": "failed"})
    emulator.clear_scenarios()
    for cluster in emulator.clusters.values():
        if cluster["cluster_name"].startswith("sweeper-kill-") and cluster["state"] in LIVE:
            emulator.workspace.clusters_delete({"cluster_id": cluster["cluster_id"]})


def test_a_killed_create_leaks_its_cluster_and_the_sweeper_terminates_it(
    airflow: AirflowDeployment, emulator: Emulator, held_runs: list[str]
) -> None:
    airflow.wait_for_dag(PIPELINE)
    airflow.wait_for_dag(SWEEPER)

    # The leak: the create task's process is killed while it waits for its cluster.
    killed_run, ti_id, leaked = create_task_waiting(airflow, emulator, "killed")
    pid = eventually(f"the process of task instance {ti_id}", lambda: task_process(ti_id), timeout=60)
    os.kill(pid, signal.SIGKILL)
    assert airflow.wait_for_run(PIPELINE, killed_run, timeout=300) == "failed"
    states = airflow.task_states(PIPELINE, killed_run)
    assert states["create_cluster"] == "failed", states
    assert states["terminate_cluster"] == "upstream_failed", states  # the teardown never ran
    assert emulator.clusters[leaked]["state"] in LIVE  # the leak is real: the run is over, the cluster runs

    # Another run's create task is still running (its cluster held in PENDING): its cluster is in use.
    held_run, _, in_use = create_task_waiting(airflow, emulator, "held")
    held_runs.append(held_run)

    sweep_run = airflow.trigger(SWEEPER, {"min_age_minutes": 0})
    assert airflow.wait_for_run(SWEEPER, sweep_run, timeout=300) == "success", airflow.task_states(
        SWEEPER, sweep_run
    )
    report = airflow.xcom(SWEEPER, sweep_run, "sweep")
    assert report["dry_run"] is False and report["min_age_minutes"] == 0
    terminated = {entry["cluster_id"]: entry for entry in report["terminated"]}
    assert leaked in terminated, report
    entry = terminated[leaked]
    assert (entry["dag_id"], entry["run_id"], entry["task_id"]) == (PIPELINE, killed_run, "create_cluster")
    assert entry["state"] == "failed"
    assert "ended failed" in entry["reason"] and "never runs its teardown" in entry["reason"]
    kept = {entry["cluster_id"]: entry for entry in report["kept"]}
    assert in_use in kept, report
    assert (kept[in_use]["run_id"], kept[in_use]["state"]) == (held_run, "running")

    cluster = emulator.clusters[leaked]
    assert cluster["state"] in {"TERMINATING", "TERMINATED"}
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"
    assert emulator.clusters[in_use]["state"] == "PENDING"
    assert airflow.api("GET", f"/dags/{PIPELINE}/dagRuns/{held_run}")["state"] == "running"
    # The sweep said what it did, and why, in its task log.
    log = airflow.task_log(SWEEPER, sweep_run, "sweep")
    assert (
        f"Cluster {leaked} 'sweeper-kill-killed'" in log
        and "terminated: its task instance ended failed" in log
    )
