"""EC2 capacity: a start meets the shortages set as a workspace meets AWS's, spot machines are taken back
when a spot shortage begins, and the shortages are set in Python, over HTTP and on the command line.

The clock is stopped (the ``emu`` fixture): a start takes 0.4 emulated seconds and buys its instances
halfway (0.2 s), where a start without capacity fails; TERMINATING lasts 0.2 s.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.cli import main
from tests.integration.emulator.conftest import SPEC, Api
from tests.integration.emulator.test_command import free_port, start

A, B, C = "ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"
SPOT_MESSAGE = "There is no Spot capacity available that matches your request."
NO_SPOT = [{"market": "SPOT"}]
NO_ON_DEMAND = [{"market": "ON_DEMAND"}]
ELSEWHERE = [{"node_type_id": "m5d.xlarge"}, {"zone_id": B}, {"until_seconds": 1.0}]
#: The events of a start after CREATING: as usual, and after some nodes could not be had.
STARTED = ["DRIVER_HEALTHY", "RUNNING"]
SHORT = ["ADD_NODES_FAILED", "DRIVER_HEALTHY", "RUNNING"]


def aws(availability: str, first_on_demand: int, **more: Any) -> dict[str, Any]:
    return {"aws_attributes": {"availability": availability, "first_on_demand": first_on_demand, **more}}


def spot_flags(cluster: dict[str, Any]) -> tuple[bool | None, list[bool]]:
    """Whether the driver and each executor are on spot."""
    driver = cluster.get("driver")
    return (
        None if driver is None else driver["node_aws_attributes"]["is_spot"],
        [node["node_aws_attributes"]["is_spot"] for node in cluster.get("executors") or []],
    )


def event(emu: Emulator, cluster_id: str, kind: str, nth: int = 0) -> dict[str, Any]:
    found = [e for e in emu.events(cluster_id) if e["type"] == kind]
    assert len(found) > nth, f"no {kind} #{nth} in {[e['type'] for e in emu.events(cluster_id)]}"
    return found[nth]


def placement(emu: Emulator, cluster_id: str) -> dict[str, Any]:
    """The emulator's own RUNNING detail: the zone and the node types the cluster got."""
    return dict(event(emu, cluster_id, "RUNNING")["details"]["emulator_placement"])


# -- markets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("availability", "first_on_demand", "shortages", "driver", "executors", "events"),
    [
        # SPOT: spot workers that cannot be had are missing; the cluster runs without them.
        ("SPOT", 1, NO_SPOT, False, [], SHORT),
        ("SPOT", 0, NO_ON_DEMAND, True, [True, True], STARTED),
        ("SPOT", 2, NO_SPOT, False, [False], SHORT),
        # SPOT_WITH_FALLBACK: no spot, on demand instead.
        ("SPOT_WITH_FALLBACK", 1, NO_SPOT, False, [False, False], SHORT),
        ("SPOT_WITH_FALLBACK", 0, NO_SPOT, False, [False, False], SHORT),
        ("SPOT_WITH_FALLBACK", 0, NO_ON_DEMAND, True, [True, True], STARTED),
        # ON_DEMAND: every node on demand; spot shortages do not matter.
        ("ON_DEMAND", 0, NO_SPOT, False, [False, False], STARTED),
        # Shortages elsewhere (another type, another zone, one long over) change nothing.
        ("SPOT", 0, ELSEWHERE, True, [True, True], STARTED),
    ],
)  # fmt: skip
def test_each_market_meets_the_shortages(
    emu: Emulator,
    api: Api,
    availability: str,
    first_on_demand: int,
    shortages: list[dict[str, Any]],
    driver: bool,
    executors: list[bool],
    events: list[str],
) -> None:
    emu.set_capacity(shortages)
    cluster_id = api.create(**aws(availability, first_on_demand, zone_id=A))
    cluster = api.wait_for(cluster_id, "RUNNING", "TERMINATED")
    assert cluster["state"] == "RUNNING"
    assert spot_flags(cluster) == (driver, executors)
    assert api.event_types(cluster_id) == ["CREATING", *events]
    running = event(emu, cluster_id, "RUNNING")["details"]
    assert (running["current_num_workers"], running["target_num_workers"]) == (len(executors), 2)
    assert cluster["aws_attributes"]["zone_id"] == A  # as given


