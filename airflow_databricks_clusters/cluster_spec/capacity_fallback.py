"""Capacity fallback: the alternatives a create task moves on to when its cluster cannot get instances.

Pure: no I/O, no Airflow import. An alternative is a partial spec laid over the task's own spec; it may set
only what chooses the instances (``ALTERNATIVE_KEYS``: node types, workers, zone, market). Each one laid
over the spec is validated as the spec itself is, before any API call, and a problem names the
alternative (``capacity_fallback[1]``) and the field. A start that ended for a capacity reason
(``is_capacity_shortage``) moves on to the next alternative (``next_alternative``); any other failure
ends the task as before. The create operator runs these decisions, sync or deferred.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.cluster_spec.fields import KNOWN_KEYS, Keys
from airflow_databricks_clusters.cluster_spec.validation import problem, unknown_keys, validate_cluster_spec
from airflow_databricks_clusters.errors import SpecError, SpecProblem
from airflow_databricks_clusters.redaction import structured

#: The operator parameter, as problems name it.
PARAM = "capacity_fallback"
#: Spec fields an alternative may set at the top level of the spec.
TOP_KEYS = (
    "node_type_id",
    "driver_node_type_id",
    "num_workers",
    "autoscale",
    "worker_node_type_flexibility",
    "driver_node_type_flexibility",
)
#: Fields an alternative may set that live in ``aws_attributes``.
AWS_KEYS = ("zone_id", "availability", "first_on_demand", "spot_bid_price_percent")
ALTERNATIVE_KEYS: tuple[str, ...] = (*TOP_KEYS, *AWS_KEYS)
#: What the keys of an alternative, and of the objects inside it, may be.
_KEYS: Keys = {**{key: KNOWN_KEYS.get(key) for key in TOP_KEYS}, **dict.fromkeys(AWS_KEYS)}
#: The custom tag that says which alternative a cluster runs on (the Clusters page and the summary read it).
TAG_CAPACITY_FALLBACK = "airflow_capacity_fallback"
#: The pre-flight checks of what an alternative may change (the others passed on the task's own spec).
PREFLIGHT_CHECKS = ("container_services", "node_types", "zone")

#: Termination codes that mean no instances could be had for the spec as it is: EC2 had no capacity for the
#: node type in the zone (spot or on-demand), the account's spot limit was reached, the subnet had no free
#: address (another zone may), Databricks' own capacity ran out, or the spot driver was taken back while
#: the cluster started. Names from the Clusters API's ``TerminationReasonCode``.
CAPACITY_CODES = frozenset(
    {
        "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
        "AWS_MAX_SPOT_INSTANCE_COUNT_EXCEEDED_FAILURE",
        "AWS_INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET_FAILURE",
        "INTERNAL_CAPACITY_FAILURE",
        "SPOT_INSTANCE_TERMINATION",
    }
)
#: A ``CLOUD_PROVIDER_LAUNCH_FAILURE`` is a shortage when AWS said so: its ``aws_api_error_code`` ...
CAPACITY_AWS_ERRORS = frozenset(
    {"InsufficientInstanceCapacity", "InsufficientFreeAddressesInSubnet", "MaxSpotInstanceCountExceeded"}
)
#: ... or the spot request's status (``price-too-low``: no spot instance at the bid, which another market
#: or bid in an alternative may get).
CAPACITY_SPOT_STATUSES = frozenset({"capacity-not-available", "capacity-oversubscribed", "price-too-low"})


def is_capacity_shortage(reason: Mapping[str, Any] | None) -> bool:
    """Whether a start's ``termination_reason`` means no instances could be had (rather than a bad image,
    an init script, a user's terminate, ...)."""
    if not reason:
        return False
    code = reason.get("code")
    if code in CAPACITY_CODES:
        return True
    if code != "CLOUD_PROVIDER_LAUNCH_FAILURE":
        return False
    parameters = reason.get("parameters") or {}
    return (
        parameters.get("aws_api_error_code") in CAPACITY_AWS_ERRORS
        or parameters.get("aws_spot_request_status") in CAPACITY_SPOT_STATUSES
    )


