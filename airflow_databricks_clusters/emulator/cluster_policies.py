"""Cluster policies: the Cluster Policies API's records, and the policy a cluster names applied to it.

A policy holds a ``definition`` (a JSON string of rules, ``policy_rules.py``), or is made from a policy
family (``policy_families.py``) with ``policy_family_definition_overrides``. ``clusters/create`` and
``clusters/edit`` with a ``policy_id`` go through ``apply`` before the body is validated, so the fixed
and default values a policy fills in are validated like the rest.

No HTTP here (``app.py`` serves it); the workspace holds the lock around every call.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Mapping
from typing import Any

from airflow_databricks_clusters.emulator import policy_families, policy_rules
from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, malformed_request
from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.request_params import one

#: Every field of a ``policies/clusters/create`` body and its JSON type (databricks-sdk's
#: ``ClusterPoliciesAPI.create``); ``edit`` takes these and ``policy_id``.
FIELDS: dict[str, type] = {
    "name": str,
    "definition": str,
    "description": str,
    "max_clusters_per_user": int,
    "policy_family_id": str,
    "policy_family_definition_overrides": str,
    "libraries": list,
}
MAX_NAME = 100
#: ``spark_version`` values a policy may fix or default to, resolved when the cluster is created.
AUTO_VERSIONS = ("auto:latest", "auto:latest-ml", "auto:latest-lts", "auto:latest-lts-ml")
SORT_COLUMNS = ("POLICY_CREATION_TIME", "POLICY_NAME")


def policy_not_found(policy_id: str) -> ApiError:
    """An unknown policy id, on the policy calls and at cluster create alike (seen on a workspace)."""
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Can't find a cluster policy with id: {policy_id}.")


class ClusterPolicies:
    """The cluster policies of one workspace, by id (and by name, which is unique).

    :param catalog: its ``policies`` are the ones the workspace starts with.
    """

    def __init__(self, catalog: Catalog, *, clock: Callable[[], float], rng: random.Random) -> None:
        self._catalog = catalog
        self._clock = clock
        self._random = rng
        self._policies: dict[str, dict[str, Any]] = {}
        self._by_name: dict[str, str] = {}
        for seed in catalog.policies:
            policy = {"created_at_timestamp": 0, "is_default": False, **copy.deepcopy(seed)}
            self._policies[policy["policy_id"]] = policy
            self._by_name[policy["name"]] = policy["policy_id"]

    # -- the API -------------------------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any], *, user: str) -> dict[str, Any]:
        spec = _validated(body, FIELDS)
        name = self._free_name(spec.get("name"), None)
        policy_id = self._new_id()
        policy = {
            "policy_id": policy_id,
            "creator_user_name": user,
            "created_at_timestamp": int(self._clock() * 1000),
            "is_default": False,
        }
        policy.update(_content(spec, name))
        self._policies[policy_id] = policy
        self._by_name[name] = policy_id
        return {"policy_id": policy_id}

    def edit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        policy = self._policy(body.get("policy_id"))
        spec = _validated({k: v for k, v in body.items() if k != "policy_id"}, FIELDS)
        name = self._free_name(spec.get("name"), policy["policy_id"])
        del self._by_name[policy["name"]]
        for key in FIELDS:
            policy.pop(key, None)
        policy.update(_content(spec, name))
        self._by_name[name] = policy["policy_id"]
        return {}

    def delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Gone; clusters created with it keep its id and run on (a later edit naming it is refused)."""
        policy = self._policy(body.get("policy_id"))
        del self._policies[policy["policy_id"]]
        del self._by_name[policy["name"]]
        return {}

    def get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(self._policy(one(params.get("policy_id"))))

    def list(self, params: Mapping[str, Any]) -> dict[str, Any]:
        column = str(one(params.get("sort_column")) or "POLICY_CREATION_TIME")
        order = str(one(params.get("sort_order")) or "DESC")
        if column not in SORT_COLUMNS:
            raise invalid_parameter(
                f"Invalid sort_column {column}: must be one of {', '.join(SORT_COLUMNS)}."
            )
        if order not in ("ASC", "DESC"):
            raise invalid_parameter(f"Invalid sort_order {order}: must be ASC or DESC.")
        if column == "POLICY_NAME":
            ordered = sorted(self._policies.values(), key=lambda p: (p["name"].lower(), p["policy_id"]))
        else:
            ordered = sorted(
                self._policies.values(), key=lambda p: (p["created_at_timestamp"], p["policy_id"])
            )
        if order == "DESC":
            ordered.reverse()
        return {"policies": copy.deepcopy(ordered), "total_count": len(ordered)}

    # -- clusters ------------------------------------------------------------------------------------------

    def apply(self, body: Mapping[str, Any], *, cluster_type: str = "all-purpose") -> dict[str, Any]:
        """A create or edit body under its ``policy_id``'s rules: the body with the policy's values filled
        in, or 400 INVALID_PARAMETER_VALUE naming every rule it breaks. A body without a policy is
        returned as it is."""
        policy_id = body.get("policy_id")
        if policy_id is None or not isinstance(policy_id, str):
            return dict(body)
        policy = self._policies.get(policy_id)
        if policy is None:
            raise policy_not_found(policy_id)
        try:
            rules = policy_rules.parse(policy["definition"])
        except policy_rules.MalformedDefinition:
            # Seen on a workspace for a definition that is JSON but no object of rules.
            raise invalid_parameter(
                f"Requests for the policy {policy_id} cannot be satisfied due to the malformed policy "
                "definition. Please contact your administrator to correct the policy."
            ) from None
        spec, errors = policy_rules.enforce(rules, body, cluster_type=cluster_type)
        if errors:
            raise invalid_parameter("; ".join(errors))
        version = spec.get("spark_version")
        if isinstance(version, str) and version in AUTO_VERSIONS:
            spec["spark_version"] = self._newest(version)
        return spec

    def _newest(self, alias: str) -> str:
        """The runtime an ``auto:`` alias of a policy names: the newest offered (``spark-versions`` lists
        the newest first) of its kind, LTS or not, ML or not, never Photon or GPU."""
        lts, ml = "lts" in alias, alias.endswith("-ml")
        for key, name in self._catalog.spark_versions:
            if ("photon" in key or "gpu" in key) or (("cpu-ml" in key) != ml) or (lts and "LTS" not in name):
                continue
            return key
        raise invalid_parameter(f"Invalid spark version {alias}: the workspace offers no such runtime.")

    # -- persistence -----------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"policies": copy.deepcopy(self._policies)}

    def load_json(self, data: Mapping[str, Any]) -> None:
        if "policies" not in data:
            return
        self._policies = copy.deepcopy(dict(data["policies"]))
        self._by_name = {policy["name"]: policy_id for policy_id, policy in self._policies.items()}

    # -- helpers ---------------------------------------------------------------------------------------------

    def _policy(self, policy_id: Any) -> dict[str, Any]:
        if not isinstance(policy_id, str) or not policy_id:
            raise invalid_parameter("Missing required field: policy_id")
        policy = self._policies.get(policy_id)
        if policy is None:
            raise policy_not_found(policy_id)
        return policy

    def _free_name(self, name: Any, own_id: str | None) -> str:
        if not name:
            raise invalid_parameter("Missing required field: name")
        if len(name) > MAX_NAME:
            raise invalid_parameter(f"Invalid name: a policy name is 1 to {MAX_NAME} characters long.")
        holder = self._by_name.get(name)
        if holder is not None and holder != own_id:
            # The code is the one the API uses for a name taken; the wording is the emulator's.
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A cluster policy named {name} already exists.")
        return str(name)

    def _new_id(self) -> str:
        while True:
            policy_id = "".join(self._random.choice("0123456789ABCDEF") for _ in range(16))
            if policy_id not in self._policies:
                return policy_id


