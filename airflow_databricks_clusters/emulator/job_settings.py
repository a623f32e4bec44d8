"""A job's settings as the Jobs API takes them: checked field by field, completed with the service's
defaults, changed by ``jobs/update`` (``new_settings`` merged, ``fields_to_remove``), and shown in the
legacy single-task shape of Jobs 2.0.

Every refusal names the field (``tasks[1].task_key``) and what it allows. Settings the emulator does not
act on (``schedule``, ``email_notifications``, ``queue``, ``run_as`` ...) are kept as given and answered
back, as a workspace keeps them; keys it does not know are kept too, as ``runs/submit`` does here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, malformed_request
from airflow_databricks_clusters.emulator.job_clusters import COMPUTE_FIELDS, NO_COMPUTE
from airflow_databricks_clusters.emulator.jobs import TASK_KINDS
from airflow_databricks_clusters.emulator.library_spec import checked_library
from airflow_databricks_clusters.emulator.request_params import integer

#: The task kinds the emulator can run (the runs model's).
RUNNABLE_KINDS = TASK_KINDS
#: Fields of the Jobs 2.0 single-task form that belong to its one task.
LEGACY_TASK_FIELDS = (
    *RUNNABLE_KINDS,
    "existing_cluster_id",
    "new_cluster",
    "libraries",
    "max_retries",
    "min_retry_interval_millis",
    "retry_on_timeout",
)
#: The task key a job created in the single-task form has (``runs/submit`` uses the same).
LEGACY_TASK_KEY = "task"
#: Arrays ``jobs/update`` merges entry by entry, by these keys.
MERGED_ARRAYS = {"tasks": "task_key", "job_clusters": "job_cluster_key"}
#: The Jobs API's limits.
MAX_TASKS = 1000
MAX_JOB_CLUSTERS = 100
MAX_TAGS = 25
MAX_CONCURRENT_RUNS = 1000
MAX_NAME = 4096
MAX_TAG_KEY = 127
MAX_TAG_VALUE = 255
_KEY = re.compile(r"^[\w\-]{1,100}$")
_PARAMETER_NAME = re.compile(r"^[\w\-.]{1,255}$")
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer"}

ClusterCheck = Callable[[Mapping[str, Any]], object]


def from_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a ``jobs/create`` body holds: itself, or for the Jobs 2.0 single-task form (task fields
    at the top level, no ``tasks``) its one task moved into ``tasks``, marked ``format: SINGLE_TASK``."""
    settings = {key: copy.deepcopy(value) for key, value in body.items() if key != "access_control_list"}
    if "tasks" not in settings and any(kind in settings for kind in RUNNABLE_KINDS):
        task = {key: settings.pop(key) for key in LEGACY_TASK_FIELDS if key in settings}
        settings["tasks"] = [{"task_key": LEGACY_TASK_KEY, **task}]
        settings.setdefault("format", "SINGLE_TASK")
    return settings


def checked(settings: Any, check_cluster: ClusterCheck, *, path: str = "") -> dict[str, Any]:
    """``settings`` checked and completed with the service's defaults; ApiError naming the first bad field.

    ``check_cluster`` checks a ``new_cluster`` spec (``clusters/create``'s rules) and raises ApiError."""
    expect(settings, dict, path.rstrip(".") or "settings")
    settings = {key: copy.deepcopy(value) for key, value in settings.items() if value is not None}
    name = settings.setdefault("name", "Untitled")
    expect(name, str, f"{path}name")
    if len(name) > MAX_NAME:
        raise invalid_parameter(f"Invalid {path}name: at most {MAX_NAME} characters, {len(name)} given.")
    settings["max_concurrent_runs"] = _bounded(
        settings, "max_concurrent_runs", 1, 0, MAX_CONCURRENT_RUNS, path
    )
    settings["timeout_seconds"] = _bounded(settings, "timeout_seconds", 0, 0, None, path)
    _check_tags(settings.get("tags"), path)
    _check_parameters(settings.get("parameters"), path)
    clusters = _check_job_clusters(settings.get("job_clusters"), check_cluster, path)
    _check_tasks(settings.get("tasks"), clusters, check_cluster, path)
    fmt = settings.setdefault("format", "MULTI_TASK")
    if fmt not in ("SINGLE_TASK", "MULTI_TASK"):
        raise invalid_parameter(f"Invalid {path}format {fmt!r}: one of SINGLE_TASK, MULTI_TASK.")
    settings.setdefault("email_notifications", {})
    return settings