def next_alternative(current: int | None, count: int, reason: Mapping[str, Any] | None) -> int | None:
    """The index of the alternative to move on to after a start ended with ``reason``, or None to fail.

    :param current: the alternative the cluster ran on (None: the task's own spec).
    :param count: how many alternatives the task has.
    """
    if not is_capacity_shortage(reason):
        return None
    following = 0 if current is None else current + 1
    return following if following < count else None


def parse_alternatives(value: Any) -> list[dict[str, Any]]:
    """The alternatives as given (a list of dicts, or its JSON text from a template), checked for shape and
    keys. Raises ``SpecError`` naming every problem; None or an empty list is no fallback."""
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "None", "null"):
            return []
        # JSON, or the Python a template renders a list into ({{ params.fallback }}).
        parsed = structured(text)
        if not isinstance(parsed, list):
            raise SpecError([problem(PARAM, value, _ALLOWED)])
        value = parsed
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise SpecError([problem(PARAM, value, _ALLOWED)])
    problems: list[SpecProblem] = []
    alternatives: list[dict[str, Any]] = []
    for index, alternative in enumerate(value):
        path = f"{PARAM}[{index}]"
        if not isinstance(alternative, Mapping) or not alternative:
            problems.append(problem(path, alternative, f"a non-empty dict of {', '.join(ALTERNATIVE_KEYS)}"))
            continue
        problems.extend(unknown_keys(alternative, _KEYS, path))
        if "num_workers" in alternative and "autoscale" in alternative:
            problems.append(
                problem(
                    f"{path}.num_workers",
                    alternative["num_workers"],
                    "either num_workers or autoscale, not both",
                )
            )
        alternatives.append(dict(alternative))
    if problems:
        raise SpecError(problems)
    return alternatives


_ALLOWED = f"a list of partial specs, each a dict of {', '.join(ALTERNATIVE_KEYS)}"


def overlay(spec: Mapping[str, Any], alternative: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The spec with ``alternative`` laid over it (not validated), tagged with the alternative's index."""
    out = copy.deepcopy(dict(spec))
    for key, value in alternative.items():
        if key in AWS_KEYS:
            out["aws_attributes"] = {**(out.get("aws_attributes") or {}), key: value}
            continue
        if key == "num_workers":
            out.pop("autoscale", None)
        elif key == "autoscale":
            out.pop("num_workers", None)
        out[key] = value
    out["custom_tags"] = {**(out.get("custom_tags") or {}), TAG_CAPACITY_FALLBACK: str(index)}
    return out


def alternative_specs(
    spec: Mapping[str, Any], alternatives: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each alternative laid over the validated ``spec`` and validated as a whole spec.

    Raises ``SpecError`` naming every problem of every alternative as ``capacity_fallback[i] -> field``,
    including an alternative that changes nothing.
    """
    specs: list[dict[str, Any]] = []
    problems: list[SpecProblem] = []
    for index, alternative in enumerate(alternatives):
        path = f"{PARAM}[{index}]"
        try:
            candidate = validate_cluster_spec(overlay(spec, alternative, index))
        except SpecError as err:
            problems.extend(SpecProblem(f"{path} -> {p.field}", p.value, p.allowed) for p in err.problems)
            continue
        if not changes(spec, candidate):
            problems.append(
                problem(path, alternative, "a change to the task's spec (this one changes nothing)")
            )
        specs.append(candidate)
    if problems:
        raise SpecError(problems)
    return specs


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What ``after`` changes of ``before`` among the fields an alternative may set, as
    ``field old -> new`` lines (``aws_attributes.zone_id ...`` for the AWS ones)."""
    lines = []
    for key in TOP_KEYS:
        if before.get(key) != after.get(key):
            lines.append(f"{key} {_shown(before.get(key))} -> {_shown(after.get(key))}")
    old_aws, new_aws = before.get("aws_attributes") or {}, after.get("aws_attributes") or {}
    for key in AWS_KEYS:
        if old_aws.get(key) != new_aws.get(key):
            lines.append(f"aws_attributes.{key} {_shown(old_aws.get(key))} -> {_shown(new_aws.get(key))}")
    return lines


def _shown(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, sort_keys=True)


def alternative_of(cluster: Mapping[str, Any]) -> int | None:
    """The alternative a cluster runs on, from its tag (None: the task's own spec)."""
    value = (cluster.get("custom_tags") or {}).get(TAG_CAPACITY_FALLBACK)
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None
