"""Jobs: saved job definitions (``jobs/create``, ``get``, ``list``, ``reset``, ``update``, ``delete``) and
their runs (``jobs/run-now``, through the runs model of ``jobs.py``).

A job is held by id (``get``, ``reset``, ``update``, ``delete`` and ``run-now`` cost the same however many
jobs there are) and indexed by its lower-cased name, so ``list``'s ``name`` filter (an exact match that
ignores case, as the service's) reads only the jobs of that name. ``list`` pages newest first behind
``page_token`` (or the deprecated ``offset``); Jobs 2.0 lists every job at once.

``run-now`` starts a ``JOB_RUN`` of the job's tasks with the parameters given (``job_parameters``, or the
legacy per-kind ones applied to the tasks of that kind). A job already running ``max_concurrent_runs``
runs gets a ``QUEUED`` run if it queues (a 2.2 job does by default), started when a run of the job ends;
else a run ``SKIPPED`` at once, with the service's message. An ``idempotency_token`` seen before answers
the run it started.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
from collections.abc import Callable, Mapping
from typing import Any

from airflow_databricks_clusters.emulator import job_settings
from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, malformed_request
from airflow_databricks_clusters.emulator.job_clusters import check_spec
from airflow_databricks_clusters.emulator.jobs import Runs
from airflow_databricks_clusters.emulator.request_params import integer, one, paged
from airflow_databricks_clusters.emulator.validation import check_idempotency_token
from airflow_databricks_clusters.emulator.workspace import DEFAULT_USER, Workspace

#: ``jobs/list``: the default page, and the most a page holds, per API version (2.0 does not page).
LIST_DEFAULT_JOBS = 20
LIST_MAX_JOBS = {"2.1": 25, "2.2": 100}
#: Jobs 2.2 answers at most this many entries of each array of a job (``tasks``, ``job_clusters``,
#: ``parameters``, ``environments``) per ``jobs/get`` page, and in ``jobs/list`` with ``expand_tasks``.
ARRAY_PAGE = 100
PAGED_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
#: A run beyond ``max_concurrent_runs``: the service's words when it is skipped (databricks/cli PR 257),
#: the emulator's when it is queued.
SKIPPED = "Skipping this run because the limit of {limit} maximum concurrent runs has been reached."
QUEUED = "Queued: the job is already running its maximum of {limit} concurrent runs."
#: The first job id: job ids are large numbers in a workspace, apart from the one-time runs' own.
FIRST_JOB_ID = 10**12 + 1
#: run-now's legacy parameters: which task kind each applies to, and which field of it it sets.
LEGACY_PARAMETERS = {
    "notebook_params": ("notebook_task", "base_parameters"),
    "python_params": ("spark_python_task", "parameters"),
    "jar_params": ("spark_jar_task", "parameters"),
    "spark_submit_params": ("spark_submit_task", "parameters"),
    "python_named_params": ("python_wheel_task", "named_parameters"),
}
#: ``python_params`` is for "jobs with Python tasks" (databricks-sdk's words): the emulator applies it to a
#: wheel task's positional parameters too.
_ALSO = {"python_params": ("python_wheel_task", "parameters")}


class Jobs:
    """The saved jobs of a workspace, and their runs (held by ``runs``)."""

    def __init__(self, workspace: Workspace, runs: Runs) -> None:
        self.workspace = workspace
        self.runs = runs
        #: Called after every change (the emulator saves its state file).
        self.on_change: Callable[[], None] | None = None
        self._jobs: dict[int, dict[str, Any]] = {}
        #: lower-cased name -> ids of the jobs of that name
        self._by_name: dict[str, set[int]] = {}
        #: job id -> ids of its runs that had not ended when last looked at
        self._active: dict[int, set[int]] = {}
        #: run-now idempotency token -> the run it started
        self._tokens: dict[str, int] = {}
        #: job id -> its QUEUED runs, first queued first
        self._queues: dict[int, list[int]] = {}
        self._releasing: set[int] = set()
        runs.on_queued = self._release
        self._ids = itertools.count(FIRST_JOB_ID)

    # -- definitions ---------------------------------------------------------------------------------------

    def create(
        self, body: Mapping[str, Any], *, user: str = DEFAULT_USER, api_version: str = "2.2"
    ) -> dict[str, Any]:
        settings = self._checked(_queue_default(job_settings.from_request(body), api_version))
        with self.workspace.lock:
            job_id = next(self._ids)
            self._jobs[job_id] = {
                "job_id": job_id,
                "creator_user_name": user,
                "run_as_user_name": user,
                "created_time": int(self.workspace.now() * 1000),
                "settings": settings,
            }
            self._name(job_id, settings["name"])
            self._changed()
            return {"job_id": job_id}

    def get(self, params: Mapping[str, Any], *, api_version: str = "2.2") -> dict[str, Any]:
        with self.workspace.lock:
            job = self._job(one(params.get("job_id")))
            view = self._view(job, api_version)
        if api_version != "2.2":
            return view
        page = _page_number(one(params.get("page_token")), job["job_id"])
        settings = view["settings"]
        more = False
        for name in PAGED_ARRAYS:
            if isinstance(settings.get(name), list):
                entries = settings[name]
                settings[name] = entries[page * ARRAY_PAGE : (page + 1) * ARRAY_PAGE]
                more = more or len(entries) > (page + 1) * ARRAY_PAGE
        if more:
            view["next_page_token"] = _page_token(job["job_id"], page + 1)
        return view

    def list_jobs(self, params: Mapping[str, Any], *, api_version: str = "2.2") -> dict[str, Any]:
        """``jobs/list``: newest first, by exact name (any case) if ``name`` is given; a page at a time
        from 2.1 (``limit``, ``page_token`` or ``offset``); tasks and job clusters only with
        ``expand_tasks``."""
        expand = _flag(params, "expand_tasks")
        name = one(params.get("name"))
        if api_version == "2.0":
            limit, offset, token = 0, 0, None
        else:
            most = LIST_MAX_JOBS[api_version]
            limit = integer(one(params.get("limit")), "limit", default=0) or LIST_DEFAULT_JOBS
            if not 1 <= limit <= most:
                raise invalid_parameter(f"Invalid limit {limit}: must be from 1 to {most}.")
            offset = integer(one(params.get("offset")), "offset", default=0)
            if offset < 0:
                raise invalid_parameter(f"Invalid offset {offset}: must be 0 or more.")
            token = params.get("page_token")
        with self.workspace.lock:
            if name:
                ids = sorted(self._by_name.get(str(name).lower(), ()), reverse=True)
                jobs = [self._jobs[job_id] for job_id in ids]
            else:
                jobs = list(reversed(self._jobs.values()))
            if api_version == "2.0":
                chosen, following, preceding = jobs, "", ""
            else:
                chosen, following, preceding = paged(
                    jobs, _newest_first, token, limit, descending=True, list_name="jobs", offset=offset
                )
            page = [self._view(job, api_version) for job in chosen]
        for view in page:
            settings = view["settings"]
            if not expand:
                for array in ("tasks", "job_clusters"):
                    settings.pop(array, None)
            elif api_version == "2.2":
                long = [a for a in PAGED_ARRAYS if len(settings.get(a) or []) > ARRAY_PAGE]
                for array in long:
                    settings[array] = settings[array][:ARRAY_PAGE]
                view["has_more"] = bool(long)
        answer: dict[str, Any] = {}
        if page:
            answer["jobs"] = page
        if api_version == "2.1":  # 2.2 answers only the tokens; 2.0 did not page
            answer["has_more"] = bool(following)
        if following:
            answer["next_page_token"] = following
        if preceding:
            answer["prev_page_token"] = preceding
        return answer

    def reset(self, body: Mapping[str, Any], *, api_version: str = "2.2") -> dict[str, Any]:
        """``jobs/reset``: ``new_settings`` replace every setting of the job."""
        new_settings = body.get("new_settings")
        if new_settings is None:
            raise invalid_parameter("Missing required field: new_settings")
        with self.workspace.lock:
            job = self._job(body.get("job_id"))
            self._replace(
                job,
                self._checked(
                    _queue_default(job_settings.from_request(new_settings), api_version), "new_settings."
                ),
            )
            return {}

    def update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``jobs/update``: see ``job_settings.updated``."""
        with self.workspace.lock:
            job = self._job(body.get("job_id"))
            merged = job_settings.updated(
                job["settings"], body.get("new_settings"), body.get("fields_to_remove")
            )
            self._replace(job, self._checked(merged, "new_settings."))
            return {}

    def delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``jobs/delete``. Its runs stay readable by run id; those still queued are cancelled, those
        running are left to end."""
        with self.workspace.lock:
            job = self._job(body.get("job_id"))
            del self._jobs[job["job_id"]]
            self._active.pop(job["job_id"], None)
            for run_id in self._queues.pop(job["job_id"], []):
                if self.runs.is_queued(run_id):
                    self.runs.cancel({"run_id": run_id})
            self._unname(job["job_id"], job["settings"]["name"])
            self._changed()
            return {}

    # -- runs ----------------------------------------------------------------------------------------------

    def run_now(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        if body.get("job_id") is None:
            raise invalid_parameter("Missing required field: job_id")
        token = body.get("idempotency_token")
        check_idempotency_token(token)
        with self.workspace.lock:
            job = self._job(body.get("job_id"))
            settings = job["settings"]
            given, overriding = _parameters(body, settings)
            if token is not None and token in self._tokens:
                run_id = self._tokens[token]
                if not self.runs.exists(run_id):
                    raise invalid_parameter(
                        f"The run started with idempotency_token {token!r} (run {run_id}) was deleted."
                    )
                return {"run_id": run_id, "number_in_job": run_id}
            tasks = [_with_parameters(task, overriding) for task in settings.get("tasks") or []]
            if not tasks:
                raise invalid_parameter(f"Job {job['job_id']} has no tasks to run.")
            extra: dict[str, Any] = {}
            if given is not None:
                extra["job_parameters"] = given
            if overriding:
                extra["overriding_parameters"] = overriding
            limit = int(settings.get("max_concurrent_runs", 1))
            self._release(job["job_id"])
            waiting = self._queues.get(job["job_id"])
            if waiting or len(self._active.get(job["job_id"], ())) >= limit:
                queued = (settings.get("queue") or {}).get("enabled") is True
                run_id = self.runs.hold(
                    tasks,
                    run_name=settings["name"],
                    user=user,
                    job_id=job["job_id"],
                    message=(QUEUED if queued else SKIPPED).format(limit=limit),
                    queued=queued,
                    job_clusters=settings.get("job_clusters") or (),
                    extra=extra,
                )
                if queued:
                    self._queues.setdefault(job["job_id"], []).append(run_id)
            else:
                run_id = self.runs.launch(
                    tasks,
                    job_clusters=settings.get("job_clusters") or (),
                    run_name=settings["name"],
                    user=user,
                    run_type="JOB_RUN",
                    job_id=job["job_id"],
                    extra=extra,
                )
                self._active.setdefault(job["job_id"], set()).add(run_id)
            if token is not None:
                self._tokens[token] = run_id
            self._changed()
            return {"run_id": run_id, "number_in_job": run_id}

    def cancel_all(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``runs/cancel-all``: every run of ``job_id`` that has not ended, queued ones too, is cancelled;
        without ``job_id``, ``all_queued_runs`` cancels every queued run of the workspace."""
        if body.get("job_id") is None and not body.get("all_queued_runs"):
            raise invalid_parameter("Missing required field: job_id (or all_queued_runs)")
        with self.workspace.lock:
            if body.get("job_id") is not None:
                job_id = self._job(body["job_id"])["job_id"]
                doomed = [*self._queues.pop(job_id, []), *sorted(self._active.pop(job_id, set()))]
            else:
                doomed = [run_id for queue in self._queues.values() for run_id in queue]
                self._queues = {}
            for run_id in doomed:
                if self.runs.exists(run_id):
                    self.runs.cancel({"run_id": run_id})
            self._changed()
            return {}

    def _release(self, job_id: int) -> None:
        """Start the job's queued runs whose turn has come: each takes the slot of a run of the job that
        ended (from when it ended) or a slot free already; first queued, first started."""
        if job_id in self._releasing:
            return  # reading the job's runs below reads this job's queue again
        self._releasing.add(job_id)
        try:
            freed: list[float] = []  # when the job's runs that ended freed their slots
            while True:
                active = self._active.setdefault(job_id, set())
                for run_id in list(active):
                    ended = self.runs.ended_at(run_id)
                    if ended is not None:
                        active.discard(run_id)
                        freed.append(ended)
                queue = self._queues.get(job_id, [])
                while queue and not self.runs.is_queued(queue[0]):
                    queue.pop(0)  # cancelled while queued
                job = self._jobs.get(job_id)
                slots = (int(job["settings"].get("max_concurrent_runs", 1)) if job else 1) - len(active)
                if not queue:
                    self._queues.pop(job_id, None)
                if not queue or slots <= 0:
                    return
                # The slot free longest: one free before any of these runs ended, else the first to end.
                freed.sort()
                at = freed.pop(0) if len(freed) >= slots else 0.0
                started = queue.pop(0)
                self.runs.start_queued(started, at)
                active.add(started)
        finally:
            self._releasing.discard(job_id)

    # -- the state file ------------------------------------------------------------------------------------

    def count(self) -> int:
        """How many jobs the workspace holds."""
        with self.workspace.lock:
            return len(self._jobs)

    def to_json(self) -> dict[str, Any]:
        with self.workspace.lock:
            return {
                "jobs": [copy.deepcopy(job) for job in self._jobs.values()],
                "active": {str(job_id): sorted(runs) for job_id, runs in self._active.items() if runs},
                "idempotency_tokens": dict(self._tokens),
                "queues": {str(job_id): list(runs) for job_id, runs in self._queues.items() if runs},
                "next_job_id": self._peek_id(),
            }

    def load_json(self, data: Mapping[str, Any]) -> None:
        with self.workspace.lock:
            self._jobs = {int(job["job_id"]): copy.deepcopy(dict(job)) for job in data.get("jobs", [])}
            self._by_name = {}
            for job_id, job in self._jobs.items():
                self._name(job_id, job["settings"]["name"])
            self._active = {int(k): {int(r) for r in v} for k, v in data.get("active", {}).items()}
            self._tokens = {str(k): int(v) for k, v in data.get("idempotency_tokens", {}).items()}
            self._queues = {int(k): [int(r) for r in v] for k, v in data.get("queues", {}).items()}
            first = max([FIRST_JOB_ID - 1, *self._jobs]) + 1
            self._ids = itertools.count(max(first, int(data.get("next_job_id", first))))

    # -- helpers -------------------------------------------------------------------------------------------

    def _peek_id(self) -> int:
        following = next(self._ids)
        self._ids = itertools.count(following)
        return following

    def _checked(self, settings: Any, path: str = "") -> dict[str, Any]:
        return job_settings.checked(settings, lambda spec: check_spec(self.workspace, spec), path=path)

    def _job(self, job_id: Any) -> dict[str, Any]:
        if job_id is None:
            raise invalid_parameter("Missing required field: job_id")
        try:
            number = integer(one(job_id), "job_id", default=-1)
        except ApiError:
            raise malformed_request(
                f"Could not parse request object: Expected an integer for field job_id, found {job_id!r}"
            ) from None
        job = self._jobs.get(number)
        if job is None:
            raise invalid_parameter(f"Job {one(job_id)} does not exist.")
        return job

    def _replace(self, job: dict[str, Any], settings: dict[str, Any]) -> None:
        self._unname(job["job_id"], job["settings"]["name"])
        job["settings"] = settings
        self._name(job["job_id"], settings["name"])
        self._changed()

    def _name(self, job_id: int, name: str) -> None:
        self._by_name.setdefault(name.lower(), set()).add(job_id)

    def _unname(self, job_id: int, name: str) -> None:
        ids = self._by_name.get(name.lower(), set())
        ids.discard(job_id)
        if not ids:
            self._by_name.pop(name.lower(), None)

    def _view(self, job: Mapping[str, Any], api_version: str) -> dict[str, Any]:
        view = copy.deepcopy(dict(job))
        if api_version == "2.0":
            view["settings"] = job_settings.legacy_view(view["settings"])
        return view

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def _parameters(
    body: Mapping[str, Any], settings: Mapping[str, Any]
) -> tuple[list[dict[str, Any]] | None, dict[str, Any]]:
    """run-now's parameters, checked: the run's ``job_parameters`` (every job parameter, its default or the
    value given) or None for a job that has none and was given none; and the legacy parameters given."""
    legacy = {name: body[name] for name in LEGACY_PARAMETERS if body.get(name) is not None}
    for name, value in legacy.items():
        kind = dict if name in ("notebook_params", "python_named_params") else list
        job_settings.expect(value, kind, name)
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            job_settings.expect(item, str, f"{name}[{key}]" if kind is list else f"{name}.{key}")
    values = body.get("job_parameters")
    defined = settings.get("parameters") or []
    if legacy and (values is not None or defined):
        raise invalid_parameter(
            f"{', '.join(legacy)} cannot be used with job parameters: "
            + (
                "job_parameters is given."
                if values is not None
                else "the job defines parameters; give job_parameters."
            )
        )
    if values is None and not defined:
        return None, legacy
    if values is not None:
        job_settings.expect(values, dict, "job_parameters")
    given = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (values or {}).items()}
    run_parameters = [
        {
            "name": p["name"],
            "default": p["default"],
            **({"value": given.pop(p["name"])} if p["name"] in given else {}),
        }
        for p in defined
    ]
    # A name the job does not define is kept for the run, as the service passes it on.
    run_parameters += [{"name": name, "value": value} for name, value in given.items()]
    return run_parameters, legacy


