"""The compute each task of a run runs on: an all-purpose cluster, or a job cluster made for the run.

A task names exactly one of ``existing_cluster_id``, ``new_cluster`` (a job cluster of its own) or
``job_cluster_key`` (one of the run's ``job_clusters[]``, shared by every task naming that key). A job
cluster is made through the workspace's ordinary create path, so its spec is refused exactly as
``clusters/create`` refuses it, and every spec is checked before any cluster is made. It is a cluster like
any other (events, capacity, scenarios; a scenario may name it ``job-<job_id>-run-<task run id>``, its
cluster name), with ``cluster_source`` JOB; ``jobs.py`` terminates it, JOB_FINISHED, once every task on it
has ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, malformed_request
from airflow_databricks_clusters.emulator.validation import AWS_FIELDS, CREATE_FIELDS
from airflow_databricks_clusters.emulator.workspace import Workspace

#: The fields that give a task its compute; a task names exactly one.
COMPUTE_FIELDS = ("existing_cluster_id", "new_cluster", "job_cluster_key")
#: A workspace without serverless jobs compute, to a task with none (as observed: Azure/azure-databricks-
#: client issue 105).
NO_COMPUTE = "Either new_cluster or existing_cluster_id must be specified."
#: What a workspace answers when ``existing_cluster_id`` names a job cluster (databricks-sdk-py issue 744).
NOT_ALL_PURPOSE = "existing_cluster_id only supports all-purpose cluster IDs"


def checked_job_clusters(job_clusters: Any) -> dict[str, dict[str, Any]]:
    """``job_clusters[]`` checked: each ``{job_cluster_key, new_cluster}`` once, by key."""
    if job_clusters is None:
        return {}
    if not isinstance(job_clusters, Sequence) or isinstance(job_clusters, str):
        raise malformed_request("Could not parse request object: Expected an array for field job_clusters")
    keyed: dict[str, dict[str, Any]] = {}
    for entry in job_clusters:
        if not isinstance(entry, Mapping):
            raise malformed_request("Could not parse request object: Expected an object in job_clusters")
        key = entry.get("job_cluster_key")
        if not isinstance(key, str) or not key:
            raise invalid_parameter("Missing required field: job_clusters.job_cluster_key")
        if key in keyed:
            raise invalid_parameter(f"Duplicate job_cluster_key {key!r} in job_clusters.")
        spec = entry.get("new_cluster")
        if not isinstance(spec, Mapping):
            raise invalid_parameter(f"Missing required field: job_clusters[{key}].new_cluster")
        keyed[key] = dict(spec)
    return keyed


def check_compute(task: Mapping[str, Any], keyed: Mapping[str, Any], workspace: Workspace) -> None:
    """The task names one compute, a key of ``job_clusters`` if a key, an all-purpose cluster if an id."""
    given = [name for name in COMPUTE_FIELDS if task.get(name)]
    if not given:
        raise invalid_parameter(NO_COMPUTE)
    if len(given) > 1:
        raise invalid_parameter(
            f"Task {task.get('task_key')} sets {' and '.join(given)}: give only one of "
            f"{', '.join(COMPUTE_FIELDS)}."
        )
    key = task.get("job_cluster_key")
    if key is not None and key not in keyed:
        defined = ", ".join(sorted(keyed)) or "none"
        raise invalid_parameter(
            f"Task {task.get('task_key')}: job_cluster_key {key!r} is not one of the run's job_clusters "
            f"(defined: {defined})."
        )
    spec = task.get("new_cluster")
    if spec is not None and not isinstance(spec, Mapping):
        raise malformed_request("Could not parse request object: Expected object for field new_cluster")
    cluster_id = task.get("existing_cluster_id")
    if cluster_id is not None:
        try:
            source = workspace.clusters_get({"cluster_id": cluster_id}).get("cluster_source")
        except ApiError:
            return  # an unknown cluster fails the run, as a workspace does, not the submit
        if source == "JOB":
            raise invalid_parameter(NOT_ALL_PURPOSE)


def as_numbers(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with whole numbers given as strings (``"num_workers": "2"``) read as numbers: the Jobs
    API's parser takes them, and the official provider sends every number of a submitted run so
    (``normalise_json_content``)."""
    numbers = dict(spec)
    _read_numbers(numbers, [name for name, kind in CREATE_FIELDS.items() if kind == "int"])
    for name, fields in (
        ("aws_attributes", [name for name, kind in AWS_FIELDS.items() if kind == "int"]),
        ("autoscale", ["min_workers", "max_workers"]),
    ):
        if isinstance(numbers.get(name), Mapping):
            numbers[name] = dict(numbers[name])
            _read_numbers(numbers[name], fields)
    return numbers


def _read_numbers(record: dict[str, Any], fields: Sequence[str]) -> None:
    for name in fields:
        value = record.get(name)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            record[name] = int(value)


def check_spec(workspace: Workspace, spec: Mapping[str, Any]) -> None:
    """A job cluster's spec, checked as its ``clusters/create`` will check it (its policy's rules too)."""
    workspace.checked_spec(as_numbers(spec), source="JOB")


def check_specs(tasks: Sequence[Mapping[str, Any]], keyed: Mapping[str, Any], workspace: Workspace) -> None:
    """Every job cluster spec the run would create, checked before any is made."""
    for task in tasks:
        if task.get("new_cluster") is not None:
            check_spec(workspace, task["new_cluster"])
    for spec in keyed.values():
        check_spec(workspace, spec)


def create_job_cluster(
    workspace: Workspace, spec: Mapping[str, Any], *, user: str, job_id: int, task_run_id: int
) -> str:
    """A job cluster for a run, started now; its id. Named as a workspace names it (a spec's own
    ``cluster_name`` is not used for a job cluster)."""
    body = {**as_numbers(spec), "cluster_name": f"job-{job_id}-run-{task_run_id}"}
    body.pop("idempotency_token", None)
    return str(workspace.clusters_create(body, user=user, source="JOB")["cluster_id"])
