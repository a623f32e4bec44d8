"""Task parameters -> the Clusters API JSON of a cluster on AWS. Pure: no I/O but reading a JSON file.

``build_cluster_spec`` lays named parameters over a base spec (``cluster_json``: a dict, JSON text, or the
path of a ``databricks clusters create --json-file`` file), turns the conveniences users write (an image URL,
``s3://`` init-script paths, ``(min, max)`` autoscale, ...) into the API's objects, adds the task instance's
tags, and validates the result (``spec_validation.py``) before any API call.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_databricks_clusters.errors import SpecError, SpecProblem
from airflow_databricks_clusters.spec_validation import (
    AWS_ATTRIBUTE_FIELDS,
    CLUSTER_FIELDS,
    MERGED_FIELDS,
    validate_cluster_spec,
)

__all__ = [
    "AWS_ATTRIBUTE_FIELDS",
    "CLUSTER_FIELDS",
    "TAG_DAG_ID",
    "TAG_MAP_INDEX",
    "TAG_RUN_ID",
    "TAG_TASK_ID",
    "build_cluster_spec",
    "load_cluster_json",
    "redact_spec",
    "task_instance_tags",
    "validate_cluster_spec",
]

TAG_DAG_ID = "airflow_dag_id"
TAG_TASK_ID = "airflow_task_id"
TAG_RUN_ID = "airflow_run_id"
TAG_MAP_INDEX = "airflow_map_index"

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 +\-=._:/@]")
_TAG_VALUE_MAX = 255
_REDACTED = "***"


def _tag_value(value: str) -> str:
    """A tag value Databricks (and AWS) accept, still telling different inputs apart."""
    safe = _TAG_UNSAFE.sub("_", value)
    if safe == value and len(safe) <= _TAG_VALUE_MAX:
        return safe
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{safe[: _TAG_VALUE_MAX - 9]}-{digest}"


def task_instance_tags(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> dict[str, str]:
    """The custom tags that name one task instance; the same instance always gets the same tags.

    They make a cluster findable again by a retried task (idempotency), and traceable in cost reports
    and leak sweeps.
    """
    return {
        TAG_DAG_ID: _tag_value(dag_id),
        TAG_TASK_ID: _tag_value(task_id),
        TAG_RUN_ID: _tag_value(run_id),
        TAG_MAP_INDEX: str(int(map_index)),
    }


def load_cluster_json(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A base spec from a dict, a JSON text, or the path of a JSON file."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    text = str(source)
    is_text = text.lstrip().startswith("{")
    if not is_text:
        path = Path(text)
        try:
            text = path.read_text()
        except OSError as err:
            raise SpecError(
                [
                    SpecProblem(
                        "cluster_json", str(source), f"a dict, JSON text, or a readable .json file ({err})"
                    )
                ]
            ) from err
    try:
        loaded = json.loads(text)
    except ValueError as err:
        raise SpecError([SpecProblem("cluster_json", _short(text), f"valid JSON ({err})")]) from err
    if not isinstance(loaded, dict):
        raise SpecError([SpecProblem("cluster_json", _short(text), "a JSON object")])
    return loaded


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _parse_json_text(value: Any) -> Any:
    """Templated dict/list parameters sometimes arrive as their JSON (or repr) text."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _merge(base: dict[str, Any], name: str, value: Any) -> None:
    value = _parse_json_text(value)
    if name in MERGED_FIELDS and isinstance(value, Mapping):
        current = base.get(name)
        merged = dict(current) if isinstance(current, Mapping) else {}
        merged.update(copy.deepcopy(dict(value)))
        base[name] = merged
    else:
        base[name] = copy.deepcopy(value)


def build_cluster_spec(
    *,
    cluster_json: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    single_node: bool | str = False,
    tags: Mapping[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Build and validate the ``clusters/create`` JSON; raise ``SpecError`` listing every problem.

    ``fields`` are the create fields of ``CLUSTER_FIELDS`` and, flat, the ``AWS_ATTRIBUTE_FIELDS``
    (``availability=...``); None means "not given". They override ``cluster_json`` field by field;
    ``aws_attributes``, ``spark_conf``, ``custom_tags`` and ``spark_env_vars`` are merged key by key.
    ``tags`` (the task instance's) are added to ``custom_tags`` last.
    """
    problems: list[SpecProblem] = []
    unknown = sorted(set(fields) - set(CLUSTER_FIELDS) - set(AWS_ATTRIBUTE_FIELDS))
    for name in unknown:
        problems.append(
            SpecProblem(name, fields[name], "a Clusters API create field: " + ", ".join(CLUSTER_FIELDS))
        )
    spec = load_cluster_json(cluster_json) if cluster_json is not None else {}
    for name, value in fields.items():
        if value is None or name in unknown:
            continue
        if name in AWS_ATTRIBUTE_FIELDS:
            aws = spec.get("aws_attributes")
            spec["aws_attributes"] = {**(aws if isinstance(aws, Mapping) else {}), name: value}
        else:
            _merge(spec, name, value)
    if "autoscale" in spec and spec.get("num_workers") is None:
        # The Databricks CLI's own JSON carries "num_workers": null beside autoscale.
        spec.pop("num_workers", None)
    if _truthy(single_node):
        _make_single_node(spec, problems)
    if tags:
        custom = spec.get("custom_tags")
        spec["custom_tags"] = {**(custom if isinstance(custom, Mapping) else {}), **tags}
    try:
        normalised = validate_cluster_spec(spec)
    except SpecError as err:
        problems.extend(err.problems)
        raise SpecError(problems) from None
    if problems:
        raise SpecError(problems)
    return normalised


def _truthy(value: bool | str) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def _make_single_node(spec: dict[str, Any], problems: list[SpecProblem]) -> None:
    """Databricks' single-node cluster: no workers, a local Spark master, and the SingleNode tag."""
    if spec.get("autoscale") is not None:
        problems.append(SpecProblem("autoscale", spec["autoscale"], "nothing: single_node has no workers"))
    workers = spec.get("num_workers")
    if workers not in (None, 0, "0"):
        problems.append(SpecProblem("num_workers", workers, "0 or nothing: single_node has no workers"))
    spec.pop("autoscale", None)
    spec["num_workers"] = 0
    spec["spark_conf"] = {
        **(spec.get("spark_conf") or {}),
        "spark.databricks.cluster.profile": "singleNode",
        "spark.master": "local[*]",
    }
    spec["custom_tags"] = {**(spec.get("custom_tags") or {}), "ResourceClass": "SingleNode"}


def redact_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to log or show: the Docker registry password replaced by ``***``."""
    redacted = copy.deepcopy(dict(spec))
    image = redacted.get("docker_image")
    auth = image.get("basic_auth") if isinstance(image, dict) else None
    if isinstance(auth, dict) and auth.get("password"):
        auth["password"] = _REDACTED
    return redacted
