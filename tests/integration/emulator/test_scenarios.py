"""Every scenario: the state a client sees, the event trail and the termination reason."""

from __future__ import annotations

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api


def test_spot_capacity_failure_on_spot(emu: Emulator, api: Api) -> None:
    emu.set_scenario("spot_capacity_failure")
    cluster_id = api.create(aws_attributes={"availability": "SPOT", "first_on_demand": 0})
    cluster = api.wait_for(cluster_id, "TERMINATED")
    reason = cluster["termination_reason"]
    assert reason["code"] == "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"
    assert reason["type"] == "CLOUD_FAILURE"
    assert reason["parameters"]["aws_api_error_code"] == "InsufficientInstanceCapacity"
    assert api.event_types(cluster_id) == ["CREATING", "TERMINATING"]


def test_spot_capacity_shortage_with_fallback_runs_on_demand(emu: Emulator, api: Api) -> None:
    emu.set_scenario("spot_capacity_failure")
    cluster_id = api.create()
    cluster = api.wait_for(cluster_id, "RUNNING")
    assert [node["node_aws_attributes"]["is_spot"] for node in cluster["executors"]] == [False, False]
    events = emu.events(cluster_id)
    assert [e["type"] for e in events] == ["CREATING", "ADD_NODES_FAILED", "DRIVER_HEALTHY", "RUNNING"]
    assert (
        "falling back to on-demand"
        in events[1]["details"]["reason"]["parameters"]["databricks_error_message"]
    )


def test_spot_nodes_lost_and_replaced(emu: Emulator, api: Api) -> None:
    emu.set_scenario("spot_nodes_lost", count=1, after_seconds=0.2)
    cluster_id = api.create(num_workers=3)
    api.wait_for(cluster_id, "RUNNING")
    emu.advance(0.8)  # lost 0.2 s after RUNNING, replaced half a start (0.2 s) later
    cluster = api.get(cluster_id)
    assert cluster["state"] == "RUNNING" and len(cluster["executors"]) == 3
    events = emu.events(cluster_id)
    lost = next(e for e in events if e["type"] == "NODES_LOST")
    assert lost["details"]["current_num_workers"] == 2
    assert lost["details"]["reason"]["code"] == "SPOT_INSTANCE_TERMINATION"
    assert [e["type"] for e in events][-2:] == ["NODES_LOST", "UPSIZE_COMPLETED"]


def test_docker_image_pull_failure(emu: Emulator, api: Api) -> None:
    emu.set_scenario("docker_image_pull_failure", cluster_name="emu-test")
    cluster_id = api.create(docker_image={"url": "repo/image:missing"})
    cluster = api.wait_for(cluster_id, "TERMINATED")
    assert cluster["termination_reason"]["code"] == "DOCKER_IMAGE_PULL_FAILURE"
    assert "repo/image:missing" in cluster["state_message"]
    assert cluster["docker_image"] == {"url": "repo/image:missing"}


def test_init_script_failure(emu: Emulator, api: Api) -> None:
    emu.set_scenario("init_script_failure")
    scripts = [{"s3": {"destination": "s3://bucket/init.sh", "region": "ap-southeast-1"}}]
    cluster_id = api.create(init_scripts=scripts)
    cluster = api.wait_for(cluster_id, "TERMINATED")
    assert cluster["termination_reason"]["code"] == "INIT_SCRIPT_FAILURE"
    assert "s3://bucket/init.sh" in cluster["termination_reason"]["parameters"]["databricks_error_message"]
    assert api.event_types(cluster_id) == ["CREATING", "INIT_SCRIPTS_STARTED", "TERMINATING"]
    assert cluster["init_scripts"] == scripts


def test_stuck_pending_applies_only_times_clusters(emu: Emulator, api: Api) -> None:
    emu.set_scenario("stuck_pending", times=1)
    stuck, fine = api.create(), api.create()
    api.wait_for(fine, "RUNNING")
    assert api.get(stuck)["state"] == "PENDING"
    assert api.get(stuck)["state_message"].startswith("Finding instances")


def test_scenarios_through_the_admin_endpoint(emu: Emulator, api: Api) -> None:
    status, body = api.call("POST", "/emulator/scenarios", {"name": "stuck_pending"})
    assert status == 200 and body["scenario_id"]
    cluster_id = api.create()
    assert api.get(cluster_id)["state"] == "PENDING"
    assert api.call("DELETE", "/emulator/scenarios") == (200, {})
    status, body = api.call("POST", "/emulator/scenarios", {"name": "no_such_scenario"})
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
    status, body = api.call("POST", "/emulator/scenarios", {"name": "stuck_pending", "times": 0})
    assert status == 400 and "Invalid times 0" in body["message"]


def test_autotermination_really_fires(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(autotermination_minutes=10)
    api.wait_for(cluster_id, "RUNNING")
    emu.advance(10 * 60)
    cluster = api.wait_for(cluster_id, "TERMINATED")
    assert cluster["termination_reason"] == {
        "code": "INACTIVITY",
        "type": "SUCCESS",
        "parameters": {"inactivity_duration_min": "10"},
    }
    assert cluster["state_message"] == "Inactive cluster terminated (inactive for 10 minutes)."


def test_spot_fallback_to_on_demand_runs_every_worker_on_demand(emu: Emulator, api: Api) -> None:
    emu.set_scenario("spot_fallback_to_on_demand", times=1)
    fell_back, normal = api.create(num_workers=3), api.create(num_workers=3)
    cluster = api.wait_for(fell_back, "RUNNING")
    assert [node["node_aws_attributes"]["is_spot"] for node in cluster["executors"]] == [False] * 3
    assert cluster["driver"]["node_aws_attributes"]["is_spot"] is False  # first_on_demand 1
    events = emu.events(fell_back)
    assert [e["type"] for e in events] == ["CREATING", "ADD_NODES_FAILED", "DRIVER_HEALTHY", "RUNNING"]
    reason = events[1]["details"]["reason"]
    assert (reason["code"], reason["type"]) == ("AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "CLOUD_FAILURE")
    # `times=1`: the next cluster gets spot workers as usual.
    spot = [n["node_aws_attributes"]["is_spot"] for n in api.wait_for(normal, "RUNNING")["executors"]]
    assert spot == [True] * 3
