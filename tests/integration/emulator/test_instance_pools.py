"""Instance pools over the wire: the Instance Pools API, idle instances on the workspace's clock, and
clusters that take their nodes from a pool (a warm start is faster, measured in emulated time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import SPEC, Api

POOLS = "/api/2.0/instance-pools"
#: The ``emu`` fixture's start_seconds, and the pooled start it implies (a quarter of it).
COLD, WARM = 0.4, 0.1


def create_pool(api: Api, **fields: Any) -> str:
    body = {"instance_pool_name": "warm-pool", "node_type_id": "m5d.xlarge", **fields}
    status, answer = api.call("POST", f"{POOLS}/create", body)
    assert status == 200, answer
    return str(answer["instance_pool_id"])


def pool(api: Api, pool_id: str) -> dict[str, Any]:
    status, answer = api.call("GET", f"{POOLS}/get", instance_pool_id=pool_id)
    assert status == 200, answer
    return dict(answer)


def pooled_cluster(api: Api, pool_id: str, **fields: Any) -> str:
    return api.create(**{"node_type_id": None, "instance_pool_id": pool_id, **fields})


def seconds_to_running(emu: Emulator, cluster_id: str) -> float:
    """Emulated seconds from the cluster's (last) CREATING or STARTING event to its RUNNING event."""
    events = emu.events(cluster_id)
    began = [e["timestamp"] for e in events if e["type"] in ("CREATING", "STARTING")][-1]
    running = [e["timestamp"] for e in events if e["type"] == "RUNNING"][-1]
    return (running - began) / 1000


def test_create_get_edit_list_and_delete_a_pool(emu: Emulator, api: Api) -> None:
    pool_id = create_pool(
        api,
        max_capacity=10,
        idle_instance_autotermination_minutes=15,
        aws_attributes={"availability": "SPOT", "zone_id": "auto"},
        preloaded_spark_versions=["15.4.x-scala2.12"],
        custom_tags={"team": "data"},
    )
    got = pool(api, pool_id)
    assert got["state"] == "ACTIVE" and got["node_type_id"] == "m5d.xlarge"
    assert got["max_capacity"] == 10 and got["min_idle_instances"] == 0
    assert got["aws_attributes"]["spot_bid_price_percent"] == 100  # the server's default
    assert got["default_tags"]["DatabricksInstancePoolId"] == pool_id
    assert got["stats"] == {
        "used_count": 0,
        "idle_count": 0,
        "pending_used_count": 0,
        "pending_idle_count": 0,
    }
    status, answer = api.call(
        "POST",
        f"{POOLS}/edit",
        {
            "instance_pool_id": pool_id,
            "instance_pool_name": "renamed",
            "node_type_id": "m5d.xlarge",
            "max_capacity": 20,
        },
    )
    assert status == 200 and answer == {}
    edited = pool(api, pool_id)
    assert edited["instance_pool_name"] == "renamed" and edited["max_capacity"] == 20
    assert edited["aws_attributes"]["availability"] == "SPOT"  # not an edit's field: kept
    status, listed = api.call("GET", f"{POOLS}/list")
    assert status == 200 and pool_id in [p["instance_pool_id"] for p in listed["instance_pools"]]
    assert api.call("POST", f"{POOLS}/delete", {"instance_pool_id": pool_id}) == (200, {})
    assert pool(api, pool_id)["state"] == "DELETED"
    status, listed = api.call("GET", f"{POOLS}/list")
    assert pool_id not in [p["instance_pool_id"] for p in listed["instance_pools"]]


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"node_type_id": "x9.huge"}, "INVALID_PARAMETER_VALUE", "Node type x9.huge is not supported"),
        ({"node_type_id": None}, "INVALID_PARAMETER_VALUE", "Missing required field: node_type_id"),
        ({"min_idle_instances": 5, "max_capacity": 2}, "INVALID_PARAMETER_VALUE", "must not be greater"),
        (
            {"aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}},
            "INVALID_PARAMETER_VALUE",
            "SPOT, ON_DEMAND",
        ),
        (
            {"preloaded_spark_versions": ["7.0.x-scala2.12"]},
            "INVALID_PARAMETER_VALUE",
            "Invalid spark version",
        ),
        ({"max_capacity": "ten"}, "MALFORMED_REQUEST", "field max_capacity"),
        ({"warm": True}, "MALFORMED_REQUEST", "Unknown field warm"),
    ],
)
def test_a_bad_pool_is_refused_naming_the_field(
    api: Api, fields: dict[str, Any], code: str, words: str
) -> None:
    body = {"instance_pool_name": "p", "node_type_id": "m5d.xlarge", **fields}
    status, answer = api.call("POST", f"{POOLS}/create", body)
    assert status == 400 and answer["error_code"] == code and words in answer["message"], answer