def _with_parameters(task: Mapping[str, Any], legacy: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the task with the legacy parameters of its kind applied: ``notebook_params`` and
    ``python_named_params`` merge over the task's own, the lists replace them."""
    copied = copy.deepcopy(dict(task))
    for name, value in legacy.items():
        for kind, field in (LEGACY_PARAMETERS[name], *([_ALSO[name]] if name in _ALSO else [])):
            if kind in copied:
                spec = copied[kind]
                spec[field] = {**spec.get(field, {}), **value} if isinstance(value, dict) else list(value)
    return copied


def _queue_default(settings: dict[str, Any], api_version: str) -> dict[str, Any]:
    """Jobs 2.2 queues a job's runs beyond ``max_concurrent_runs`` unless told not to; 2.0 and 2.1 do not
    unless told to."""
    if api_version == "2.2" and isinstance(settings, dict) and settings.get("queue") is None:
        settings["queue"] = {"enabled": True}
    return settings


def _newest_first(job: Mapping[str, Any]) -> tuple[int, int]:
    return int(job["created_time"]), int(job["job_id"])


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = one(params.get(name))
    return value is True or str(value).lower() == "true"


def _page_token(job_id: int, page: int) -> str:
    data = json.dumps({"list": "jobs/get", "job_id": job_id, "page": page}).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _page_number(token: Any, job_id: int) -> int:
    """The page of a job's arrays a ``jobs/get`` ``page_token`` names (0 without one)."""
    if token is None or token == "":
        return 0
    try:
        text = str(token)
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if data["list"] == "jobs/get" and data["job_id"] == job_id and int(data["page"]) > 0:
            return int(data["page"])
    except (ValueError, KeyError, TypeError):
        pass
    raise invalid_parameter(f"Invalid page_token {str(token)[:40]!r}: not a token of this job.")
