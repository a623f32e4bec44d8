"""One-time job runs on existing clusters: the part of the Jobs API (2.1 and 2.2) Spark tasks use.

A run waits while its cluster starts (a TERMINATED all-purpose cluster is started for it, as Databricks
does), runs for ``run_seconds`` once the cluster is RUNNING, and fails the way Databricks fails it when
the cluster does not exist, fails to start, or terminates mid-run. Lazy time, like the workspace, on
the workspace's clock: a run's moments are when they were due, not when a client looked.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter
from airflow_databricks_clusters.emulator.request_params import one
from airflow_databricks_clusters.emulator.workspace import DEFAULT_USER, Workspace

TASK_KINDS = (
    "spark_python_task",
    "notebook_task",
    "spark_jar_task",
    "spark_submit_task",
    "python_wheel_task",
)


class Runs:
    """The one-time runs of a workspace."""

    def __init__(self, workspace: Workspace, *, run_seconds: float = 1.0, host: str = "") -> None:
        self.workspace = workspace
        self.run_seconds = run_seconds
        self.host = host
        self._runs: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1001)

    def submit(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        tasks = body.get("tasks")
        if tasks is None:
            # The legacy single-task form: the task fields sit at the top level.
            tasks = [
                {
                    "task_key": "task",
                    **{
                        k: v
                        for k, v in body.items()
                        if k not in ("run_name", "timeout_seconds", "idempotency_token")
                    },
                }
            ]
        if not isinstance(tasks, list) or not tasks:
            raise invalid_parameter("At least one task is required.")
        for task in tasks:
            if not isinstance(task, dict):
                raise invalid_parameter("Each task must be an object.")
            if not any(kind in task for kind in TASK_KINDS):
                raise invalid_parameter(
                    f"Task {task.get('task_key')} must set one of {', '.join(TASK_KINDS)}."
                )
            if not task.get("existing_cluster_id") and not task.get("new_cluster"):
                raise invalid_parameter(
                    f"Task {task.get('task_key')} must set existing_cluster_id (this emulator runs tasks on "
                    "existing clusters only)."
                )
        with self.workspace.lock:
            now = self.workspace.now()
            run_id = next(self._ids)
            run: dict[str, Any] = {
                "run_id": run_id,
                "job_id": run_id + 100000,
                "number_in_job": run_id,
                "run_name": body.get("run_name") or "Untitled",
                "creator_user_name": user,
                "run_type": "SUBMIT_RUN",
                "start_time": int(now * 1000),
                "setup_duration": 0,
                "execution_duration": 0,
                "cleanup_duration": 0,
                "end_time": 0,
                "run_page_url": f"{self.host}/#job/{run_id + 100000}/run/{run_id}",
                "tasks": [
                    {**copy.deepcopy(task), "run_id": run_id * 10 + index, "attempt_number": 0}
                    for index, task in enumerate(tasks)
                ],
                "state": {"life_cycle_state": "PENDING", "state_message": "Waiting for cluster"},
                "_ran_since": None,
                "_fail": None,
            }
            cluster_id = run["tasks"][0].get("existing_cluster_id")
            failure = self.workspace.take_scenario("run_failure", {"cluster_id": cluster_id})
            if failure is not None:
                run["_fail"] = failure.get("message", "Workload failed, see run output for details")
            self._runs[run_id] = run
            self._advance(run)
            return {"run_id": run_id}

    def _cluster(self, cluster_id: str) -> dict[str, Any] | None:
        try:
            return self.workspace.clusters_get({"cluster_id": cluster_id})
        except ApiError:
            return None

    def _end(self, run: dict[str, Any], life_cycle: str, result: str, message: str, at: float) -> None:
        run["state"] = {
            "life_cycle_state": life_cycle,
            "result_state": result,
            "state_message": message,
            "user_cancelled_or_timedout": False,
        }
        run["end_time"] = int(at * 1000)
        for task in run["tasks"]:
            task["state"] = dict(run["state"])

    def _advance(self, run: dict[str, Any]) -> None:
        state = run["state"]["life_cycle_state"]
        if state in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED"):
            return
        now = self.workspace.now()
        cluster_id = str(run["tasks"][0].get("existing_cluster_id"))
        cluster = self._cluster(cluster_id)
        if cluster is None:
            self._end(run, "INTERNAL_ERROR", "FAILED", f"Cluster {cluster_id} does not exist", now)
            return
        cluster_state = cluster["state"]
        if run["_ran_since"] is None:
            if cluster_state == "TERMINATED" and state == "PENDING" and not run.get("_started_cluster"):
                # An all-purpose cluster a run needs is started for it.
                self.workspace.clusters_start({"cluster_id": cluster_id}, user=run["creator_user_name"])
                run["_started_cluster"] = True
                return
            if cluster_state in ("TERMINATING", "TERMINATED"):
                reason = (cluster.get("termination_reason") or {}).get("code", "UNKNOWN")
                self._end(
                    run,
                    "INTERNAL_ERROR",
                    "FAILED",
                    f"Cluster {cluster_id} was terminated. Reason: {reason}.",
                    now,
                )
                return
            if cluster_state != "RUNNING":
                return
            # It began when its cluster became RUNNING, however late that is seen: emulated time may
            # have jumped (a test advancing the clock) since the last look.
            run["_ran_since"] = max(run["start_time"] / 1000, self._running_since(cluster_id, now))
            run["state"] = {"life_cycle_state": "RUNNING", "state_message": "In run"}
            self.workspace.touch_cluster(cluster_id, at=run["_ran_since"])
        started = float(run["_ran_since"])
        if cluster_state != "RUNNING" and cluster_state not in ("RESIZING",):
            terminated = cluster.get("terminated_time") or int(now * 1000)
            if terminated < (started + self.run_seconds) * 1000:
                reason = (cluster.get("termination_reason") or {}).get("code", "UNKNOWN")
                self._end(
                    run,
                    "INTERNAL_ERROR",
                    "FAILED",
                    f"Cluster {cluster_id} was terminated during the run. Reason: {reason}.",
                    terminated / 1000,
                )
                return
        if now >= started + self.run_seconds:
            run["execution_duration"] = int(self.run_seconds * 1000)
            self.workspace.touch_cluster(cluster_id, at=started + self.run_seconds)
            if run["_fail"]:
                self._end(run, "TERMINATED", "FAILED", str(run["_fail"]), started + self.run_seconds)
            else:
                self._end(run, "TERMINATED", "SUCCESS", "", started + self.run_seconds)

    def _running_since(self, cluster_id: str, default: float) -> float:
        """When the cluster last became RUNNING (its newest RUNNING event)."""
        answer = self.workspace.clusters_events(
            {"cluster_id": cluster_id, "event_types": ["RUNNING"], "order": "DESC", "limit": 1}
        )
        events = answer["events"]
        return float(events[0]["timestamp"]) / 1000 if events else default

    def _run(self, run_id: Any) -> dict[str, Any]:
        try:
            run = self._runs.get(int(run_id))
        except (TypeError, ValueError):
            run = None
        if run is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
        return run

    @staticmethod
    def _public(run: Mapping[str, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value) for key, value in run.items() if not key.startswith("_")}

    def get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.workspace.lock:
            run = self._run(one(params.get("run_id")))
            self._advance(run)
            return self._public(run)

    def get_output(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.workspace.lock:
            run = self._run(one(params.get("run_id")))
            self._advance(run)
            answer: dict[str, Any] = {"metadata": self._public(run)}
            if run["state"].get("result_state") == "FAILED":
                answer["error"] = run["state"]["state_message"]
                answer["error_trace"] = (
                    f"Traceback (most recent call last):\n  {run['state']['state_message']}"
                )
            elif run["state"].get("result_state") == "SUCCESS":
                answer["logs"] = f"run {run['run_id']} finished"
            return answer

    def cancel(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.workspace.lock:
            run = self._run(body.get("run_id"))
            self._advance(run)
            if run["state"]["life_cycle_state"] in ("PENDING", "RUNNING"):
                self._end(run, "TERMINATED", "CANCELED", "Run cancelled.", self.workspace.now())
                run["state"]["user_cancelled_or_timedout"] = True
            return {}

    def all_runs(self) -> list[dict[str, Any]]:
        """Every run as ``runs/get`` answers it (for assertions and the demo)."""
        with self.workspace.lock:
            for run in self._runs.values():
                self._advance(run)
            return [self._public(run) for run in self._runs.values()]

    def to_json(self) -> dict[str, Any]:
        with self.workspace.lock:
            return {str(key): copy.deepcopy(run) for key, run in self._runs.items()}

    def load_json(self, data: Mapping[str, Any]) -> None:
        self._runs = {int(key): copy.deepcopy(dict(run)) for key, run in data.items()}
        self._ids = itertools.count(max(self._runs, default=1000) + 1)