def _validated(body: Mapping[str, Any], fields: Mapping[str, type]) -> dict[str, Any]:
    for name, value in body.items():
        kind = fields.get(name)
        if kind is None:
            raise malformed_request(f"Could not parse request object: Unknown field {name}")
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise malformed_request(
                f"Could not parse request object: Expected a {kind.__name__} for field {name}"
            )
    spec = {key: value for key, value in body.items() if value is not None}
    limit = spec.get("max_clusters_per_user")
    if limit is not None and limit < 1:
        raise invalid_parameter("max_clusters_per_user must be greater than 0")
    family = spec.get("policy_family_id")
    if family is not None:
        if "definition" in spec:
            raise invalid_parameter(
                "A policy made from a policy family takes no definition: give "
                "policy_family_definition_overrides instead."
            )
        if family not in policy_families.FAMILIES:
            raise policy_families.family_not_found(family)
    elif "policy_family_definition_overrides" in spec:
        raise invalid_parameter("policy_family_definition_overrides needs a policy_family_id.")
    for name in ("definition", "policy_family_definition_overrides"):
        if name in spec:
            try:
                json.loads(spec[name])
            except ValueError as err:
                raise invalid_parameter(f"Invalid {name}: it must be a JSON document ({err}).") from None
    return spec


def _content(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The fields a policy shows: a family's policy shows the family's definition with its overrides."""
    content = {key: copy.deepcopy(value) for key, value in spec.items() if key in FIELDS}
    content["name"] = name
    family = spec.get("policy_family_id")
    if family is not None:
        rules = json.loads(policy_families.FAMILIES[family]["definition"])
        overrides = json.loads(spec.get("policy_family_definition_overrides") or "{}")
        if isinstance(overrides, dict):
            rules.update(overrides)
        content["definition"] = json.dumps(rules)
    content.setdefault("definition", "{}")
    return content
