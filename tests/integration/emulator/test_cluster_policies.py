"""Cluster policies over the wire: the Cluster Policies and Policy Families APIs, and a policy's rules
enforced on ``clusters/create`` and ``clusters/edit``. One emulator serves the module: every test makes its
own policies and clusters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api

POLICIES = "/api/2.0/policies/clusters"


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, time_scale=0) as emulator:
        yield emulator


@pytest.fixture
def api(shared: Emulator) -> Api:
    return Api(shared)


def make_policy(api: Api, rules: dict[str, Any], **fields: Any) -> str:
    body = {
        "name": f"policy-{len(api.emu.workspace.policies.list({})['policies'])}",
        "definition": json.dumps(rules),
    }
    status, answer = api.call("POST", f"{POLICIES}/create", {**body, **fields})
    assert status == 200, answer
    return str(answer["policy_id"])


def refused(api: Api, body: dict[str, Any]) -> str:
    status, answer = api.call("POST", "/api/2.1/clusters/create", body)
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE", answer
    return str(answer["message"])


BASE: dict[str, Any] = {
    "cluster_name": "policy-test",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 1,
}


def test_create_get_edit_list_and_delete_a_policy(shared: Emulator, api: Api) -> None:
    rules = {"autotermination_minutes": {"type": "fixed", "value": 30}}
    policy_id = make_policy(api, rules, name="Team A", description="for team A", max_clusters_per_user=3)
    status, got = api.call("GET", f"{POLICIES}/get", policy_id=policy_id)
    assert status == 200
    assert got["name"] == "Team A" and json.loads(got["definition"]) == rules
    assert got["creator_user_name"] == "emulator@example.com" and got["max_clusters_per_user"] == 3
    assert isinstance(got["created_at_timestamp"], int) and got["is_default"] is False
    status, _ = api.call(
        "POST", f"{POLICIES}/edit", {"policy_id": policy_id, "name": "Team A2", "definition": "{}"}
    )
    assert status == 200
    status, got = api.call("GET", f"{POLICIES}/get", policy_id=policy_id)
    assert got["name"] == "Team A2" and got["definition"] == "{}" and "description" not in got
    status, listed = api.call("GET", f"{POLICIES}/list", sort_column="POLICY_NAME", sort_order="ASC")
    names = [p["name"] for p in listed["policies"]]
    assert status == 200 and names == sorted(names, key=str.lower) and "Team A2" in names
    assert listed["total_count"] == len(names)
    assert api.call("POST", f"{POLICIES}/delete", {"policy_id": policy_id}) == (200, {})
    status, answer = api.call("GET", f"{POLICIES}/get", policy_id=policy_id)
    assert status == 404 and answer == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": f"Can't find a cluster policy with id: {policy_id}.",
    }


def test_policy_bodies_are_checked(api: Api) -> None:
    make_policy(api, {}, name="taken")
    status, answer = api.call("POST", f"{POLICIES}/create", {"name": "taken", "definition": "{}"})
    assert (status, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    status, answer = api.call("POST", f"{POLICIES}/create", {"name": "x", "definition": "{not json"})
    assert status == 400 and "definition" in answer["message"]
    status, answer = api.call("POST", f"{POLICIES}/create", {"definition": "{}"})
    assert status == 400 and answer["message"] == "Missing required field: name"
    status, answer = api.call("POST", f"{POLICIES}/create", {"name": "y", "rules": "{}"})
    assert (status, answer["error_code"]) == (400, "MALFORMED_REQUEST")


def test_policy_families_list_get_and_a_policy_made_from_one(api: Api) -> None:
    status, listed = api.call("GET", "/api/2.0/policy-families")
    ids = [f["policy_family_id"] for f in listed["policy_families"]]
    assert status == 200 and {"job-cluster", "personal-vm", "power-user", "shared-compute"} <= set(ids)
    status, first = api.call("GET", "/api/2.0/policy-families", max_results=1)
    assert len(first["policy_families"]) == 1 and first["next_page_token"]
    status, family = api.call("GET", "/api/2.0/policy-families/personal-vm")
    assert status == 200 and family["name"] == "Personal Compute" and json.loads(family["definition"])
    status, answer = api.call("GET", "/api/2.0/policy-families/nope")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    overrides = json.dumps({"autotermination_minutes": {"type": "fixed", "value": 20}})
    policy_id = make_policy(
        api, {}, definition=None, policy_family_id="personal-vm", policy_family_definition_overrides=overrides
    )
    status, got = api.call("GET", f"{POLICIES}/get", policy_id=policy_id)
    definition = json.loads(got["definition"])
    assert definition["autotermination_minutes"]["value"] == 20 and "spark_conf.spark.master" in definition
    cluster_id = Api(api.emu).create(**{**BASE, "num_workers": None, "policy_id": policy_id})
    cluster = api.get(cluster_id)  # the hidden fixed values made it a single node
    assert (
        cluster["num_workers"] == 0
        and cluster["spark_conf"]["spark.databricks.cluster.profile"] == "singleNode"
    )
    assert (
        cluster["custom_tags"]["ResourceClass"] == "SingleNode" and cluster["autotermination_minutes"] == 20
    )


def test_fixed_values_fill_in_and_a_different_value_is_refused(api: Api) -> None:
    policy_id = make_policy(
        api,
        {
            "spark_conf.spark.databricks.io.cache.enabled": {"type": "fixed", "value": True, "hidden": True},
            "enable_elastic_disk": {"type": "fixed", "value": True},
            "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"},
        },
    )
    cluster = api.get(api.create(**BASE, aws_attributes=None, policy_id=policy_id))
    assert cluster["spark_conf"]["spark.databricks.io.cache.enabled"] == "true"
    assert cluster["enable_elastic_disk"] is True and cluster["aws_attributes"]["availability"] == "ON_DEMAND"
    message = refused(api, {**BASE, "policy_id": policy_id, "enable_elastic_disk": False})
    assert message == 'Validation failed for enable_elastic_disk, the value must be true (is "false")'


def test_every_rule_type_is_enforced_and_every_violation_named(api: Api) -> None:
    policy_id = make_policy(
        api,
        {
            "node_type_id": {"type": "allowlist", "values": ["i3.xlarge", "i3.2xlarge"]},
            "spark_version": {"type": "blocklist", "values": ["14.3.x-scala2.12"]},
            "autoscale.max_workers": {"type": "range", "maxValue": 4, "isOptional": True},
            "autotermination_minutes": {"type": "range", "minValue": 10, "maxValue": 120},
            "cluster_name": {"type": "regex", "pattern": "team-[a-z]+"},
            "custom_tags.cost_center": {"type": "unlimited", "isOptional": False},
            "custom_tags.owner": {"type": "allowlist", "values": ["a", "b"]},
            "docker_image.url": {"type": "forbidden"},
            "init_scripts.*.workspace.destination": {"type": "forbidden"},
        },
    )
    good = {
        **BASE,
        "policy_id": policy_id,
        "cluster_name": "team-data",
        "autotermination_minutes": 60,
        "custom_tags": {"owner": "a"},
    }
    api.create(**good)
    message = refused(
        api,
        {
            **good,
            "node_type_id": "m5d.large",
            "spark_version": "14.3.x-scala2.12",
            "num_workers": None,
            "autoscale": {"min_workers": 1, "max_workers": 8},
            "autotermination_minutes": 240,
            "cluster_name": "my-team-data",  # the pattern matches the whole value only
            "custom_tags": {},
            "docker_image": {"url": "repo/image:1"},
        },
    )
    assert message.split("; ") == [
        "Validation failed for node_type_id, the value must be one of [i3.xlarge, i3.2xlarge] "
        '(is "m5d.large")',
        "Validation failed for spark_version, the value must not be one of [14.3.x-scala2.12] "
        '(is "14.3.x-scala2.12")',
        'Validation failed for autoscale.max_workers, the value must be at most 4 (is "8")',
        'Validation failed for autotermination_minutes, the value must be at most 120 (is "240")',
        'Validation failed for cluster_name, the value must match the regex team-[a-z]+ (is "my-team-data")',
        "Validation failed for custom_tags, owner must be present",
        "Validation failed for docker_image.url, the value must not be present",
    ]


def test_default_values_fill_in_only_when_asked(api: Api) -> None:
    policy_id = make_policy(
        api,
        {
            "autotermination_minutes": {"type": "range", "maxValue": 120, "defaultValue": 45},
            "custom_tags.team": {"type": "unlimited", "defaultValue": "data"},
        },
    )
    message = refused(api, {**BASE, "policy_id": policy_id})
    assert message == "Validation failed for autotermination_minutes, the value must be present"
    cluster = api.get(api.create(**BASE, policy_id=policy_id, apply_policy_default_values=True))
    assert cluster["autotermination_minutes"] == 45 and cluster["custom_tags"]["team"] == "data"


def test_an_edit_is_held_to_the_policy_and_the_job_policy_to_job_clusters(api: Api) -> None:
    policy_id = make_policy(api, {"num_workers": {"type": "range", "maxValue": 2}})
    cluster_id = api.create(**BASE, policy_id=policy_id)
    api.wait_for(cluster_id, "RUNNING")
    status, answer = api.call(
        "POST",
        "/api/2.1/clusters/edit",
        {**BASE, "cluster_id": cluster_id, "policy_id": policy_id, "num_workers": 5},
    )
    assert (
        status == 400
        and answer["message"] == 'Validation failed for num_workers, the value must be at most 2 (is "5")'
    )
    job_policy = make_policy(api, {}, definition=None, policy_family_id="job-cluster")
    message = refused(api, {**BASE, "policy_id": job_policy})
    assert 'Validation failed for cluster_type, the value must be job (is "all-purpose")' in message


def test_unknown_and_malformed_policies_at_create(api: Api) -> None:
    status, answer = api.call("POST", "/api/2.1/clusters/create", {**BASE, "policy_id": "0123456789ABCDEF"})
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert answer["message"] == "Can't find a cluster policy with id: 0123456789ABCDEF."
    broken = make_policy(api, {}, definition=json.dumps([{"foo": "bar"}]))
    message = refused(api, {**BASE, "policy_id": broken})
    assert message.startswith(
        f"Requests for the policy {broken} cannot be satisfied due to the malformed policy"
    )


def test_policies_are_kept_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "workspace.json"
    with Emulator(time_scale=0, state_file=state) as emu:
        policy_id = make_policy(Api(emu), {"num_workers": {"type": "fixed", "value": 1}}, name="kept")
    with Emulator(time_scale=0, state_file=state) as emu:
        api = Api(emu)
        status, got = api.call("GET", f"{POLICIES}/get", policy_id=policy_id)
        assert status == 200 and got["name"] == "kept"
        message = refused(api, {**BASE, "policy_id": policy_id, "num_workers": 3})
        assert message == 'Validation failed for num_workers, the value must be 1 (is "3")'


def test_auto_runtimes_nested_paths_and_unenforced_paths(api: Api) -> None:
    policy_id = make_policy(
        api,
        {
            "spark_version": {"type": "fixed", "value": "auto:latest-lts"},
            "docker_image.basic_auth.username": {"type": "fixed", "value": "robot"},
            "dbus_per_hour": {"type": "range", "maxValue": 10},
            "cluster_log_conf.type": {"type": "fixed", "value": "DBFS"},
        },
    )
    body = {**BASE, "spark_version": None, "policy_id": policy_id, "docker_image": {"url": "repo/image:1"}}
    body["docker_image"]["basic_auth"] = {"password": "secret"}
    cluster = api.get(api.create(**body))
    assert cluster["spark_version"] == "18.x-scala2.13"  # the newest LTS the workspace offers
    assert cluster["docker_image"]["basic_auth"]["username"] == "robot"
