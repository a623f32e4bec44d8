"""A cluster's permissions (``/api/2.0/permissions/clusters/{id}``) and its owner (``clusters/change-owner``).

The access control list lives on the cluster record (``_acl``: principal -> level), so it is saved with
the cluster and costs nothing to find. The owner (``creator_user_name``) always holds CAN_MANAGE, and the
``admins`` group holds it by inheritance, as the workspace shows them; ``PUT`` replaces the other direct
entries, ``PATCH`` adds to them or changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, invalid_state

#: The levels a cluster's permissions take, each with what a workspace says of it.
LEVELS: dict[str, str] = {
    "CAN_ATTACH_TO": "Can attach notebooks and jobs to the cluster and view its Spark UI",
    "CAN_RESTART": "Can start, restart and terminate the cluster, and what CAN_ATTACH_TO allows",
    "CAN_MANAGE": "Can edit, resize and delete the cluster and set its permissions; what CAN_RESTART allows",
}
PRINCIPALS = ("user_name", "group_name", "service_principal_name")


def cluster_not_found(cluster_id: str) -> ApiError:
    # The Permissions API answers an unknown object with 404 (the wording is the emulator's).
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Cluster {cluster_id} does not exist.")


def permissions(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """``GET``: the owner's CAN_MANAGE, every direct entry, and the admins' inherited CAN_MANAGE."""
    owner = str(cluster["creator_user_name"])
    entries: list[dict[str, Any]] = [_entry("user_name", owner, "CAN_MANAGE")]
    for key, level in sorted((cluster.get("_acl") or {}).items()):
        kind, _, name = key.partition(":")
        if (kind, name) != ("user_name", owner):
            entries.append(_entry(kind, name, level))
    entries.append(
        {
            "group_name": "admins",
            "all_permissions": [
                {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/clusters/"]}
            ],
        }
    )
    return {
        "object_id": f"/clusters/{cluster['cluster_id']}",
        "object_type": "cluster",
        "access_control_list": entries,
    }


def set_acl(cluster: dict[str, Any], body: Mapping[str, Any], *, replace: bool) -> dict[str, Any]:
    """``PUT`` (``replace``) or ``PATCH`` with ``{"access_control_list": [...]}``; the new permissions."""
    given = body.get("access_control_list")
    if given is None:
        given = []
    if not isinstance(given, list):
        raise invalid_parameter("access_control_list must be a list of access control entries.")
    acl: dict[str, str] = {} if replace else dict(cluster.get("_acl") or {})
    for index, item in enumerate(given):
        if not isinstance(item, Mapping):
            raise invalid_parameter(f"access_control_list[{index}] must be an object.")
        named = [kind for kind in PRINCIPALS if item.get(kind)]
        if len(named) != 1:
            raise invalid_parameter(
                f"access_control_list[{index}] must name exactly one of {', '.join(PRINCIPALS)}."
            )
        level = item.get("permission_level")
        if level not in LEVELS:
            raise invalid_parameter(
                f"Invalid permission_level {level} in access_control_list[{index}]: a cluster's is one of "
                f"{', '.join(LEVELS)}."
            )
        acl[f"{named[0]}:{item[named[0]]}"] = str(level)
    cluster["_acl"] = acl
    return permissions(cluster)


def levels() -> dict[str, Any]:
    """``GET .../permissionLevels``."""
    return {
        "permission_levels": [
            {"permission_level": level, "description": description} for level, description in LEVELS.items()
        ]
    }


def change_owner(cluster: dict[str, Any], owner: Any) -> None:
    """``clusters/change-owner``: only a TERMINATED cluster; the new owner is its ``creator_user_name``."""
    if not isinstance(owner, str) or not owner:
        raise invalid_parameter("Missing required field: owner_username")
    if cluster["state"] != "TERMINATED":
        state = str(cluster["state"]).capitalize()
        raise invalid_state(
            f"Cluster {cluster['cluster_id']} is in unexpected state {state}: its owner can be changed "
            "only when it is terminated."
        )
    cluster["creator_user_name"] = owner
    cluster.setdefault("default_tags", {})["Creator"] = owner


def _entry(kind: str, name: str, level: str) -> dict[str, Any]:
    return {kind: name, "all_permissions": [{"permission_level": level, "inherited": False}]}
