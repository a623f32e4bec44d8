"""Task parameters -> the Clusters API JSON of a cluster on AWS. Pure: no I/O but reading a JSON file.

``build_cluster_spec`` lays named parameters over a base spec (``cluster_json``: a dict, JSON text, or the
path of a ``databricks clusters create --json-file`` file), turns the conveniences users write (an image URL,
``s3://`` init-script paths, ``(min, max)`` autoscale, ...) into the API's objects, adds the task instance's
tags, and validates the result (``cluster_spec/validation.py``) before any API call. Templating decides
what a value looks like: a dict or list may arrive as its JSON or Python text, and an absent one as "None".
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

from airflow_databricks_clusters.cluster_spec.fields import API_CREATE_FIELDS, OPERATOR_FIELDS
from airflow_databricks_clusters.cluster_spec.validation import (
    AWS_ATTRIBUTE_FIELDS,
    CLUSTER_FIELDS,
    EXTRA_FIELDS_PARAM,
    MERGED_FIELDS,
    nearest,
    problem,
    validate_cluster_spec,
)
from airflow_databricks_clusters.errors import SpecError, SpecProblem
from airflow_databricks_clusters.redaction import redact_value, structured

__all__ = [
    "AWS_ATTRIBUTE_FIELDS",
    "CLUSTER_FIELDS",
    "TAG_DAG_ID",
    "TAG_MAP_INDEX",
    "TAG_RUN_ID",
    "TAG_TASK_ID",
    "build_cluster_spec",
    "cluster_json_path",
    "is_given",
    "load_cluster_json",
    "redact_spec",
    "task_instance_tags",
    "unreadable_cluster_json",
    "validate_cluster_spec",
]

TAG_DAG_ID = "airflow_dag_id"
TAG_TASK_ID = "airflow_task_id"
TAG_RUN_ID = "airflow_run_id"
TAG_MAP_INDEX = "airflow_map_index"

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 +\-=._:/@]")
_TAG_VALUE_MAX = 255
#: What a template renders an absent value (None) into, in Python and in JSON.
_RENDERED_NONE = ("None", "null")
#: What ``cluster_json`` may be; where a relative path is looked for is the caller's to add.
CLUSTER_JSON_ALLOWED = "a dict, JSON text, or the path of a JSON file"


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


#: The longest ``idempotency_token`` clusters/create takes.
IDEMPOTENCY_TOKEN_MAX = 64


def idempotency_token(tags: Mapping[str, str]) -> str:
    """The ``clusters/create`` idempotency token of the task instance that ``tags`` name: the same for
    every try of it, different for any other task instance, at most 64 characters. While a cluster created
    with it is not terminated, the workspace answers a create with the same token with that cluster."""
    key = "\n".join(f"{name}={tags[name]}" for name in sorted(tags))
    prefix = "airflow-"
    return prefix + hashlib.sha256(key.encode()).hexdigest()[: IDEMPOTENCY_TOKEN_MAX - len(prefix)]


def is_given(value: Any) -> bool:
    """Whether a parameter was given: not None, nor the "None" (or JSON "null") a template renders for an
    absent value."""
    return value is not None and not (isinstance(value, str) and value.strip() in _RENDERED_NONE)


def cluster_json_path(source: Any) -> str | None:
    """The file a ``cluster_json`` names; None when it is a dict, JSON (or Python) text, or not given."""
    if isinstance(source, os.PathLike):
        return os.fspath(source)
    if not isinstance(source, str) or not is_given(source):
        return None
    path = source.strip()
    # Text that opens like an object or a list is meant as JSON, even broken JSON: its error says so.
    return path if path and path[0] not in "{[" else None


def unreadable_cluster_json(path: str, reason: str, where: str = "") -> SpecError:
    """The error of a ``cluster_json`` file that cannot be read; ``where`` says where a relative path was
    looked for."""
    allowed = f"{CLUSTER_JSON_ALLOWED}{where}; this one cannot be read: {reason}"
    return SpecError([problem("cluster_json", path, allowed)])


def load_cluster_json(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A base spec from a dict, a JSON (or Python) text, or the path of a JSON file (a relative one from
    the current directory)."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    text = str(source)
    path = cluster_json_path(source)
    if path is not None:
        try:
            text = Path(path).read_text()
        except (OSError, ValueError) as err:  # ValueError: a NUL in the path, a file that is not text
            reason = getattr(err, "strerror", None) or str(err)
            raise unreadable_cluster_json(
                path, reason, ", absolute or relative to the current directory"
            ) from err
    try:
        loaded = json.loads(text)
    except ValueError as err:
        loaded = structured(text)
        if loaded is None:
            raise SpecError([problem("cluster_json", text, f"valid JSON ({err})")]) from None
    if not isinstance(loaded, dict):
        raise SpecError([problem("cluster_json", text, "a JSON object")])
    return loaded


def _parse_json_text(value: Any) -> Any:
    """Templated dict/list parameters sometimes arrive as their JSON (or Python) text."""
    parsed = structured(value) if isinstance(value, str) else None
    return value if parsed is None else parsed


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
    extra_api_fields: Mapping[str, Any] | str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Build and validate the ``clusters/create`` JSON; raise ``SpecError`` listing every problem.

    ``fields`` are the create fields of ``CLUSTER_FIELDS`` and, flat, the ``AWS_ATTRIBUTE_FIELDS``
    (``availability=...``); None means "not given". They override ``cluster_json`` field by field;
    ``aws_attributes``, ``spark_conf``, ``custom_tags`` and ``spark_env_vars`` are merged key by key.
    ``tags`` (the task instance's) are added to ``custom_tags`` last. A value that ``is_given`` says was
    not given (None, or the "None" a template renders for it) is left out, the empty ``cluster_json`` too.
    Every key, at any depth, must be one the Clusters API has there (``fields.KNOWN_KEYS``): create fields
    this client does not model yet pass from ``cluster_json`` as given, and an unknown key is a problem
    naming its path and the field it was likely meant to be.

    ``extra_api_fields`` are top-level fields this client has never heard of, sent as given (after the
    check, unchecked): the way to use an API field newer than the plugin, on purpose. A field the plugin
    knows is refused there (it goes in ``cluster_json`` or its parameter, where it is checked); so is a
    value that is not JSON. No problem shows a secret: values under secret-like keys are ``***``
    (``cluster_spec.validation.problem``).
    """
    problems: list[SpecProblem] = []
    unknown = sorted(set(fields) - set(CLUSTER_FIELDS) - set(AWS_ATTRIBUTE_FIELDS))
    for name in unknown:
        meant = nearest(name, OPERATOR_FIELDS)
        allowed = f"did you mean {meant!r}?" if meant else ", ".join(CLUSTER_FIELDS)
        problems.append(problem(name, fields[name], f"a Clusters API create field: {allowed}"))
    extra = _extra_fields(extra_api_fields, problems)
    spec: dict[str, Any] = {}
    if cluster_json is not None and cluster_json != "" and is_given(cluster_json):
        spec = load_cluster_json(cluster_json)
    for name, value in fields.items():
        if not is_given(value) or name in unknown:
            continue
        if name in AWS_ATTRIBUTE_FIELDS:
            _add_keys(spec, "aws_attributes", {name: value})
        else:
            _merge(spec, name, value)
    if "autoscale" in spec and spec.get("num_workers") is None:
        # The Databricks CLI's own JSON carries "num_workers": null beside autoscale.
        spec.pop("num_workers", None)
    if _truthy(single_node):
        _make_single_node(spec, problems)
    if tags:
        _add_keys(spec, "custom_tags", tags)
    try:
        normalised = validate_cluster_spec(spec, source="cluster_json")
    except SpecError as err:
        problems.extend(err.problems)
        raise SpecError(problems) from None
    if problems:
        raise SpecError(problems)
    return {**normalised, **extra}