def updated(current: Mapping[str, Any], new_settings: Any, fields_to_remove: Any) -> dict[str, Any]:
    """``jobs/update``: ``new_settings``' top-level fields replace the current ones, except ``tasks`` and
    ``job_clusters``, merged entry by entry on their keys; then ``fields_to_remove`` drops top-level fields
    and, as ``tasks/<task_key>`` or ``job_clusters/<job_cluster_key>``, single entries."""
    if new_settings is not None:
        expect(new_settings, dict, "new_settings")
    if fields_to_remove is not None:
        expect(fields_to_remove, list, "fields_to_remove")
    settings = copy.deepcopy(dict(current))
    for key, value in (new_settings or {}).items():
        if key in MERGED_ARRAYS and isinstance(value, list) and isinstance(settings.get(key), list):
            settings[key] = _merged(settings[key], value, MERGED_ARRAYS[key])
        else:
            settings[key] = copy.deepcopy(value)
    for index, field in enumerate(fields_to_remove or []):
        expect(field, str, f"fields_to_remove[{index}]")
        array, _, entry = field.partition("/")
        if entry and array in MERGED_ARRAYS:
            key = MERGED_ARRAYS[array]
            kept = [item for item in settings.get(array) or [] if item.get(key) != entry]
            if len(kept) == len(settings.get(array) or []):
                raise invalid_parameter(f"Invalid fields_to_remove[{index}] {field!r}: no such {key}.")
            settings[array] = kept
        elif entry or field in ("name", "format"):
            raise invalid_parameter(
                f"Invalid fields_to_remove[{index}] {field!r}: a top-level field other than name and "
                "format, or tasks/<task_key> or job_clusters/<job_cluster_key>."
            )
        else:
            settings.pop(field, None)
    return settings


