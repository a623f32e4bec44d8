"""One-time job runs on existing clusters: the part of the Jobs API (2.1 and 2.2) Spark tasks use.

A run waits while its cluster starts (a TERMINATED all-purpose cluster is started for it, as Databricks
does), runs for ``run_seconds`` once the cluster is RUNNING, and fails the way Databricks fails it when
the cluster does not exist, fails to start, or terminates mid-run. Lazy time, like the workspace, on
the workspace's clock: a run's moments are when they were due, not when a client looked.

A run and each of its tasks have their own run id, as in Databricks: ``runs/get-output`` answers a task's
id (2.1 and 2.2 refuse a run's own id); Jobs 2.0 answers a one-task run in its own shape (``task``,
``cluster_spec``, ``cluster_instance``). ``run_page_url`` is built from the address the client called.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter
from airflow_databricks_clusters.emulator.request_params import integer, one, paged
from airflow_databricks_clusters.emulator.workspace import DEFAULT_USER, WORKSPACE_ID, Workspace

TASK_KINDS = (
    "spark_python_task",
    "notebook_task",
    "spark_jar_task",
    "spark_submit_task",
    "python_wheel_task",
)
ENDED = ("TERMINATED", "INTERNAL_ERROR", "SKIPPED")
#: ``runs/list``: the most runs one page holds (also the page size of a limit of 0), and the default.
LIST_MAX_RUNS = 25
LIST_DEFAULT_RUNS = 20
MULTI_TASK_OUTPUT = (
    "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each "
    "individual task run instead."
)


class Runs:
    """The one-time runs of a workspace."""

    def __init__(self, workspace: Workspace, *, run_seconds: float = 1.0) -> None:
        self.workspace = workspace
        self.run_seconds = run_seconds
        #: The server's own address (``Emulator`` sets it once listening), for page URLs outside a request.
        self.base_url = ""
        self._runs: dict[int, dict[str, Any]] = {}
        #: task run id -> (its run's id, the task's index)
        self._task_runs: dict[int, tuple[int, int]] = {}
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
            job_id = run_id + 100000
            run: dict[str, Any] = {
                "run_id": run_id,
                "job_id": job_id,
                "number_in_job": run_id,
                "run_name": body.get("run_name") or "Untitled",
                "creator_user_name": user,
                "run_type": "SUBMIT_RUN",
                "start_time": int(now * 1000),
                "setup_duration": 0,
                "execution_duration": 0,
                "cleanup_duration": 0,
                "end_time": 0,
                "tasks": [
                    {
                        **copy.deepcopy(task),
                        "run_id": next(self._ids),
                        "job_id": job_id,
                        "attempt_number": 0,
                        "start_time": int(now * 1000),
                        "end_time": 0,
                        "cluster_instance": {"cluster_id": task.get("existing_cluster_id")},
                    }
                    for task in tasks
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
            self._index(run)
            self._advance(run)
            return {"run_id": run_id}

    def _index(self, run: Mapping[str, Any]) -> None:
        for index, task in enumerate(run["tasks"]):
            self._task_runs[int(task["run_id"])] = (int(run["run_id"]), index)

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
            task["end_time"] = run["end_time"]

    def _advance(self, run: dict[str, Any]) -> None:
        state = run["state"]["life_cycle_state"]
        if state in ENDED:
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

    def settles_at(self, run_id: Any) -> float | None:
        """When a run (or a task's run) that has not ended next changes: when its cluster next changes
        while the run waits for it, else when the run ends. None when it has ended, its cluster waits on
        nothing planned, or there is no such run."""
        with self.workspace.lock:
            try:
                found = self._task_runs.get(_run_id(run_id))
                run = self._runs[found[0]] if found is not None else self._run(run_id)
            except ApiError:
                return None
            self._advance(run)
            if run["state"]["life_cycle_state"] in ENDED:
                return None
            if run["_ran_since"] is None:
                return self.workspace.settles_at(str(run["tasks"][0].get("existing_cluster_id")))
            return float(run["_ran_since"]) + self.run_seconds

    def _running_since(self, cluster_id: str, default: float) -> float:
        """When the cluster last became RUNNING (its newest RUNNING event)."""
        answer = self.workspace.clusters_events(
            {"cluster_id": cluster_id, "event_types": ["RUNNING"], "order": "DESC", "limit": 1}
        )
        events = answer["events"]
        return float(events[0]["timestamp"]) / 1000 if events else default

    def _run(self, run_id: Any) -> dict[str, Any]:
        run = self._runs.get(_run_id(run_id))
        if run is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
        return run

    def _view(self, run: Mapping[str, Any], base_url: str, api_version: str) -> dict[str, Any]:
        """The run as ``runs/get`` answers it in ``api_version``."""
        view = {key: copy.deepcopy(value) for key, value in run.items() if not key.startswith("_")}
        view["run_page_url"] = _page_url(base_url, run["job_id"], run["run_id"])
        if api_version == "2.0" and len(run["tasks"]) == 1:
            # Jobs 2.0 knew one task per run: its fields sit at the top, its cluster beside them.
            task = view.pop("tasks")[0]
            view["task"] = {kind: task[kind] for kind in TASK_KINDS if kind in task}
            view["cluster_spec"] = {k: task[k] for k in ("existing_cluster_id", "new_cluster") if k in task}
            view["cluster_instance"] = task["cluster_instance"]
        return view

    def _task_view(self, run: Mapping[str, Any], index: int, base_url: str) -> dict[str, Any]:
        """A task's own run, as its ``runs/get-output`` metadata shows it."""
        task = copy.deepcopy(run["tasks"][index])
        view = {key: copy.deepcopy(run[key]) for key in ("run_name", "creator_user_name", "run_type")}
        return {**view, **task, "run_page_url": _page_url(base_url, run["job_id"], task["run_id"])}

    def get(
        self, params: Mapping[str, Any], *, base_url: str = "", api_version: str = "2.1"
    ) -> dict[str, Any]:
        with self.workspace.lock:
            run = self._run(one(params.get("run_id")))
            self._advance(run)
            return self._view(run, base_url, api_version)

    def get_output(
        self, params: Mapping[str, Any], *, base_url: str = "", api_version: str = "2.1"
    ) -> dict[str, Any]:
        """A task run's output (its error when it failed). Given a run's own id, 2.1 and later refuse it
        even for one task; 2.0 answers its one task's output."""
        with self.workspace.lock:
            asked = one(params.get("run_id"))
            found = self._task_runs.get(_run_id(asked))
            if found is not None:
                run, index = self._runs[found[0]], found[1]
                self._advance(run)
                metadata = self._task_view(run, index, base_url)
            else:
                run = self._run(asked)
                if api_version != "2.0" or len(run["tasks"]) != 1:
                    raise invalid_parameter(MULTI_TASK_OUTPUT)
                self._advance(run)
                metadata = self._view(run, base_url, api_version)
            answer: dict[str, Any] = {"metadata": metadata}
            if run["state"].get("result_state") == "FAILED":
                answer["error"] = run["state"]["state_message"]
                answer["error_trace"] = (
                    f"Traceback (most recent call last):\n  {run['state']['state_message']}"
                )
            elif run["state"].get("result_state") == "SUCCESS":
                answer["logs"] = f"run {metadata['run_id']} finished"
            return answer

    def list_runs(
        self, params: Mapping[str, Any], *, base_url: str = "", api_version: str = "2.1"
    ) -> dict[str, Any]:
        """``runs/list``: newest first, filtered, a page at a time (``page_token``, or the deprecated
        ``offset``); tasks only with ``expand_tasks``."""
        active, completed = _flag(params, "active_only"), _flag(params, "completed_only")
        if active and completed:
            raise invalid_parameter("active_only and completed_only cannot both be true.")
        limit = integer(one(params.get("limit")), "limit", default=LIST_DEFAULT_RUNS)
        if not 0 <= limit <= LIST_MAX_RUNS:
            raise invalid_parameter(f"Invalid limit {limit}: must be from 0 (the most) to {LIST_MAX_RUNS}.")
        limit = limit or LIST_MAX_RUNS
        offset = integer(one(params.get("offset")), "offset", default=0)
        if offset < 0:
            raise invalid_parameter(f"Invalid offset {offset}: must be 0 or more.")
        token = params.get("page_token") if api_version != "2.0" else None
        job_id = one(params.get("job_id"))
        run_type = one(params.get("run_type"))
        since = integer(one(params.get("start_time_from")), "start_time_from", default=0)
        until = integer(one(params.get("start_time_to")), "start_time_to", default=0)
        with self.workspace.lock:
            runs = list(self._runs.values())
            for run in runs:
                self._advance(run)
            runs = [
                run
                for run in runs
                if (not active or run["state"]["life_cycle_state"] not in ENDED)
                and (not completed or run["state"]["life_cycle_state"] in ENDED)
                and (job_id is None or str(run["job_id"]) == str(job_id))
                and (run_type is None or run["run_type"] == run_type)
                and run["start_time"] >= since
                and (not until or run["start_time"] <= until)
            ]
            runs.sort(key=_newest_first, reverse=True)
            chosen, following, preceding = paged(
                runs, _newest_first, token, limit, descending=True, list_name="runs", offset=offset
            )
            page = [self._view(run, base_url, api_version) for run in chosen]
        if not _flag(params, "expand_tasks") and api_version != "2.0":
            for view in page:
                view.pop("tasks", None)
        answer: dict[str, Any] = {"has_more": bool(following)}
        if page:
            answer["runs"] = page
        if api_version != "2.0":
            if following:
                answer["next_page_token"] = following
            if preceding:
                answer["prev_page_token"] = preceding
        return answer

    def cancel(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.workspace.lock:
            run = self._run(body.get("run_id"))
            self._advance(run)
            if run["state"]["life_cycle_state"] in ("PENDING", "RUNNING"):
                self._end(run, "TERMINATED", "CANCELED", "Run cancelled.", self.workspace.now())
                run["state"]["user_cancelled_or_timedout"] = True
            return {}

    def all_runs(self, base_url: str | None = None) -> list[dict[str, Any]]:
        """Every run as ``runs/get`` answers it (for assertions and the demo), its page URLs on
        ``base_url`` (default the server's own address)."""
        with self.workspace.lock:
            for run in self._runs.values():
                self._advance(run)
            base = self.base_url if base_url is None else base_url
            return [self._view(run, base, "2.1") for run in self._runs.values()]

    def count(self) -> int:
        """How many runs the workspace holds."""
        with self.workspace.lock:
            return len(self._runs)

    def to_json(self) -> dict[str, Any]:
        with self.workspace.lock:
            return {str(key): copy.deepcopy(run) for key, run in self._runs.items()}

    def load_json(self, data: Mapping[str, Any]) -> None:
        self._runs = {int(key): copy.deepcopy(dict(run)) for key, run in data.items()}
        self._task_runs = {}
        for run in self._runs.values():
            for task in run["tasks"]:  # a file saved before tasks carried these
                task.setdefault("job_id", run["job_id"])
                task.setdefault("start_time", run["start_time"])
                task.setdefault("end_time", run["end_time"])
                task.setdefault("cluster_instance", {"cluster_id": task.get("existing_cluster_id")})
            self._index(run)
        self._ids = itertools.count(max([*self._runs, *self._task_runs], default=1000) + 1)


def _newest_first(run: Mapping[str, Any]) -> tuple[int, int]:
    """A run's place in ``runs/list`` (which sorts on it, descending)."""
    return int(run["start_time"]), int(run["run_id"])


def _run_id(value: Any) -> int:
    """A run id as a number; -1 (no run's) when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return -1


def _flag(params: Mapping[str, Any], name: str) -> bool:
    """A boolean parameter: JSON true, or ``true`` in a query string."""
    value = one(params.get(name))
    return value is True or str(value).lower() == "true"


def _page_url(base_url: str, job_id: int, run_id: int) -> str:
    return f"{base_url}/?o={WORKSPACE_ID}#job/{job_id}/run/{run_id}"
