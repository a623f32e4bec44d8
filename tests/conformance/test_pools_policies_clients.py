"""Instance pools, cluster policies and policy families through real clients: databricks-sdk
(``w.instance_pools``, ``w.cluster_policies``, ``w.policy_families``, and ``w.clusters`` creating with a
policy and from a pool, and a cluster's permissions and owner) and the legacy databricks-cli 0.18
(``instance-pools`` and ``cluster-policies``, run as a subprocess against a workspace on port 80).
Emulated time is stopped: the tests move it."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound
from databricks.sdk.service.compute import (
    ClusterAccessControlRequest,
    ClusterPermissionLevel,
    InstancePoolAwsAttributes,
    InstancePoolAwsAttributesAvailability,
    InstancePoolState,
    ListSortColumn,
    ListSortOrder,
    State,
)

from airflow_databricks_clusters.emulator import Emulator
from tests.conformance.test_legacy_cli import LegacyCli, cli, emu80  # noqa: F401 (fixtures)

RUNTIME = "15.4.x-scala2.12"


@pytest.fixture(autouse=True)
def no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own ``DATABRICKS_*`` settings must not reach the SDK."""
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


def client(emu: Emulator) -> WorkspaceClient:
    return WorkspaceClient(host=emu.url, token=emu.token, auth_type="pat")


def test_sdk_instance_pools_and_a_warm_cluster(emu: Emulator) -> None:
    w = client(emu)
    created = w.instance_pools.create(
        instance_pool_name="sdk-pool",
        node_type_id="m5d.xlarge",
        min_idle_instances=2,
        max_capacity=4,
        idle_instance_autotermination_minutes=30,
        aws_attributes=InstancePoolAwsAttributes(availability=InstancePoolAwsAttributesAvailability.SPOT),
        preloaded_spark_versions=[RUNTIME],
        custom_tags={"team": "data"},
    )
    pool_id = created.instance_pool_id
    assert pool_id
    emu.advance(0.4)  # the idle instances launch
    pool = w.instance_pools.get(pool_id)
    assert pool.state == InstancePoolState.ACTIVE and pool.stats is not None and pool.stats.idle_count == 2
    assert pool.aws_attributes is not None
    assert pool.aws_attributes.availability == InstancePoolAwsAttributesAvailability.SPOT
    w.instance_pools.edit(pool_id, "sdk-pool-2", "m5d.xlarge", max_capacity=6, min_idle_instances=2)
    assert [p.instance_pool_name for p in w.instance_pools.list() if p.instance_pool_id == pool_id] == [
        "sdk-pool-2"
    ]
    cluster_id = w.clusters.create(
        spark_version=RUNTIME, cluster_name="pooled", num_workers=1, instance_pool_id=pool_id
    ).cluster_id
    emu.advance(0.1)  # a quarter of the fixture's 0.4 s cold start
    details = w.clusters.get(cluster_id)
    assert details.state == State.RUNNING and details.driver_node_type_id == "m5d.xlarge"
    stats = w.instance_pools.get(pool_id).stats
    assert stats is not None and stats.used_count == 2
    w.instance_pools.delete(pool_id)
    assert w.instance_pools.get(pool_id).state == InstancePoolState.DELETED
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        w.clusters.create(spark_version=RUNTIME, num_workers=1, instance_pool_id=pool_id)


def test_sdk_cluster_policies_families_and_a_cluster_under_a_policy(emu: Emulator) -> None:
    w = client(emu)
    rules = {
        "autotermination_minutes": {"type": "range", "maxValue": 60, "defaultValue": 30},
        "custom_tags.team": {"type": "fixed", "value": "data"},
    }
    policy_id = w.cluster_policies.create(name="sdk-policy", definition=json.dumps(rules)).policy_id
    assert policy_id
    policy = w.cluster_policies.get(policy_id)
    assert policy.name == "sdk-policy" and json.loads(policy.definition or "") == rules
    w.cluster_policies.edit(policy_id, name="sdk-policy-2", definition=json.dumps(rules))
    names = [
        p.name
        for p in w.cluster_policies.list(sort_column=ListSortColumn.POLICY_NAME, sort_order=ListSortOrder.ASC)
    ]
    assert "sdk-policy-2" in names and names == sorted(names, key=lambda n: (n or "").lower())
    families = list(w.policy_families.list(max_results=1))  # pages through next_page_token
    assert len(families) >= 4 and len({f.policy_family_id for f in families}) == len(families)
    assert w.policy_families.get("personal-vm").name == "Personal Compute"

    cluster_id = w.clusters.create(
        spark_version=RUNTIME,
        node_type_id="i3.xlarge",
        num_workers=1,
        policy_id=policy_id,
        apply_policy_default_values=True,
    ).cluster_id
    details = w.clusters.get(cluster_id)
    assert details.autotermination_minutes == 30 and (details.custom_tags or {})["team"] == "data"
    assert details.policy_id == policy_id
    with pytest.raises(InvalidParameterValue, match="Validation failed for autotermination_minutes"):
        w.clusters.create(
            spark_version=RUNTIME,
            node_type_id="i3.xlarge",
            num_workers=1,
            policy_id=policy_id,
            autotermination_minutes=120,
        )
    w.cluster_policies.delete(policy_id)
    with pytest.raises(NotFound, match="Can't find a cluster policy"):
        w.cluster_policies.get(policy_id)
    with pytest.raises(NotFound):
        w.clusters.create(spark_version=RUNTIME, node_type_id="i3.xlarge", num_workers=1, policy_id=policy_id)