def legacy_view(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as Jobs 2.0 shows them: a single-task job's task fields back at the top level."""
    view = copy.deepcopy(dict(settings))
    tasks = view.get("tasks") or []
    if view.get("format") == "SINGLE_TASK" and len(tasks) == 1:
        task = view.pop("tasks")[0]
        view.update({key: task[key] for key in LEGACY_TASK_FIELDS if key in task})
    return view


def _merged(current: list[Any], given: list[Any], key: str) -> list[Any]:
    """``given`` entries replace the ``current`` ones of the same key; new keys are added at the end."""
    replacing = {item.get(key): item for item in given if isinstance(item, dict)}
    merged = [copy.deepcopy(replacing.pop(item.get(key), item)) for item in current]
    return merged + [
        copy.deepcopy(item) for item in given if not isinstance(item, dict) or item.get(key) in replacing
    ]


def _check_tasks(tasks: Any, job_clusters: set[str], check_cluster: ClusterCheck, path: str) -> None:
    if tasks is None:
        return
    expect(tasks, list, f"{path}tasks")
    if len(tasks) > MAX_TASKS:
        raise invalid_parameter(f"Invalid {path}tasks: at most {MAX_TASKS} tasks, {len(tasks)} given.")
    keys: set[str] = set()
    for index, task in enumerate(tasks):
        where = f"{path}tasks[{index}]"
        expect(task, dict, where)
        key = _new_key(task, "task_key", where, keys, "task keys")
        kinds = [kind for kind in RUNNABLE_KINDS if task.get(kind) is not None]
        if len(kinds) != 1:
            given = f"{' and '.join(kinds)} are given" if kinds else "none is given"
            raise invalid_parameter(
                f"Invalid {where} ({key}): a task sets exactly one of {', '.join(RUNNABLE_KINDS)}; {given}."
            )
        expect(task[kinds[0]], dict, f"{where}.{kinds[0]}")
        computes = [name for name in COMPUTE_FIELDS if task.get(name) is not None]
        if not computes:
            raise invalid_parameter(NO_COMPUTE)
        if len(computes) > 1:
            raise invalid_parameter(
                f"Invalid {where} ({key}): {' and '.join(computes)} are given; a task names one of "
                f"{', '.join(COMPUTE_FIELDS)}."
            )
        if "job_cluster_key" in computes and task["job_cluster_key"] not in job_clusters:
            raise invalid_parameter(
                f"Invalid {where}.job_cluster_key {task['job_cluster_key']!r}: no job cluster of the job "
                f"has that key (job_clusters: {', '.join(sorted(job_clusters)) or 'none'})."
            )
        if "new_cluster" in computes:
            _check_cluster(task["new_cluster"], check_cluster, f"{where}.new_cluster")
        if task.get("timeout_seconds") is not None:
            task["timeout_seconds"] = _bounded(task, "timeout_seconds", 0, 0, None, f"{where}.")
        if task.get("libraries") is not None:
            expect(task["libraries"], list, f"{where}.libraries")
            for lib_index, library in enumerate(task["libraries"]):
                checked_library(library, f"{where}.libraries[{lib_index}]")
    for index, task in enumerate(tasks):
        for dep_index, dependency in enumerate(task.get("depends_on") or []):
            where = f"{path}tasks[{index}].depends_on[{dep_index}]"
            expect(dependency, dict, where)
            needed = dependency.get("task_key")
            if needed not in keys:
                raise invalid_parameter(
                    f"Invalid {where}.task_key {needed!r}: no task of the job has that key."
                )


def _new_key(entry: Mapping[str, Any], name: str, where: str, keys: set[str], what: str) -> str:
    """``entry``'s key field ``name``: required, 1 to 100 letters, digits, '_' and '-', not one of ``keys``
    (to which it is added)."""
    key = entry.get(name)
    if key is None:
        raise invalid_parameter(f"Missing required field: {where}.{name}")
    expect(key, str, f"{where}.{name}")
    if not _KEY.match(key):
        raise invalid_parameter(f"Invalid {where}.{name} {key!r}: 1 to 100 letters, digits, '_' and '-'.")
    if key in keys:
        raise invalid_parameter(f"Invalid {where}.{name} {key!r}: {what} must be unique in a job.")
    keys.add(key)
    return key


def _check_job_clusters(clusters: Any, check_cluster: ClusterCheck, path: str) -> set[str]:
    if clusters is None:
        return set()
    expect(clusters, list, f"{path}job_clusters")
    if len(clusters) > MAX_JOB_CLUSTERS:
        raise invalid_parameter(
            f"Invalid {path}job_clusters: at most {MAX_JOB_CLUSTERS} job clusters, {len(clusters)} given."
        )
    keys: set[str] = set()
    for index, cluster in enumerate(clusters):
        where = f"{path}job_clusters[{index}]"
        expect(cluster, dict, where)
        _new_key(cluster, "job_cluster_key", where, keys, "job cluster keys")
        if cluster.get("new_cluster") is None:
            raise invalid_parameter(f"Missing required field: {where}.new_cluster")
        _check_cluster(cluster["new_cluster"], check_cluster, f"{where}.new_cluster")
    return keys


def _check_cluster(spec: Any, check_cluster: ClusterCheck, where: str) -> None:
    expect(spec, dict, where)
    try:
        check_cluster(spec)
    except ApiError as err:
        raise ApiError(err.status, err.error_code, f"{where}: {err.message}") from None


def _check_tags(tags: Any, path: str) -> None:
    if tags is None:
        return
    expect(tags, dict, f"{path}tags")
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(f"Invalid {path}tags: at most {MAX_TAGS} tags, {len(tags)} given.")
    for key, value in tags.items():
        expect(value, str, f"{path}tags.{key}")
        if not key or len(key) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise invalid_parameter(
                f"Invalid {path}tags.{key}: keys are 1 to {MAX_TAG_KEY} characters, values at most "
                f"{MAX_TAG_VALUE}."
            )


def _check_parameters(parameters: Any, path: str) -> None:
    if parameters is None:
        return
    expect(parameters, list, f"{path}parameters")
    names: set[str] = set()
    for index, parameter in enumerate(parameters):
        where = f"{path}parameters[{index}]"
        expect(parameter, dict, where)
        for required in ("name", "default"):
            if parameter.get(required) is None:
                raise invalid_parameter(f"Missing required field: {where}.{required}")
        expect(parameter["name"], str, f"{where}.name")
        expect(parameter["default"], str, f"{where}.default")
        if not _PARAMETER_NAME.match(parameter["name"]):
            raise invalid_parameter(
                f"Invalid {where}.name {parameter['name']!r}: letters, digits, '_', '-' and '.'."
            )
        if parameter["name"] in names:
            raise invalid_parameter(
                f"Invalid {where}.name {parameter['name']!r}: parameter names must be unique."
            )
        names.add(parameter["name"])


def _bounded(body: Mapping[str, Any], name: str, default: int, low: int, high: int | None, path: str) -> int:
    """An integer field (a number or a numeric string: the official provider sends strings) in range."""
    value = integer(body.get(name), f"{path}{name}", default=default)
    if value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise invalid_parameter(f"Invalid {path}{name} {value}: must be {allowed}.")
    return value


def expect(value: Any, kind: type, where: str) -> None:
    """MALFORMED_REQUEST, as the service's parser answers, when ``value`` is not of the JSON ``kind``."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return
    found = next((n for t, n in _JSON_NAMES.items() if isinstance(value, t)), "a number")
    raise malformed_request(
        f"Could not parse request object: Expected {_JSON_NAMES[kind]} for field {where}, found "
        f"{found.split(' ')[1].upper()}"
    )
