"""Policy families: the policy definitions Databricks manages, read-only (``policy-families`` API).

A cluster policy may be made from a family (``policy_family_id``): its definition is the family's with the
policy's ``policy_family_definition_overrides`` laid over it. The four families here carry the ids and names
a workspace lists; their definitions are the emulator's short versions of what each family is for (a real
family's definition is longer and changes with the platform), written in this workspace's node types.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.request_params import integer, one, paged

_FAMILIES: tuple[dict[str, Any], ...] = (
    {
        "policy_family_id": "job-cluster",
        "name": "Job Compute",
        "description": "Compute for jobs: a job's own cluster, ended when the job ends.",
        "definition": {
            "cluster_type": {"type": "fixed", "value": "job"},
            "autotermination_minutes": {"type": "fixed", "value": 0, "hidden": True},
        },
    },
    {
        "policy_family_id": "personal-vm",
        "name": "Personal Compute",
        "description": "A single-node cluster for one user.",
        "definition": {
            "num_workers": {"type": "fixed", "value": 0, "hidden": True},
            "spark_conf.spark.databricks.cluster.profile": {
                "type": "fixed",
                "value": "singleNode",
                "hidden": True,
            },
            "spark_conf.spark.master": {"type": "fixed", "value": "local[*]", "hidden": True},
            "custom_tags.ResourceClass": {"type": "fixed", "value": "SingleNode", "hidden": True},
            "autotermination_minutes": {
                "type": "range",
                "minValue": 10,
                "maxValue": 4320,
                "defaultValue": 60,
            },
        },
    },
    {
        "policy_family_id": "power-user",
        "name": "Power User Compute",
        "description": "Autoscaling clusters for users who need more compute.",
        "definition": {
            "autoscale.max_workers": {"type": "range", "maxValue": 20, "defaultValue": 10},
            "autotermination_minutes": {
                "type": "range",
                "minValue": 10,
                "maxValue": 4320,
                "defaultValue": 120,
            },
        },
    },
    {
        "policy_family_id": "shared-compute",
        "name": "Shared Compute",
        "description": "A multi-user cluster in standard access mode.",
        "definition": {
            "data_security_mode": {"type": "fixed", "value": "USER_ISOLATION", "hidden": True},
            "autotermination_minutes": {
                "type": "range",
                "minValue": 10,
                "maxValue": 4320,
                "defaultValue": 120,
            },
        },
    },
)
FAMILIES: dict[str, dict[str, Any]] = {
    family["policy_family_id"]: {**family, "definition": json.dumps(family["definition"])}
    for family in _FAMILIES
}
#: ``policy-families`` list: the most one page holds (and the page size of a request without one).
MAX_RESULTS = 100


def family_not_found(family_id: str) -> ApiError:
    # The wording is the emulator's (a real answer's text was not seen).
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Policy family {family_id} does not exist.")


def get(family_id: str) -> dict[str, Any]:
    """``GET /api/2.0/policy-families/{policy_family_id}``."""
    family = FAMILIES.get(family_id)
    if family is None:
        raise family_not_found(family_id)
    return copy.deepcopy(family)


def list_families(params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/2.0/policy-families``: ``max_results`` per page, ``page_token`` for the next."""
    size = integer(one(params.get("max_results")), "max_results", default=0)
    if not 0 <= size <= MAX_RESULTS:
        raise ApiError(
            400,
            "INVALID_PARAMETER_VALUE",
            f"Invalid max_results {size}: must be from 0 (the server's default) to {MAX_RESULTS}.",
        )
    ordered = sorted(FAMILIES.values(), key=lambda f: f["policy_family_id"])
    page, following, _ = paged(
        ordered,
        lambda f: (f["policy_family_id"],),
        params.get("page_token"),
        size or MAX_RESULTS,
        descending=False,
        list_name="policy-families",
    )
    answer: dict[str, Any] = {"policy_families": copy.deepcopy(page)}
    if following:
        answer["next_page_token"] = following
    return answer
