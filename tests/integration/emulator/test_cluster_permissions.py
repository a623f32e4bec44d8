"""A cluster's permissions (``/api/2.0/permissions/clusters/{id}``) and ``clusters/change-owner`` over the
wire."""

from __future__ import annotations

from typing import Any

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api


def direct(answer: dict[str, Any]) -> dict[str, str]:
    """principal -> level of the entries not inherited."""
    found = {}
    for entry in answer["access_control_list"]:
        name = entry.get("user_name") or entry.get("group_name") or entry.get("service_principal_name")
        for permission in entry["all_permissions"]:
            if not permission["inherited"]:
                found[name] = permission["permission_level"]
    return found


def test_put_replaces_patch_adds_and_the_owner_and_admins_always_manage(emu: Emulator, api: Api) -> None:
    cluster_id = api.create()
    path = f"/api/2.0/permissions/clusters/{cluster_id}"
    status, answer = api.call("GET", path)
    assert (
        status == 200
        and answer["object_id"] == f"/clusters/{cluster_id}"
        and answer["object_type"] == "cluster"
    )
    assert direct(answer) == {"emulator@example.com": "CAN_MANAGE"}
    admins = [e for e in answer["access_control_list"] if e.get("group_name") == "admins"]
    assert admins[0]["all_permissions"][0]["inherited"] is True
    acl = [
        {"user_name": "ana@example.com", "permission_level": "CAN_RESTART"},
        {"group_name": "analysts", "permission_level": "CAN_ATTACH_TO"},
    ]
    status, answer = api.call("PUT", path, {"access_control_list": acl})
    assert status == 200 and direct(answer) == {
        "emulator@example.com": "CAN_MANAGE",
        "ana@example.com": "CAN_RESTART",
        "analysts": "CAN_ATTACH_TO",
    }
    status, answer = api.call(
        "PATCH",
        path,
        {"access_control_list": [{"service_principal_name": "sp-1", "permission_level": "CAN_MANAGE"}]},
    )
    assert status == 200 and direct(answer)["sp-1"] == "CAN_MANAGE" and "analysts" in direct(answer)
    status, answer = api.call("PUT", path, {"access_control_list": []})
    assert direct(answer) == {"emulator@example.com": "CAN_MANAGE"}
    status, levels = api.call("GET", f"{path}/permissionLevels")
    assert [lvl["permission_level"] for lvl in levels["permission_levels"]] == [
        "CAN_ATTACH_TO",
        "CAN_RESTART",
        "CAN_MANAGE",
    ]


def test_bad_entries_and_unknown_clusters_are_refused(emu: Emulator, api: Api) -> None:
    cluster_id = api.create()
    path = f"/api/2.0/permissions/clusters/{cluster_id}"
    status, answer = api.call(
        "PUT", path, {"access_control_list": [{"user_name": "a", "permission_level": "IS_OWNER"}]}
    )
    assert status == 400 and "CAN_ATTACH_TO, CAN_RESTART, CAN_MANAGE" in answer["message"]
    status, answer = api.call("PATCH", path, {"access_control_list": [{"permission_level": "CAN_MANAGE"}]})
    assert status == 400 and "exactly one of user_name" in answer["message"]
    status, answer = api.call("GET", "/api/2.0/permissions/clusters/0000-000000-nothere")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_change_owner_only_when_terminated(emu: Emulator, api: Api) -> None:
    cluster_id = api.create()
    body = {"cluster_id": cluster_id, "owner_username": "new-owner@example.com"}
    status, answer = api.call("POST", "/api/2.1/clusters/change-owner", body)
    assert (status, answer["error_code"]) == (400, "INVALID_STATE")
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    api.wait_for(cluster_id, "TERMINATED")
    assert api.call("POST", "/api/2.1/clusters/change-owner", body) == (200, {})
    cluster = api.get(cluster_id)
    assert cluster["creator_user_name"] == "new-owner@example.com"
    assert cluster["default_tags"]["Creator"] == "new-owner@example.com"
    status, answer = api.call("GET", f"/api/2.0/permissions/clusters/{cluster_id}")
    assert direct(answer) == {"new-owner@example.com": "CAN_MANAGE"}