def test_legacy_cli_instance_pools(cli: LegacyCli, emu80: Emulator) -> None:  # noqa: F811
    spec: dict[str, Any] = {
        "instance_pool_name": "cli-pool",
        "node_type_id": "i3.xlarge",
        "min_idle_instances": 1,
        "max_capacity": 5,
    }
    pool_id = cli.json("instance-pools", "create", "--json", json.dumps(spec))["instance_pool_id"]
    emu80.advance(10)
    got = cli.json("instance-pools", "get", "--instance-pool-id", pool_id)
    assert got["instance_pool_name"] == "cli-pool" and got["stats"]["idle_count"] == 1
    cli.ok(
        "instance-pools",
        "edit",
        "--json",
        json.dumps({**spec, "instance_pool_id": pool_id, "max_capacity": 8}),
    )
    listed = cli.json("instance-pools", "list", "--output", "JSON")
    assert [p["max_capacity"] for p in listed["instance_pools"] if p["instance_pool_id"] == pool_id] == [8]
    table = cli.ok("instance-pools", "list")
    assert any(line.split()[:3] == [pool_id, "cli-pool", "1"] for line in table.splitlines())
    cli.ok("instance-pools", "delete", "--instance-pool-id", pool_id)
    assert cli.json("instance-pools", "get", "--instance-pool-id", pool_id)["state"] == "DELETED"


def test_legacy_cli_cluster_policies(cli: LegacyCli, emu80: Emulator) -> None:  # noqa: F811
    rules = {"num_workers": {"type": "range", "maxValue": 2}}
    # The CLI turns a definition given as an object into the JSON string the API takes.
    policy_id = cli.json(
        "cluster-policies", "create", "--json", json.dumps({"name": "cli-policy", "definition": rules})
    )["policy_id"]
    got = cli.json("cluster-policies", "get", "--policy-id", policy_id)
    assert got["name"] == "cli-policy" and json.loads(got["definition"]) == rules
    cli.ok(
        "cluster-policies",
        "edit",
        "--json",
        json.dumps({"policy_id": policy_id, "name": "cli-policy-2", "definition": json.dumps(rules)}),
    )
    assert policy_id in cli.ok("cluster-policies", "list")
    spec = {"spark_version": RUNTIME, "node_type_id": "i3.xlarge", "num_workers": 3, "policy_id": policy_id}
    error = cli.error("clusters", "create", "--json", json.dumps(spec))
    assert error["error_code"] == "INVALID_PARAMETER_VALUE" and "num_workers" in error["message"]
    cli.ok("cluster-policies", "delete", "--policy-id", policy_id)
    assert (
        cli.error("cluster-policies", "get", "--policy-id", policy_id)["error_code"]
        == "RESOURCE_DOES_NOT_EXIST"
    )


def test_sdk_cluster_permissions_and_change_owner(emu: Emulator) -> None:
    w = client(emu)
    cluster_id = w.clusters.create(spark_version=RUNTIME, node_type_id="i3.xlarge", num_workers=1).cluster_id
    granted = w.clusters.set_permissions(
        cluster_id,
        access_control_list=[
            ClusterAccessControlRequest(
                user_name="ana@example.com", permission_level=ClusterPermissionLevel.CAN_RESTART
            )
        ],
    )
    assert granted.object_id == f"/clusters/{cluster_id}"
    updated = w.clusters.update_permissions(
        cluster_id,
        access_control_list=[
            ClusterAccessControlRequest(
                group_name="analysts", permission_level=ClusterPermissionLevel.CAN_ATTACH_TO
            )
        ],
    )
    levels = {
        (entry.user_name or entry.group_name): [p.permission_level for p in entry.all_permissions or []]
        for entry in updated.access_control_list or []
    }
    assert levels["ana@example.com"] == [ClusterPermissionLevel.CAN_RESTART]
    assert levels["analysts"] == [ClusterPermissionLevel.CAN_ATTACH_TO]
    assert w.clusters.get_permissions(cluster_id).access_control_list == updated.access_control_list
    described = w.clusters.get_permission_levels(cluster_id).permission_levels or []
    assert {d.permission_level for d in described} == set(ClusterPermissionLevel)
    w.clusters.delete(cluster_id)
    emu.advance(1)
    w.clusters.change_owner(cluster_id, "new-owner@example.com")
    assert w.clusters.get(cluster_id).creator_user_name == "new-owner@example.com"
