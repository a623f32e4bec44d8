"""One-time job runs: the part of the Jobs API (2.1 and 2.2) Spark tasks use, and the runs of jobs.

Each task runs on its own compute (``job_clusters.py``): an all-purpose cluster (a TERMINATED one is
started for it, as Databricks does) or a job cluster made for the run, which terminates (JOB_FINISHED)
once every task on it has ended. A task starts once the tasks it ``depends_on`` have succeeded
(``task_graph.py``; a failed one leaves it SKIPPED, UPSTREAM_FAILED), runs for ``run_seconds`` once its
cluster is RUNNING, and fails the way Databricks fails it when the cluster does not exist, fails to start,
or terminates mid-run. The run's state is its tasks' together. Lazy time, like the workspace, on the
workspace's clock: a run's moments are when they were due, not when a client looked.

A run and each of its tasks have their own run id, as in Databricks: ``runs/get-output`` answers a task's
id (2.1 and 2.2 refuse a run's own id); Jobs 2.0 answers a one-task run in its own shape (``task``,
``cluster_spec``, ``cluster_instance``). ``run_page_url`` is built from the address the client called.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.emulator import task_graph
from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, invalid_state
from airflow_databricks_clusters.emulator.job_clusters import (
    as_numbers,
    check_compute,
    check_specs,
    checked_job_clusters,
    create_job_cluster,
)
from airflow_databricks_clusters.emulator.libraries import ClusterLibraries
from airflow_databricks_clusters.emulator.library_spec import checked_libraries, run_failure_message
from airflow_databricks_clusters.emulator.request_params import integer, one, paged
from airflow_databricks_clusters.emulator.validation import check_idempotency_token
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
#: ``runs/submit`` keys that are the run's, not its task's, in the legacy single-task form.
RUN_FIELDS = ("run_name", "timeout_seconds", "idempotency_token", "job_clusters")
#: The start of a run's message when its job cluster cannot be created (its spec refused at the start).
CLUSTER_INVALID = "Cluster validation error"
UPSTREAM_FAILED = "Upstream task(s) failed."
UPSTREAM_CANCELED = "Upstream task(s) canceled."


class Runs:
    """The runs of a workspace: one-time runs (``runs/submit``) and, through ``launch``, a job's runs."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        run_seconds: float = 1.0,
        libraries: ClusterLibraries | None = None,
    ) -> None:
        self.workspace = workspace
        self.run_seconds = run_seconds
        #: Where a task's ``libraries`` are installed on its cluster before it runs (the Libraries API's).
        self.libraries = libraries or ClusterLibraries(workspace)
        #: The server's own address (``Emulator`` sets it once listening), for page URLs outside a request.
        self.base_url = ""
        self._runs: dict[int, dict[str, Any]] = {}
        #: task run id -> (its run's id, the task's index)
        self._task_runs: dict[int, tuple[int, int]] = {}
        #: job cluster id -> the run it was made for
        self._job_cluster_runs: dict[str, int] = {}
        #: How deep in bringing runs up to date this thread is (a run's advance reads clusters, and may
        #: start a job's queued runs): a job cluster read then does not bring its run up to date again.
        self._advancing = 0
        workspace.on_job_cluster_read = self._catch_up
        self._ids = itertools.count(1001)
        #: runs/submit idempotency token -> the run it started
        self._tokens: dict[str, int] = {}
        #: Called with a job's id when one of its QUEUED runs is read (``job_definitions.py`` starts
        #: the runs whose turn has come, with ``start_queued``).
        self.on_queued: Callable[[int], None] | None = None

    def submit(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        """``runs/submit``: ``tasks[]`` (or the legacy single-task form, its fields at the top level) with
        the run's ``job_clusters[]``."""
        token = body.get("idempotency_token")
        check_idempotency_token(token)
        tasks = body.get("tasks")
        if tasks is None:
            tasks = [{"task_key": "task", **{k: v for k, v in body.items() if k not in RUN_FIELDS}}]
        with self.workspace.lock:
            if token is not None and token in self._tokens:
                # The run this token started, whatever became of it: exactly one run per token.
                return {"run_id": self._tokens[token]}
            run_id = self.launch(
                tasks,
                job_clusters=body.get("job_clusters") or (),
                run_name=str(body.get("run_name") or "Untitled"),
                user=user,
            )
            if token is not None:
                self._tokens[token] = run_id
                self._changed()
        return {"run_id": run_id}

    def launch(
        self,
        tasks: Sequence[Mapping[str, Any]],
        *,
        job_clusters: Sequence[Mapping[str, Any]] = (),
        run_name: str,
        user: str,
        run_type: str = "SUBMIT_RUN",
        job_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Start a run of ``tasks`` now; its run id. The one way runs begin (``runs/submit``, a job's run).

        Each task is a Jobs API task object (kept as given, ``libraries`` and all, plus its run's fields)
        on one compute: ``existing_cluster_id``, ``new_cluster``, or ``job_cluster_key`` naming one of
        ``job_clusters`` (``[{job_cluster_key, new_cluster}]``). Everything is checked before anything
        happens: a bad task, key or cluster spec raises ``ApiError`` (a spec as ``clusters/create`` refuses
        it) and nothing is created. ``job_id`` is the job's (None: the run's own, as a one-time run has);
        ``extra`` is fields the run shows besides (a job run's ``job_parameters``, ``number_in_job``,
        ``trigger``...), which override the defaults.
        """
        if not isinstance(tasks, Sequence) or isinstance(tasks, str) or not tasks:
            raise invalid_parameter("At least one task is required.")
        keyed = checked_job_clusters(list(job_clusters) if job_clusters else None)
        for task in tasks:
            if not isinstance(task, Mapping):
                raise invalid_parameter("Each task must be an object.")
            if not any(kind in task for kind in TASK_KINDS):
                raise invalid_parameter(
                    f"Task {task.get('task_key')} must set one of {', '.join(TASK_KINDS)}."
                )
            if task.get("libraries"):
                checked_libraries(task["libraries"])
        task_graph.check(tasks)
        with self.workspace.lock:
            for task in tasks:
                check_compute(task, keyed, self.workspace)
            check_specs(tasks, keyed, self.workspace)
            now = self.workspace.now()
            run_id = next(self._ids)
            job_id = run_id + 100000 if job_id is None else int(job_id)
            records = [self._task_record(task, job_id, now) for task in tasks]
            run = _run_record(run_id, job_id, run_name, user, run_type, int(now * 1000), records)
            self._begin(run, records, keyed, job_clusters)
            run.update(copy.deepcopy(dict(extra or {})))
            self._runs[run_id] = run
            self._index(run)
            self._advance(run)
            self._changed()
            return run_id

    def _changed(self) -> None:
        """Saved with the workspace (its ``on_change``): a run and the job clusters it made, together."""
        if self.workspace.on_change is not None:
            self.workspace.on_change()

    def _begin(
        self,
        run: dict[str, Any],
        records: list[dict[str, Any]],
        keyed: Mapping[str, Mapping[str, Any]],
        job_clusters: Sequence[Mapping[str, Any]],
    ) -> None:
        """Give a starting run's task ``records`` their compute (job clusters made now), their scenarios and
        their libraries asked for: the one start of every run, launched or let out of its queue."""
        self._place(records, keyed, user=run["creator_user_name"], job_id=int(run["job_id"]))
        for record in records:
            self._take_failure(record)
        self._ask_for_libraries(records)
        run["tasks"] = records
        if keyed:
            run["job_clusters"] = [
                {**copy.deepcopy(dict(entry)), "new_cluster": as_numbers(keyed[entry["job_cluster_key"]])}
                for entry in job_clusters
            ]
        run["state"] = {"life_cycle_state": "PENDING", "state_message": "Waiting for cluster"}

    def _task_record(self, task: Mapping[str, Any], job_id: int, now: float) -> dict[str, Any]:
        cluster_id = task.get("existing_cluster_id")
        record = {
            **copy.deepcopy(dict(task)),
            "run_id": next(self._ids),
            "job_id": job_id,
            "attempt_number": 0,
            "start_time": int(now * 1000),
            "end_time": 0,
            "state": {"life_cycle_state": "PENDING", "state_message": "Waiting for cluster"},
            "cluster_instance": {"cluster_id": cluster_id},
            "_cluster_id": cluster_id,
            "_ran_since": None,
        }
        if isinstance(record.get("new_cluster"), Mapping):
            record["new_cluster"] = as_numbers(record["new_cluster"])
        return record

    def _take_failure(self, record: dict[str, Any]) -> None:
        """A ``run_failure`` scenario for the task's cluster (by id, or a job cluster's name) fails its
        workload."""
        cluster_id = record["_cluster_id"]
        cluster = self._cluster(str(cluster_id)) if cluster_id else None
        failure = self.workspace.take_scenario("run_failure", cluster or {"cluster_id": cluster_id})
        record["_fail"] = (
            failure.get("message", "Workload failed, see run output for details") if failure else None
        )

    def _place(
        self, records: list[dict[str, Any]], keyed: Mapping[str, Any], *, user: str, job_id: int
    ) -> None:
        """Make the run's job clusters (one per ``new_cluster``, one per key used) and put each task on
        its cluster."""
        shared: dict[str, str] = {}
        for record in records:
            key = record.get("job_cluster_key")
            spec = record.get("new_cluster")
            if key is None and spec is None:
                continue
            if key is not None and key in shared:
                cluster_id = shared[key]
            else:
                cluster_id = create_job_cluster(
                    self.workspace,
                    keyed[key] if key is not None else dict(spec or {}),
                    user=user,
                    job_id=job_id,
                    task_run_id=int(record["run_id"]),
                )
                if key is not None:
                    shared[key] = cluster_id
            record["_cluster_id"] = cluster_id
            record["_job_cluster"] = True
            record["cluster_instance"] = {"cluster_id": cluster_id}

    def _ask_for_libraries(self, records: list[dict[str, Any]]) -> None:
        """Each task's ``libraries`` are asked for on its cluster now, as ``libraries/install`` would:
        they install while the cluster is up, and the task runs once they have."""
        for record in records:
            if not record.get("libraries"):
                continue
            record["_libraries"] = checked_libraries(record["libraries"])
            cluster = self._cluster(str(record["_cluster_id"]))
            if cluster is not None:
                self.libraries.add(cluster, record["_libraries"])

    def _libraries_done(self, task: dict[str, Any], cluster: Mapping[str, Any], now: float) -> float | None:
        """When the task's libraries all ended their install on its (RUNNING) cluster; None while one has
        not. A failed one ends the task, FAILED with a message naming the library, as a workspace does."""
        wanted = task.get("_libraries")
        if not wanted:
            return now
        done = self.libraries.settled_at(cluster, wanted)
        if done is None:
            return None
        for status in self.libraries.statuses(cluster, wanted):
            if status["status"] == "FAILED":
                message = run_failure_message(status["library"], "\n".join(status.get("messages", [])))
                self._end(task, "INTERNAL_ERROR", "FAILED", message, done)
                return None
        return done

    def _index(self, run: Mapping[str, Any]) -> None:
        for index, task in enumerate(run["tasks"]):
            self._task_runs[int(task["run_id"])] = (int(run["run_id"]), index)
            if task.get("_job_cluster"):
                self._job_cluster_runs[str(task["_cluster_id"])] = int(run["run_id"])

    def _catch_up(self, cluster_id: str) -> None:
        """A job cluster is read: its run first comes up to now (ending the cluster if the run has ended).
        Not again while a run is being brought up to date: that reads its clusters itself."""
        run = self._runs.get(self._job_cluster_runs.get(cluster_id, -1))
        if run is not None and not self._advancing:
            self._advance(run)

    def _cluster(self, cluster_id: str) -> dict[str, Any] | None:
        try:
            return self.workspace.clusters_get({"cluster_id": cluster_id})
        except ApiError:
            return None

    @staticmethod
    def _end(task: dict[str, Any], life_cycle: str, result: str, message: str, at: float) -> None:
        task["state"] = {
            "life_cycle_state": life_cycle,
            "result_state": result,
            "state_message": message,
            "user_cancelled_or_timedout": False,
        }
        task["end_time"] = int(at * 1000)

    def _advance(self, run: dict[str, Any]) -> None:
        """Bring the run's tasks up to now (each may free the ones depending on it), end the job clusters
        whose tasks have all ended, and sum the tasks up into the run's state."""
        self._advancing += 1
        try:
            self._advance_run(run)
        finally:
            self._advancing -= 1

    def _advance_run(self, run: dict[str, Any]) -> None:
        if run["state"]["life_cycle_state"] in ENDED:
            return
        if "_queued" in run:
            # A queued job run starts when its job frees a slot: its owner (job_definitions.py) knows when.
            if self.on_queued is not None:
                self.on_queued(int(run["job_id"]))
            if "_queued" in run:
                return
        now = self.workspace.now()
        by_key = {str(task.get("task_key")): task for task in run["tasks"]}
        moved = True
        while moved:
            moved = False
            for task in run["tasks"]:
                if task["state"]["life_cycle_state"] in ENDED:
                    continue
                self._advance_task(task, by_key, run["creator_user_name"], now)
                moved = moved or task["state"]["life_cycle_state"] in ENDED
        self._end_job_clusters(run)
        self._sum_up(run)

    def _ready_at(self, task: dict[str, Any], by_key: Mapping[str, dict[str, Any]]) -> float | None:
        """When the task could start (every task it depends on succeeded); None while one has not ended.
        A dependency that did not succeed ends the task, SKIPPED, at once."""
        needed = [by_key[key] for key in task_graph.dependencies(task)]
        if not needed:
            return float(task["start_time"]) / 1000
        if any(dep["state"]["life_cycle_state"] not in ENDED for dep in needed):
            return None
        at = max(float(dep["end_time"]) for dep in needed) / 1000
        results = {dep["state"].get("result_state") for dep in needed}
        if results == {"SUCCESS"}:
            return at
        if results & {"CANCELED", "UPSTREAM_CANCELED"}:
            self._end(task, "SKIPPED", "UPSTREAM_CANCELED", UPSTREAM_CANCELED, at)
        else:
            self._end(task, "SKIPPED", "UPSTREAM_FAILED", UPSTREAM_FAILED, at)
        return None

    def _advance_task(
        self, task: dict[str, Any], by_key: Mapping[str, dict[str, Any]], user: str, now: float
    ) -> None:
        ready = self._ready_at(task, by_key)
        if ready is None:
            return
        cluster_id = str(task["_cluster_id"])
        cluster = self._cluster(cluster_id)
        if cluster is None:
            self._end(task, "INTERNAL_ERROR", "FAILED", f"Cluster {cluster_id} does not exist", now)
            return
        cluster_state = cluster["state"]
        reason = (cluster.get("termination_reason") or {}).get("code", "UNKNOWN")
        if task["_ran_since"] is None:
            if (
                cluster_state == "TERMINATED"
                and not task.get("_job_cluster")
                and not task.get("_started_cluster")
            ):
                # An all-purpose cluster a run needs is started for it.
                self.workspace.clusters_start({"cluster_id": cluster_id}, user=user)
                task["_started_cluster"] = True
                return
            if cluster_state in ("TERMINATING", "TERMINATED"):
                ran = self._last_ran(cluster_id)
                if ran is None or max(ready, ran[0]) >= ran[1]:
                    ended = self._newest(cluster_id, "TERMINATING", default=now)
                    self._end(task, "INTERNAL_ERROR", "FAILED", _not_started(task, cluster_id, reason), ended)
                    return
                began = max(ready, ran[0])  # it ran before the termination, seen only now
            elif cluster_state == "RUNNING":
                # It began when its cluster became RUNNING (or when it became ready, or its libraries
                # were installed), however late that is seen: emulated time may have jumped (a test
                # advancing the clock) since the last look.
                began = max(ready, self._newest(cluster_id, "RUNNING", default=ready))
                if task.get("_libraries"):
                    installed = self._libraries_done(task, cluster, now)
                    if installed is None:
                        return
                    began = max(began, installed)
            else:
                return
            task["_ran_since"] = began
            task["state"] = {"life_cycle_state": "RUNNING", "state_message": "In run"}
            task["cluster_instance"] = {"cluster_id": cluster_id, "spark_context_id": _context_id(cluster)}
            self.workspace.touch_cluster(cluster_id, at=began)
        started = float(task["_ran_since"])
        if cluster_state not in ("RUNNING", "RESIZING"):
            terminated = now
            if cluster_state in ("TERMINATING", "TERMINATED"):
                terminated = self._newest(cluster_id, "TERMINATING", default=now)
            if terminated < started + self.run_seconds:
                self._end(
                    task,
                    "INTERNAL_ERROR",
                    "FAILED",
                    f"Cluster {cluster_id} was terminated during the run. Reason: {reason}.",
                    terminated,
                )
                return
        if now >= started + self.run_seconds:
            self.workspace.touch_cluster(cluster_id, at=started + self.run_seconds)
            if task["_fail"]:
                self._end(task, "TERMINATED", "FAILED", str(task["_fail"]), started + self.run_seconds)
            else:
                self._end(task, "TERMINATED", "SUCCESS", "", started + self.run_seconds)

    def _end_job_clusters(self, run: dict[str, Any]) -> None:
        """Each job cluster whose tasks have all ended terminates, from when the last of them ended."""
        ends: dict[str, float] = {}
        for task in run["tasks"]:
            if not task.get("_job_cluster"):
                continue
            cluster_id = str(task["_cluster_id"])
            if task["state"]["life_cycle_state"] not in ENDED:
                ends[cluster_id] = -1.0
            elif ends.get(cluster_id, 0.0) >= 0:
                ends[cluster_id] = max(ends.get(cluster_id, 0.0), float(task["end_time"]) / 1000)
        released = run.setdefault("_released", [])
        for cluster_id, at in ends.items():
            if at >= 0 and cluster_id not in released:
                self.workspace.end_job_cluster(cluster_id, at)
                released.append(cluster_id)

    @staticmethod
    def _sum_up(run: dict[str, Any]) -> None:
        """The run's state from its tasks': ended when all have, failed when one did not succeed."""
        tasks = run["tasks"]
        cycles = [task["state"]["life_cycle_state"] for task in tasks]
        ran = [float(task["_ran_since"]) for task in tasks if task.get("_ran_since") is not None]
        if ran:
            run["setup_duration"] = int((min(ran) - run["start_time"] / 1000) * 1000)
        if not all(cycle in ENDED for cycle in cycles):
            if ran or any(cycle in ENDED for cycle in cycles):
                run["state"] = {"life_cycle_state": "RUNNING", "state_message": "In run"}
            return
        run["end_time"] = max(int(task["end_time"]) for task in tasks)
        if ran:
            run["execution_duration"] = int(run["end_time"] - min(ran) * 1000)
        failed = [task for task in tasks if task["state"].get("result_state") != "SUCCESS"]
        state = {
            "life_cycle_state": "INTERNAL_ERROR" if "INTERNAL_ERROR" in cycles else "TERMINATED",
            "result_state": "SUCCESS",
            "state_message": "",
            "user_cancelled_or_timedout": False,
        }
        if failed:
            first = next((t for t in failed if t["state"]["life_cycle_state"] != "SKIPPED"), failed[0])
            results = {task["state"].get("result_state") for task in failed}
            state["result_state"] = "CANCELED" if "CANCELED" in results else "FAILED"
            state["user_cancelled_or_timedout"] = bool(first["state"].get("user_cancelled_or_timedout"))
            message = str(first["state"]["state_message"])
            if len(tasks) > 1 and state["result_state"] == "FAILED":
                # As a workspace words a multi-task run's failure (seen in dagster issue 19715).
                message = f"Task {first.get('task_key')} failed with message: {message}"
                if any(task["state"]["life_cycle_state"] == "SKIPPED" for task in tasks):
                    message += " This caused all downstream tasks to get skipped."
            state["state_message"] = message
        run["state"] = state

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
            if "_queued" in run:
                # It starts when a run of its job ends and frees a slot: when the first of those next changes.
                moments = [
                    self.settles_at(other["run_id"])
                    for other in self._runs.values()
                    if other["job_id"] == run["job_id"]
                    and "_queued" not in other
                    and other["state"]["life_cycle_state"] not in ENDED
                ]
                return min((m for m in moments if m is not None), default=None)
            moments = [self._task_settles_at(task) for task in run["tasks"]]
            return min((m for m in moments if m is not None), default=None)

    def _task_settles_at(self, task: Mapping[str, Any]) -> float | None:
        """When a task next changes by itself: its end when running, its cluster's next change while it
        waits for it; None when ended or waiting for the tasks it depends on."""
        if task["state"]["life_cycle_state"] in ENDED:
            return None
        if task.get("_ran_since") is not None:
            return float(task["_ran_since"]) + self.run_seconds
        cluster_id = str(task["_cluster_id"])
        due = self.workspace.settles_at(cluster_id)
        if due is None and task.get("_libraries"):  # up: its libraries installing are what it waits on
            due = self.libraries.settles_at(cluster_id)
        return due

    def _last_ran(self, cluster_id: str) -> tuple[float, float] | None:
        """For a terminated cluster that was RUNNING right before its termination: when it became RUNNING
        and when the termination began. None when it terminated without running since its last start."""
        answer = self.workspace.clusters_events(
            {"cluster_id": cluster_id, "event_types": ["RUNNING", "TERMINATING"], "order": "DESC", "limit": 2}
        )
        events = answer["events"]
        if len(events) < 2 or [e["type"] for e in events] != ["TERMINATING", "RUNNING"]:
            return None
        return float(events[1]["timestamp"]) / 1000, float(events[0]["timestamp"]) / 1000

    def _newest(self, cluster_id: str, event_type: str, *, default: float) -> float:
        """When the cluster's newest event of ``event_type`` happened (``default`` without one)."""
        answer = self.workspace.clusters_events(
            {"cluster_id": cluster_id, "event_types": [event_type], "order": "DESC", "limit": 1}
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
        view = _public(run)
        view["tasks"] = [_public(task) for task in run["tasks"]]
        view["run_page_url"] = _page_url(base_url, run["job_id"], run["run_id"])
        if api_version == "2.0" and len(run["tasks"]) == 1:
            # Jobs 2.0 knew one task per run: its fields sit at the top, its cluster beside them.
            task = view.pop("tasks")[0]
            view["task"] = {kind: task[kind] for kind in TASK_KINDS if kind in task}
            view["cluster_spec"] = {
                k: task[k] for k in ("existing_cluster_id", "new_cluster", "libraries") if k in task
            }
            view["cluster_instance"] = task["cluster_instance"]
        return view

    def _task_view(self, run: Mapping[str, Any], index: int, base_url: str) -> dict[str, Any]:
        """A task's own run, as its ``runs/get-output`` metadata shows it."""
        task = _public(run["tasks"][index])
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
                state = run["tasks"][index]["state"]
            else:
                run = self._run(asked)
                if api_version != "2.0" or len(run["tasks"]) != 1:
                    raise invalid_parameter(MULTI_TASK_OUTPUT)
                self._advance(run)
                metadata = self._view(run, base_url, api_version)
                state = run["state"]
            answer: dict[str, Any] = {"metadata": metadata}
            if state.get("result_state") in ("FAILED", "UPSTREAM_FAILED"):
                answer["error"] = state["state_message"]
                answer["error_trace"] = f"Traceback (most recent call last):\n  {state['state_message']}"
            elif state.get("result_state") == "SUCCESS":
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
            if run["state"]["life_cycle_state"] not in ENDED:
                now = self.workspace.now()
                for task in run["tasks"]:
                    if task["state"]["life_cycle_state"] not in ENDED:
                        self._end(task, "TERMINATED", "CANCELED", "Run cancelled.", now)
                        task["state"]["user_cancelled_or_timedout"] = True
                self._advance_ended(run)
                self._changed()
            return {}

    def _advance_ended(self, run: dict[str, Any]) -> None:
        """A run whose tasks were all just ended from outside: its job clusters go, its state follows."""
        self._end_job_clusters(run)
        self._sum_up(run)

    def all_runs(self, base_url: str | None = None) -> list[dict[str, Any]]:
        """Every run as ``runs/get`` answers it (for assertions and the demo), its page URLs on
        ``base_url`` (default the server's own address)."""
        with self.workspace.lock:
            for run in self._runs.values():
                self._advance(run)
            base = self.base_url if base_url is None else base_url
            return [self._view(run, base, "2.1") for run in self._runs.values()]

    # -- what a job's runs need besides (``job_definitions.py``) ------------------------------------------

    def hold(
        self,
        tasks: Sequence[Mapping[str, Any]],
        *,
        run_name: str,
        user: str,
        job_id: int,
        message: str,
        queued: bool,
        job_clusters: Sequence[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a job's run beyond its ``max_concurrent_runs``, no cluster touched; its run id. SKIPPED at
        once with ``message``, or ``queued``: QUEUED until ``start_queued``."""
        with self.workspace.lock:
            at = int(self.workspace.now() * 1000)
            ended = 0 if queued else at
            state = {
                "life_cycle_state": "QUEUED" if queued else "SKIPPED",
                "state_message": message,
                "user_cancelled_or_timedout": False,
            }
            run_id = next(self._ids)
            records = [
                {
                    **copy.deepcopy(dict(task)),
                    "run_id": next(self._ids),
                    "job_id": job_id,
                    "attempt_number": 0,
                    "start_time": at,
                    "end_time": ended,
                    "state": dict(state),
                    "cluster_instance": {"cluster_id": task.get("existing_cluster_id")},
                    "_cluster_id": task.get("existing_cluster_id"),
                    "_ran_since": None,
                    "_fail": None,
                }
                for task in tasks
            ]
            run = _run_record(run_id, job_id, run_name, user, "JOB_RUN", at, records)
            run.update(end_time=ended, state=state, **copy.deepcopy(dict(extra or {})))
            if queued:
                run["_queued"] = {
                    "tasks": [copy.deepcopy(dict(task)) for task in tasks],
                    "job_clusters": [copy.deepcopy(dict(entry)) for entry in job_clusters],
                }
            self._runs[run_id] = run
            self._index(run)
            self._changed()
            return run_id

    def start_queued(self, run_id: int, at: float) -> None:
        """A QUEUED run starts, as if at ``at`` (when its job freed a slot): its tasks get their compute (job
        clusters made now) and run as a launched run's do."""
        with self.workspace.lock:
            run = self._runs[run_id]
            queued = run.pop("_queued")
            at = max(at, float(run["start_time"]) / 1000)
            records = []
            for held, task in zip(run["tasks"], queued["tasks"], strict=True):
                record = self._task_record(task, int(run["job_id"]), at)
                record["run_id"] = held["run_id"]
                records.append(record)
            try:
                # Checked again, all before any is made: its policy may have changed while the run waited.
                keyed = checked_job_clusters(queued["job_clusters"] or None)
                check_specs(queued["tasks"], keyed, self.workspace)
            except ApiError as error:
                # Too late to refuse the run-now: the run ends, as a workspace ends a run whose cluster it
                # cannot create, and nothing is made.
                for record in records:
                    self._end(record, "INTERNAL_ERROR", "FAILED", f"{CLUSTER_INVALID}: {error.message}", at)
                run["tasks"] = records
                self._sum_up(run)
            else:
                self._begin(run, records, keyed, queued["job_clusters"])
                self._index(run)
                self._advance(run)
            self._changed()

    def is_queued(self, run_id: Any) -> bool:
        """Whether the run waits in its job's queue (read as it stands: nothing is brought up to date)."""
        with self.workspace.lock:
            run = self._runs.get(_run_id(run_id))
            return run is not None and "_queued" in run and run["state"]["life_cycle_state"] == "QUEUED"

    def ended_at(self, run_id: Any) -> float | None:
        """When the run ended (brought up to date first); None while it has not, or if there is no such run
        (a deleted run's end has passed: 0)."""
        with self.workspace.lock:
            run = self._runs.get(_run_id(run_id))
            if run is None:
                return 0.0
            self._advance(run)
            if run["state"]["life_cycle_state"] not in ENDED:
                return None
            return float(run["end_time"]) / 1000

    def exists(self, run_id: Any) -> bool:
        """Whether the workspace holds the run (not deleted)."""
        with self.workspace.lock:
            return _run_id(run_id) in self._runs

    def delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``runs/delete``: a run that has ended goes, with its tasks' runs; an active one is refused (the
        workspace deletes only non-active runs)."""
        with self.workspace.lock:
            run = self._run(one(body.get("run_id")))
            self._advance(run)
            if run["state"]["life_cycle_state"] not in ENDED:
                raise invalid_state(
                    f"Run {run['run_id']} is {run['state']['life_cycle_state']}: only a run that has ended "
                    "can be deleted; cancel it first (jobs/runs/cancel)."
                )
            del self._runs[int(run["run_id"])]
            for task in run["tasks"]:
                self._task_runs.pop(int(task["run_id"]), None)
                if task.get("_job_cluster"):
                    self._job_cluster_runs.pop(str(task["_cluster_id"]), None)
            self._changed()
            return {}

    def count(self) -> int:
        """How many runs the workspace holds."""
        with self.workspace.lock:
            return len(self._runs)

    def to_json(self) -> dict[str, Any]:
        with self.workspace.lock:
            following = next(self._ids)
            self._ids = itertools.count(following)
            return {
                "runs": {str(key): copy.deepcopy(run) for key, run in self._runs.items()},
                # Kept, so that a restart never gives a deleted run's id (which a token may name) to another.
                "next_run_id": following,
                "idempotency_tokens": dict(self._tokens),
            }

    def load_json(self, data: Mapping[str, Any]) -> None:
        """What ``to_json`` wrote, or a file from before it kept more than the runs (``{run_id: run}``)."""
        runs = data["runs"] if "next_run_id" in data else data
        self._runs = {int(key): copy.deepcopy(dict(run)) for key, run in runs.items()}
        self._tokens = {str(k): int(v) for k, v in data.get("idempotency_tokens", {}).items()}
        self._task_runs = {}
        self._job_cluster_runs = {}
        for run in self._runs.values():
            first = run["tasks"][0].get("existing_cluster_id")
            for task in run["tasks"]:  # a file saved before tasks carried these
                task.setdefault("job_id", run["job_id"])
                task.setdefault("start_time", run["start_time"])
                task.setdefault("end_time", run["end_time"])
                task.setdefault("cluster_instance", {"cluster_id": task.get("existing_cluster_id")})
                # Before tasks had their own compute and state, every task ran on tasks[0]'s cluster.
                task.setdefault("_cluster_id", first)
                task.setdefault("state", copy.deepcopy(run["state"]))
                for key in ("_ran_since", "_fail", "_started_cluster"):
                    task.setdefault(key, run.get(key))
            for key in ("_ran_since", "_fail", "_started_cluster"):
                run.pop(key, None)
            self._index(run)
        first = max([*self._runs, *self._task_runs], default=1000) + 1
        self._ids = itertools.count(max(first, int(data.get("next_run_id", first))))


def _run_record(
    run_id: int,
    job_id: int,
    run_name: str,
    user: str,
    run_type: str,
    start_ms: int,
    tasks: list[dict[str, Any]],
) -> dict[str, Any]:
    """A new run's record, not yet ended: ``number_in_job`` is its run id, as a workspace numbers them."""
    return {
        "run_id": run_id,
        "job_id": job_id,
        "number_in_job": run_id,
        "run_name": run_name,
        "creator_user_name": user,
        "run_type": run_type,
        "start_time": start_ms,
        "setup_duration": 0,
        "execution_duration": 0,
        "cleanup_duration": 0,
        "end_time": 0,
        "tasks": tasks,
    }


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run or task record without the emulator's own (``_``) keys."""
    return {key: copy.deepcopy(value) for key, value in record.items() if not key.startswith("_")}


def _not_started(task: Mapping[str, Any], cluster_id: str, reason: str) -> str:
    """Why a task failed because its cluster ended before it ran."""
    if task.get("_job_cluster"):
        # A job cluster that failed to start, as a workspace words it (seen in prefect-databricks PR 13).
        return (
            f"Unexpected failure while waiting for the cluster ({cluster_id}) to be ready: Cluster "
            f"{cluster_id} is in unexpected state Terminated: {reason}."
        )
    return f"Cluster {cluster_id} was terminated. Reason: {reason}."


def _context_id(cluster: Mapping[str, Any]) -> str:
    """The Spark context a task ran in: one per start of its cluster."""
    started = int(cluster.get("start_time") or 0)
    digest = hashlib.sha256(f"{cluster['cluster_id']}/{started}".encode()).hexdigest()
    return str(int(digest[:15], 16))


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