def test_spot_workers_missing_run_fewer_and_say_why(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"node_type_id": "i3.xlarge", "market": "SPOT"}])
    cluster_id = api.create(num_workers=3, **aws("SPOT", 1, zone_id=A))
    cluster = api.wait_for(cluster_id, "RUNNING")
    assert spot_flags(cluster) == (False, [])
    failed = event(emu, cluster_id, "ADD_NODES_FAILED")
    reason = failed["details"]["reason"]
    assert (reason["code"], reason["type"]) == ("AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "CLOUD_FAILURE")
    assert reason["parameters"]["aws_api_error_code"] == "InsufficientInstanceCapacity"
    assert reason["parameters"]["aws_error_message"] == SPOT_MESSAGE
    assert (
        "3 of 3 workers (i3.xlarge on spot in ap-southeast-1a)"
        in reason["parameters"]["databricks_error_message"]
    )
    # Halfway through the start, where the instances are bought.
    assert failed["timestamp"] == event(emu, cluster_id, "CREATING")["timestamp"] + 200
    details = event(emu, cluster_id, "RUNNING")["details"]
    assert (details["current_num_workers"], details["target_num_workers"]) == (0, 3)
    assert cluster["num_workers"] == 3  # asked for, still


def test_spot_with_fallback_writes_the_fallback_event_as_the_scenario_does(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"market": "SPOT"}])
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    assert event(emu, cluster_id, "ADD_NODES_FAILED")["details"] == {
        "reason": {
            "code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
            "type": "CLOUD_FAILURE",
            "parameters": {
                "aws_api_error_code": "InsufficientInstanceCapacity",
                "databricks_error_message": (
                    "Spot capacity unavailable; falling back to on-demand instances (availability "
                    "SPOT_WITH_FALLBACK)."
                ),
            },
        }
    }


# -- the driver ----------------------------------------------------------------------------------------


def test_a_start_without_its_spot_driver_terminates_for_capacity(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"market": "SPOT", "zone_id": A}])
    cluster_id = api.create(**aws("SPOT", 0, zone_id=A))
    assert api.get(cluster_id)["state"] == "PENDING"
    cluster = api.wait_for(cluster_id, "TERMINATED")
    assert cluster["termination_reason"] == {
        "code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
        "type": "CLOUD_FAILURE",
        "parameters": {
            "aws_api_error_code": "InsufficientInstanceCapacity",
            "aws_error_message": SPOT_MESSAGE,
        },
    }
    assert cluster["state_message"] == ""
    assert "driver" not in cluster and "executors" not in cluster
    assert api.event_types(cluster_id) == ["CREATING", "TERMINATING"]
    # Where the spot_capacity_failure scenario fails a start: halfway.
    assert event(emu, cluster_id, "TERMINATING")["timestamp"] == cluster["start_time"] + 200


def test_a_start_without_its_on_demand_driver_names_the_type_and_zone_as_aws_does(
    emu: Emulator, api: Api
) -> None:
    emu.set_capacity([{"node_type_id": "i3.xlarge", "zone_id": A, "market": "ON_DEMAND"}])
    cluster_id = api.create(**aws("SPOT_WITH_FALLBACK", 1, zone_id=A))
    cluster = api.wait_for(cluster_id, "TERMINATED")
    assert cluster["termination_reason"]["parameters"] == {
        "aws_api_error_code": "InsufficientInstanceCapacity",
        "aws_error_message": (
            "We currently do not have sufficient i3.xlarge capacity in the Availability Zone you requested "
            "(ap-southeast-1a). Our system will be working on provisioning additional capacity. You can "
            "currently get i3.xlarge capacity by not specifying an Availability Zone in your request or "
            "choosing ap-southeast-1b, ap-southeast-1c."
        ),
    }