def _extra_fields(value: Any, problems: list[SpecProblem]) -> dict[str, Any]:
    """``extra_api_fields`` as they will be sent: an object of fields the plugin does not know, each a JSON
    value. A field it knows is refused: sent from here it would skip the check it gets everywhere else."""
    if not is_given(value):
        return {}
    value = _parse_json_text(value)
    if not isinstance(value, Mapping):
        problems.append(
            problem(EXTRA_FIELDS_PARAM, value, "an object of Clusters API fields and their values")
        )
        return {}
    extra: dict[str, Any] = {}
    for name, item in value.items():
        field = f"{EXTRA_FIELDS_PARAM}.{name}"
        if not isinstance(name, str) or not name.strip():
            problems.append(problem(field, item, "a non-empty field name"))
        elif name in API_CREATE_FIELDS:
            where = " or its parameter of that name" if name in OPERATOR_FIELDS else ""
            problems.append(problem(field, item, f"a field this plugin does not know: {name!r} is one it "
                                    f"knows, so give it in cluster_json{where}"))  # fmt: skip
        else:
            try:
                json.dumps(item, allow_nan=False)
            except (TypeError, ValueError):
                problems.append(problem(field, item, "a JSON value (object, list, string, number, boolean)"))
                continue
            extra[name] = copy.deepcopy(item)
    return extra


def _add_keys(spec: dict[str, Any], name: str, keys: Mapping[str, Any]) -> None:
    """Add ``keys`` to the object ``spec[name]``. A value there that is no object is left as it is for the
    validator to refuse: replacing it would hide the user's mistake."""
    current = spec.get(name)
    if current is None or isinstance(current, Mapping):
        spec[name] = {**(current or {}), **keys}


def _truthy(value: bool | str) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def _make_single_node(spec: dict[str, Any], problems: list[SpecProblem]) -> None:
    """Databricks' single-node cluster: no workers, a local Spark master, and the SingleNode tag."""
    if spec.get("autoscale") is not None:
        problems.append(problem("autoscale", spec["autoscale"], "nothing: single_node has no workers"))
    workers = spec.get("num_workers")
    if workers not in (None, 0, "0"):
        problems.append(problem("num_workers", workers, "0 or nothing: single_node has no workers"))
    spec.pop("autoscale", None)
    spec["num_workers"] = 0
    _add_keys(
        spec, "spark_conf", {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*]"}
    )
    _add_keys(spec, "custom_tags", {"ResourceClass": "SingleNode"})


def redact_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to log or show: every secret in it (the Docker registry password, a secret-named
    ``spark_env_vars`` or ``spark_conf`` entry, ...) replaced by ``***`` (``redaction.redact_value``)."""
    redacted: dict[str, Any] = redact_value(dict(spec))
    return redacted