def test_a_pool_name_is_unique_among_pools_not_deleted(api: Api) -> None:
    first = create_pool(api, instance_pool_name="unique")
    status, answer = api.call(
        "POST", f"{POOLS}/create", {"instance_pool_name": "unique", "node_type_id": "i3.xlarge"}
    )
    assert (status, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    api.call("POST", f"{POOLS}/delete", {"instance_pool_id": first})
    assert create_pool(api, instance_pool_name="unique") != first


def test_unknown_pool_and_a_changed_node_type_are_refused(emu: Emulator, api: Api) -> None:
    status, answer = api.call("GET", f"{POOLS}/get", instance_pool_id="0000-000000-nope-pool-x")
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    pool_id = create_pool(api)
    status, answer = api.call(
        "POST",
        f"{POOLS}/edit",
        {"instance_pool_id": pool_id, "instance_pool_name": "p", "node_type_id": "i3.xlarge"},
    )
    assert status == 400 and "cannot be changed" in answer["message"]


def test_idle_instances_launch_then_wait_and_a_warm_start_is_faster_than_a_cold_one(
    emu: Emulator, api: Api
) -> None:
    pool_id = create_pool(api, min_idle_instances=3)
    assert pool(api, pool_id)["stats"]["pending_idle_count"] == 3
    emu.advance(COLD)  # a new idle instance takes a cold start to launch
    assert pool(api, pool_id)["stats"]["idle_count"] == 3
    warm = pooled_cluster(api, pool_id, num_workers=2)  # driver + 2 workers: all idle ones
    cold = api.create(node_type_id="m5d.xlarge", num_workers=2)
    emu.advance(WARM)
    assert api.get(warm)["state"] == "RUNNING" and api.get(cold)["state"] == "PENDING"
    api.wait_for(cold, "RUNNING")
    assert seconds_to_running(emu, warm) == pytest.approx(WARM, abs=0.002)
    assert seconds_to_running(emu, cold) == pytest.approx(COLD, abs=0.002)
    running = api.get(warm)
    assert running["driver_node_type_id"] == "m5d.xlarge"  # the pool's node type
    assert running["cluster_memory_mb"] == 3 * 16384
    stats = pool(api, pool_id)["stats"]
    assert stats["used_count"] == 3 and stats["idle_count"] + stats["pending_idle_count"] == 3  # topped up


def test_a_start_that_must_launch_instances_is_a_cold_one(emu: Emulator, api: Api) -> None:
    pool_id = create_pool(api, min_idle_instances=1)
    emu.advance(COLD)
    cluster_id = pooled_cluster(api, pool_id, num_workers=2)  # one idle, two launched
    api.wait_for(cluster_id, "RUNNING")
    assert seconds_to_running(emu, cluster_id) == pytest.approx(COLD, abs=0.002)


def test_instances_go_back_idle_when_the_cluster_ends_and_expire_past_the_minimum(
    emu: Emulator, api: Api
) -> None:
    pool_id = create_pool(api, idle_instance_autotermination_minutes=10)
    cluster_id = pooled_cluster(api, pool_id, num_workers=1)
    api.wait_for(cluster_id, "RUNNING")
    assert pool(api, pool_id)["stats"]["used_count"] == 2
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    api.wait_for(cluster_id, "TERMINATED")
    assert pool(api, pool_id)["stats"] == {
        "used_count": 0,
        "idle_count": 2,
        "pending_used_count": 0,
        "pending_idle_count": 0,
    }
    api.call("POST", "/api/2.1/clusters/start", {"cluster_id": cluster_id})
    api.wait_for(cluster_id, "RUNNING")
    assert seconds_to_running(emu, cluster_id) == pytest.approx(WARM, abs=0.002)  # its own idle instances
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    api.wait_for(cluster_id, "TERMINATED")
    emu.advance(10 * 60)  # the fixture's autotermination_scale: 60 emulated seconds a minute
    assert pool(api, pool_id)["stats"]["idle_count"] == 0


def test_a_pool_at_max_capacity_fails_the_start(emu: Emulator, api: Api) -> None:
    pool_id = create_pool(api, max_capacity=2)
    cluster_id = pooled_cluster(api, pool_id, num_workers=2)  # three instances asked of two
    ended = api.wait_for(cluster_id, "TERMINATED")
    reason = ended["termination_reason"]
    assert reason["code"] == "INSTANCE_POOL_MAX_CAPACITY_REACHED" and reason["type"] == "CLIENT_ERROR"
    assert reason["parameters"]["instance_pool_id"] == pool_id
    assert pool(api, pool_id)["stats"]["used_count"] == 0  # nothing was taken
    small = pooled_cluster(api, pool_id, num_workers=1)
    api.wait_for(small, "RUNNING")


def test_a_deleted_pool_keeps_its_running_clusters_but_no_start_or_new_cluster(
    emu: Emulator, api: Api
) -> None:
    pool_id = create_pool(api)
    cluster_id = pooled_cluster(api, pool_id, num_workers=1)
    api.wait_for(cluster_id, "RUNNING")
    api.call("POST", f"{POOLS}/delete", {"instance_pool_id": pool_id})
    emu.advance(COLD)
    assert api.get(cluster_id)["state"] == "RUNNING"
    status, answer = api.call(
        "POST", "/api/2.1/clusters/create", {**SPEC, "node_type_id": None, "instance_pool_id": pool_id}
    )
    assert status == 400 and f"Instance pool {pool_id} does not exist" in answer["message"]
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    api.wait_for(cluster_id, "TERMINATED")
    assert pool(api, pool_id)["stats"]["idle_count"] == 0  # a deleted pool keeps nothing
    api.call("POST", "/api/2.1/clusters/start", {"cluster_id": cluster_id})
    ended = api.wait_for(cluster_id, "TERMINATED")
    assert ended["termination_reason"]["code"] == "INSTANCE_POOL_NOT_FOUND"


def test_pools_and_their_instances_are_kept_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "workspace.json"
    with Emulator(start_seconds=0.4, time_scale=0, state_file=state) as emu:
        api = Api(emu)
        pool_id = create_pool(api, min_idle_instances=2)
        emu.advance(COLD)
        cluster_id = pooled_cluster(api, pool_id, num_workers=0)
    with Emulator(start_seconds=0.4, time_scale=0, state_file=state) as emu:
        api = Api(emu)
        assert pool(api, pool_id)["stats"]["used_count"] == 1
        api.wait_for(cluster_id, "RUNNING")
        api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
        api.wait_for(cluster_id, "TERMINATED")
        assert pool(api, pool_id)["stats"]["used_count"] == 0


def test_a_driver_pool_gives_the_driver_and_its_node_type(emu: Emulator, api: Api) -> None:
    workers = create_pool(api, min_idle_instances=2)
    drivers = create_pool(api, instance_pool_name="drivers", node_type_id="r5d.xlarge", min_idle_instances=1)
    emu.advance(COLD)
    cluster_id = pooled_cluster(api, workers, num_workers=2, driver_instance_pool_id=drivers)
    emu.advance(WARM)
    cluster = api.get(cluster_id)
    assert cluster["state"] == "RUNNING" and cluster["driver_node_type_id"] == "r5d.xlarge"
    assert pool(api, workers)["stats"]["used_count"] == 2 and pool(api, drivers)["stats"]["used_count"] == 1


def test_a_pooled_cluster_shows_its_pools_node_type(emu: Emulator, api: Api) -> None:
    cluster = api.get(pooled_cluster(api, create_pool(api, instance_pool_name="shown"), num_workers=1))
    assert cluster["node_type_id"] == "m5d.xlarge" and cluster["driver_node_type_id"] == "m5d.xlarge"
    assert "node_type_id" not in cluster["spec"]  # the spec is as it was given


def test_a_resize_and_an_edit_take_from_and_give_back_to_the_pools(emu: Emulator, api: Api) -> None:
    """A running cluster's pool instances follow its size and its pools, not only its start."""
    pool_id = create_pool(api, instance_pool_name="sized", max_capacity=4)
    cluster_id = pooled_cluster(api, pool_id, num_workers=1)
    api.wait_for(cluster_id, "RUNNING")
    assert pool(api, pool_id)["stats"]["used_count"] == 2
    resize = "/api/2.1/clusters/resize"
    assert api.call("POST", resize, {"cluster_id": cluster_id, "num_workers": 3}) == (200, {})
    assert pool(api, pool_id)["stats"]["used_count"] == 4
    api.wait_for(cluster_id, "RUNNING")
    # Beyond the pool's max_capacity: refused, and nothing changes.
    status, answer = api.call("POST", resize, {"cluster_id": cluster_id, "num_workers": 4})
    assert status == 400 and "max capacity of 4" in answer["message"], answer
    assert api.get(cluster_id)["num_workers"] == 3 and pool(api, pool_id)["stats"]["used_count"] == 4
    assert api.call("POST", resize, {"cluster_id": cluster_id, "num_workers": 1}) == (200, {})
    api.wait_for(cluster_id, "RUNNING")
    stats = pool(api, pool_id)["stats"]
    assert stats["used_count"] == 2 and stats["idle_count"] == 2
    # An edit onto another pool moves its instances there.
    other = create_pool(api, instance_pool_name="other")
    edit = {
        **SPEC,
        "node_type_id": None,
        "instance_pool_id": other,
        "num_workers": 1,
        "cluster_id": cluster_id,
    }
    edit = {k: v for k, v in edit.items() if v is not None}
    assert api.call("POST", "/api/2.1/clusters/edit", edit) == (200, {})
    assert pool(api, pool_id)["stats"]["used_count"] == 0 and pool(api, other)["stats"]["used_count"] == 2


def test_an_autoscaling_cluster_resized_to_a_fixed_size_holds_that_many(emu: Emulator, api: Api) -> None:
    pool_id = create_pool(api, instance_pool_name="autoscaled")
    cluster_id = pooled_cluster(
        api, pool_id, num_workers=None, autoscale={"min_workers": 1, "max_workers": 4}
    )
    api.wait_for(cluster_id, "RUNNING")
    assert pool(api, pool_id)["stats"]["used_count"] == 2
    assert api.call("POST", "/api/2.1/clusters/resize", {"cluster_id": cluster_id, "num_workers": 3}) == (
        200,
        {},
    )
    assert pool(api, pool_id)["stats"]["used_count"] == 4  # the driver and three workers