def test_a_spot_with_fallback_driver_with_nothing_at_all_fails_on_its_last_try(
    emu: Emulator, api: Api
) -> None:
    emu.set_capacity([{"node_type_id": "i3.xlarge"}])  # both markets
    cluster_id = api.create(**aws("SPOT_WITH_FALLBACK", 0, zone_id=A))
    reason = api.wait_for(cluster_id, "TERMINATED")["termination_reason"]
    assert reason["code"] == "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"
    assert reason["parameters"]["aws_error_message"].startswith(
        "We currently do not have sufficient i3.xlarge capacity"
    )


# -- zones -----------------------------------------------------------------------------------------------


def test_zone_auto_takes_the_next_zone_when_the_first_is_short(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"zone_id": A}])
    cluster_id = api.create(**aws("SPOT_WITH_FALLBACK", 1, zone_id="auto"))
    cluster = api.wait_for(cluster_id, "RUNNING")
    assert spot_flags(cluster) == (False, [True, True])
    assert cluster["aws_attributes"]["zone_id"] == "auto"  # as given
    assert placement(emu, cluster_id)["zone_id"] == B
    assert api.event_types(cluster_id) == ["CREATING", "DRIVER_HEALTHY", "RUNNING"]


def test_zone_auto_fails_only_when_no_zone_has_the_driver(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"zone_id": A}, {"zone_id": B}, {"zone_id": C, "market": "ON_DEMAND"}])
    cluster_id = api.create(**aws("ON_DEMAND", 0, zone_id="auto"))
    reason = api.wait_for(cluster_id, "TERMINATED")["termination_reason"]
    assert "Availability Zone you requested (ap-southeast-1c)" in reason["parameters"]["aws_error_message"]


def test_a_given_zone_is_the_only_zone(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"zone_id": A}])
    cluster_id = api.create(**aws("SPOT_WITH_FALLBACK", 1, zone_id=A))
    assert api.wait_for(cluster_id, "RUNNING", "TERMINATED")["state"] == "TERMINATED"


def test_without_a_zone_the_cluster_is_in_the_default_zone(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"zone_id": A}])
    cluster_id = api.create(aws_attributes={"availability": "SPOT_WITH_FALLBACK"})
    cluster = api.wait_for(cluster_id, "RUNNING", "TERMINATED")
    assert cluster["state"] == "TERMINATED" and cluster["aws_attributes"]["zone_id"] == A


# -- flexible node types -----------------------------------------------------------------------------------


def test_spot_with_fallback_tries_spot_on_every_alternate_before_on_demand(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"node_type_id": "i3.xlarge", "market": "SPOT"}])
    flexible = {"alternate_node_type_ids": ["i3.2xlarge", "r5d.xlarge"]}
    cluster_id = api.create(worker_node_type_flexibility=flexible, **aws("SPOT_WITH_FALLBACK", 1, zone_id=A))
    cluster = api.wait_for(cluster_id, "RUNNING")
    assert spot_flags(cluster) == (False, [True, True])
    assert placement(emu, cluster_id) == {
        "zone_id": A,
        "driver_node_type_id": "i3.xlarge",
        "worker_node_type_ids": ["i3.2xlarge", "i3.2xlarge"],
    }
    assert cluster["worker_node_type_flexibility"] == flexible
    assert cluster["node_type_id"] == "i3.xlarge"  # as given


def test_with_no_spot_on_any_alternate_the_first_type_goes_on_demand(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"market": "SPOT"}, {"node_type_id": "i3.xlarge", "market": "ON_DEMAND"}])
    flexible = {"alternate_node_type_ids": ["i3.2xlarge", "r5d.xlarge"]}
    cluster_id = api.create(
        worker_node_type_flexibility=flexible,
        driver_node_type_flexibility={"alternate_node_type_ids": ["m5d.2xlarge"]},
        **aws("SPOT_WITH_FALLBACK", 1, zone_id=A),
    )
    cluster = api.wait_for(cluster_id, "RUNNING")
    assert spot_flags(cluster) == (False, [False, False])
    assert placement(emu, cluster_id) == {
        "zone_id": A,
        "driver_node_type_id": "m5d.2xlarge",  # the driver's own alternate
        "worker_node_type_ids": ["i3.2xlarge", "i3.2xlarge"],  # on demand, the first type that can be had
    }


def test_the_alternates_must_be_node_types_of_the_workspace(emu: Emulator, api: Api) -> None:
    body = {
        "cluster_name": "x",
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge",
        "num_workers": 1,
    }
    status, answer = api.call(
        "POST",
        "/api/2.1/clusters/create",
        {**body, "driver_node_type_flexibility": {"alternate_node_type_ids": ["x9.huge"]}},
    )
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "x9.huge" in answer["message"] and "driver_node_type_flexibility" in answer["message"]
    status, answer = api.call(
        "POST",
        "/api/2.1/clusters/create",
        {**body, "worker_node_type_flexibility": {"alternate_node_type_ids": "i3"}},
    )
    assert (status, answer["error_code"]) == (400, "MALFORMED_REQUEST")
    assert "worker_node_type_flexibility.alternate_node_type_ids" in answer["message"]


# -- the 85% rule ----------------------------------------------------------------------------------------


def test_a_start_with_under_85_percent_of_its_on_demand_workers_fails(emu: Emulator, api: Api) -> None:
    emu.set_capacity([{"node_type_id": "i3.xlarge", "market": "ON_DEMAND"}])
    cluster_id = api.create(driver_node_type_id="m5d.xlarge", num_workers=4, **aws("ON_DEMAND", 0, zone_id=A))
    cluster = api.wait_for(cluster_id, "TERMINATED")
    reason = cluster["termination_reason"]
    assert (reason["code"], reason["type"]) == ("AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "CLOUD_FAILURE")
    assert reason["parameters"]["aws_api_error_code"] == "InsufficientInstanceCapacity"
    assert "sufficient i3.xlarge capacity" in reason["parameters"]["aws_error_message"]
    assert (
        cluster["state_message"]
        == reason["parameters"]["databricks_error_message"]
        == ("Acquired 0 of the 4 on-demand workers requested; a cluster starts with at least 85% of them.")
    )


def test_first_on_demand_workers_count_in_the_85_percent_rule_spot_ones_do_not(
    emu: Emulator, api: Api
) -> None:
    emu.set_capacity([{"node_type_id": "i3.xlarge", "market": "ON_DEMAND"}])
    # The driver (m5d) on demand, worker 1 on demand by first_on_demand: short, so the start fails.
    failing = api.create(driver_node_type_id="m5d.xlarge", num_workers=3, **aws("SPOT", 2, zone_id=A))
    # Only the driver on demand: the workers are spot, and spot can be had.
    fine = api.create(driver_node_type_id="m5d.xlarge", num_workers=3, **aws("SPOT", 1, zone_id=A))
    assert api.wait_for(failing, "TERMINATED")["termination_reason"]["parameters"][
        "databricks_error_message"
    ] == ("Acquired 0 of the 1 on-demand workers requested; a cluster starts with at least 85% of them.")
    assert spot_flags(api.wait_for(fine, "RUNNING")) == (False, [True, True, True])


# -- over time -------------------------------------------------------------------------------------------


def test_a_start_after_the_shortage_ends_gets_what_it_asked_for(emu: Emulator, api: Api) -> None:
    now = emu.clock.now()
    emu.set_capacity([{"market": "SPOT", "from_seconds": now - 10, "until_seconds": now + 5}])
    short = api.create(**aws("SPOT", 0, zone_id=A))
    assert api.wait_for(short, "TERMINATED")["termination_reason"]["code"] == (
        "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"
    )
    emu.advance(5)
    assert emu.clock.now() >= now + 5
    api.call("POST", "/api/2.1/clusters/start", {"cluster_id": short})
    assert spot_flags(api.wait_for(short, "RUNNING")) == (True, [True, True])


def test_a_spot_shortage_that_begins_takes_back_spot_workers_and_fallback_replaces_them_on_demand(
    emu: Emulator, api: Api
) -> None:
    cluster_id = api.create(num_workers=3, **aws("SPOT_WITH_FALLBACK", 1, zone_id=A))
    running = api.wait_for(cluster_id, "RUNNING")
    lost_ids = [node["instance_id"] for node in running["executors"]]
    begins = emu.clock.now() + 1.0
    emu.set_capacity([{"node_type_id": "i3.xlarge", "zone_id": A, "market": "SPOT", "from_seconds": begins}])
    emu.advance(0.5)
    assert spot_flags(api.get(cluster_id)) == (False, [True, True, True])  # not yet
    emu.advance(0.5)
    cluster = api.get(cluster_id)
    assert cluster["state"] == "RUNNING" and spot_flags(cluster) == (False, [])
    lost = event(emu, cluster_id, "NODES_LOST")
    assert lost["timestamp"] == int(begins * 1000)
    assert lost["details"] == {
        "current_num_workers": 0,
        "target_num_workers": 3,
        "reason": {
            "code": "SPOT_INSTANCE_TERMINATION",
            "type": "CLOUD_FAILURE",
            "parameters": {
                "aws_instance_state_reason": "Server.SpotInstanceTermination",
                "instance_id": ",".join(lost_ids),
            },
        },
    }
    emu.advance(0.2)  # replaced half a start later, on demand: spot is short
    cluster = api.get(cluster_id)
    assert spot_flags(cluster) == (False, [False, False, False])
    assert api.event_types(cluster_id) == [
        "CREATING", "DRIVER_HEALTHY", "RUNNING", "NODES_LOST", "ADD_NODES_FAILED", "UPSIZE_COMPLETED"
    ]  # fmt: skip
    assert event(emu, cluster_id, "UPSIZE_COMPLETED")["timestamp"] == int(begins * 1000) + 200


def test_spot_workers_taken_back_are_not_replaced_without_spot(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(num_workers=2, **aws("SPOT", 1, zone_id=A))
    api.wait_for(cluster_id, "RUNNING")
    emu.set_capacity([{"market": "SPOT", "from_seconds": emu.clock.now() + 1}])
    emu.advance(2)
    cluster = api.get(cluster_id)
    assert cluster["state"] == "RUNNING" and spot_flags(cluster) == (False, [])
    types = api.event_types(cluster_id)
    assert types[-2:] == ["NODES_LOST", "ADD_NODES_FAILED"] and "UPSIZE_COMPLETED" not in types
    reason = event(emu, cluster_id, "ADD_NODES_FAILED")["details"]["reason"]
    assert reason["parameters"]["aws_error_message"] == SPOT_MESSAGE


def test_spot_workers_come_back_on_spot_of_another_type_when_that_can_be_had(emu: Emulator, api: Api) -> None:
    flexible = {"alternate_node_type_ids": ["i3.2xlarge"]}
    cluster_id = api.create(worker_node_type_flexibility=flexible, **aws("SPOT", 1, zone_id=A))
    api.wait_for(cluster_id, "RUNNING")
    emu.set_capacity([{"node_type_id": "i3.xlarge", "market": "SPOT", "from_seconds": emu.clock.now() + 1}])
    emu.advance(2)
    assert spot_flags(api.get(cluster_id)) == (False, [True, True])
    assert api.event_types(cluster_id)[-2:] == ["NODES_LOST", "UPSIZE_COMPLETED"]


def test_a_spot_driver_taken_back_terminates_the_cluster(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(**aws("SPOT", 0, zone_id=A))
    driver = api.wait_for(cluster_id, "RUNNING")["driver"]
    begins = emu.clock.now() + 3
    emu.set_capacity([{"market": "SPOT", "from_seconds": begins}])
    emu.advance(3)
    cluster = api.get(cluster_id)
    assert cluster["state"] == "TERMINATING"
    assert cluster["termination_reason"] == {
        "code": "SPOT_INSTANCE_TERMINATION",
        "type": "CLOUD_FAILURE",
        "parameters": {
            "aws_instance_state_reason": "Server.SpotInstanceTermination",
            "instance_id": driver["instance_id"],
        },
    }
    assert event(emu, cluster_id, "TERMINATING")["timestamp"] == int(begins * 1000)
    assert api.wait_for(cluster_id, "TERMINATED")["termination_reason"]["code"] == "SPOT_INSTANCE_TERMINATION"


def test_a_shortage_already_on_when_set_takes_back_the_spot_machines_running_then(
    emu: Emulator, api: Api
) -> None:
    cluster_id = api.create(**aws("SPOT_WITH_FALLBACK", 1, zone_id=A))
    api.wait_for(cluster_id, "RUNNING")
    emu.advance(10)
    set_at = emu.clock.now()
    emu.set_capacity([{"market": "SPOT"}])  # from the beginning
    assert spot_flags(api.get(cluster_id)) == (False, [])
    assert event(emu, cluster_id, "NODES_LOST")["timestamp"] == int(set_at * 1000)  # not in the past


def test_on_demand_machines_are_never_taken_back(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(**aws("ON_DEMAND", 0, zone_id=A))
    api.wait_for(cluster_id, "RUNNING")
    emu.set_capacity([{"from_seconds": emu.clock.now() + 1}])  # both markets
    emu.advance(5)
    assert api.get(cluster_id)["state"] == "RUNNING"
    assert "NODES_LOST" not in api.event_types(cluster_id)


def test_a_resize_buys_only_what_can_be_had(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(num_workers=1, **aws("SPOT", 1, zone_id=A))
    api.wait_for(cluster_id, "RUNNING")
    emu.set_capacity([{"market": "SPOT"}])  # takes back the one spot worker too
    api.call("POST", "/api/2.1/clusters/resize", {"cluster_id": cluster_id, "num_workers": 3})
    api.wait_for(cluster_id, "RUNNING")
    emu.advance(1)
    cluster = api.get(cluster_id)
    assert cluster["num_workers"] == 3 and spot_flags(cluster) == (False, [])
    assert api.event_types(cluster_id)[3:6] == ["NODES_LOST", "RESIZING", "ADD_NODES_FAILED"]


def test_fast_forward_never_moves_a_running_cluster_into_a_reclaim(emu: Emulator, api: Api) -> None:
    emu.fast_forward = True
    cluster_id = api.create(**aws("SPOT", 0, zone_id=A))
    assert api.get(cluster_id)["state"] == "RUNNING"  # the first read
    before = emu.clock.now()
    emu.set_capacity([{"market": "SPOT", "from_seconds": before + 60}])
    assert api.get(cluster_id)["state"] == "RUNNING"  # it rests: the clock stays
    assert emu.clock.now() == before
    failing = api.create(**aws("SPOT", 0, zone_id=B))  # the driver's zone is short from +60 only
    assert api.get(failing)["state"] == "RUNNING"
    emu.set_capacity([{"market": "SPOT"}])  # both spot drivers taken back now
    for cluster in (cluster_id, failing):
        got = api.get(cluster)  # fast-forward: through TERMINATING
        assert (got["state"], got["termination_reason"]["code"]) == (
            "TERMINATED",
            "SPOT_INSTANCE_TERMINATION",
        )


# -- the API -----------------------------------------------------------------------------------------------


def test_capacity_over_http(emu: Emulator, api: Api) -> None:
    shortages = [{"node_type_id": "i3.xlarge", "zone_id": A, "market": "SPOT", "from_seconds": 1.5}, {}]
    assert api.call("GET", "/emulator/capacity") == (200, {"shortages": []})
    assert api.call("PUT", "/emulator/capacity", {"shortages": shortages}) == (200, {"shortages": shortages})
    assert api.call("GET", "/emulator/capacity") == (200, {"shortages": shortages})
    assert emu.capacity() == shortages
    assert api.call("DELETE", "/emulator/capacity") == (200, {})
    assert api.call("GET", "/emulator/capacity") == (200, {"shortages": []})


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "Missing field: shortages"),
        ({"shortages": [], "extra": 1}, "Unknown field extra"),
        ({"shortages": {"market": "SPOT"}}, "a list of shortages"),
        ({"shortages": [{"market": "BOTH"}]}, "Invalid shortages[0].market 'BOTH': SPOT, ON_DEMAND, or null"),
        ({"shortages": [{"from_seconds": 5, "until_seconds": 1}]}, "must be after from_seconds"),
        ({"shortages": [{"node_type": "i3.xlarge"}]}, "Unknown field shortages[0].node_type"),
    ],
)
def test_bad_capacity_is_refused_and_nothing_changes(emu: Emulator, api: Api, body: Any, words: str) -> None:
    emu.set_capacity([{"market": "SPOT"}])
    status, answer = api.call("PUT", "/emulator/capacity", body)
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert words in answer["message"]
    assert emu.capacity() == [{"market": "SPOT"}]


def test_capacity_is_saved_with_the_workspace(tmp_path: Path) -> None:
    state = tmp_path / "workspace.json"
    shortages = [{"market": "SPOT", "from_seconds": 1e9}]
    with Emulator(state_file=state, time_scale=0, start_seconds=0.4) as emu:
        emu.set_capacity(shortages)
        cluster_id = Api(emu).create(**aws("SPOT_WITH_FALLBACK", 1, zone_id=A))
    with Emulator(state_file=state, time_scale=0, start_seconds=0.4) as emu:
        assert emu.capacity() == shortages
        emu.advance(1)
        assert spot_flags(emu.clusters[cluster_id]) == (False, [False, False])  # the start met the shortage
    with Emulator(state_file=state, time_scale=0, capacity=[]) as emu:  # given: replaces what was saved
        assert emu.capacity() == []


def test_the_command_takes_capacity_as_json_or_a_file(tmp_path: Path) -> None:
    shortages = [{"zone_id": A, "market": "SPOT"}, {"node_type_id": "i3.xlarge", "until_seconds": 2e9}]
    path = tmp_path / "capacity.json"
    path.write_text(json.dumps(shortages))
    for option in (f"@{path}", json.dumps({"shortages": shortages})):
        process, url = start(free_port(), tmp_path / "state.json", "--capacity", option)
        try:
            answer = requests.get(
                f"{url}/emulator/capacity", headers={"Authorization": "Bearer T"}, timeout=10
            )
            assert answer.json() == {"shortages": shortages}
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('[{"market": "SOMETIMES"}]', "argument --capacity: Invalid shortages[0].market 'SOMETIMES'"),
        ('{"market": "SPOT"}', "a JSON list of shortages"),
        ("[{", "not JSON"),
        ("@/nonexistent/capacity.json", "cannot read /nonexistent/capacity.json"),
    ],
)
def test_the_command_refuses_bad_capacity_before_it_serves(
    value: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["emulator", "--port", "0", "--state-file", str(tmp_path / "s.json"), "--capacity", value])
    assert exited.value.code == 2
    assert words in capsys.readouterr().err


def test_a_cluster_edited_to_another_node_type_starts_on_it_driver_included(emu: Emulator, api: Api) -> None:
    # An edit replaces the whole spec: a driver_node_type_id the edit leaves out is the new node type's, as
    # it was at create, not the one the server filled in before (which would meet the old shortage again).
    emu.set_capacity([{"node_type_id": "r5d.xlarge"}])
    spec = {"node_type_id": "r5d.xlarge", **aws("SPOT", 0, zone_id=A)}
    cluster_id = api.create(**spec)
    assert api.wait_for(cluster_id, "TERMINATED")["driver_node_type_id"] == "r5d.xlarge"
    edit = {**SPEC, **spec, "node_type_id": "r5.xlarge", "cluster_id": cluster_id}
    assert api.call("POST", "/api/2.1/clusters/edit", edit)[0] == 200
    assert api.get(cluster_id)["driver_node_type_id"] == "r5.xlarge"
    api.call("POST", "/api/2.1/clusters/start", {"cluster_id": cluster_id})
    running = api.wait_for(cluster_id, "RUNNING", "TERMINATED")
    assert running["state"] == "RUNNING", running.get("termination_reason")
