"""capacity.py: what can be had where and when, which zone, node type and market each node gets, and when a
spot node is taken back. Pure functions of the shortages and a moment."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.emulator import capacity
from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.capacity import Miss, Pick

ZONES = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
TYPES = ["i3.xlarge", "i3.2xlarge", "m5d.xlarge"]
A, B, C = ZONES


def check(shortages: Any) -> list[dict[str, Any]]:
    return capacity.checked(shortages, node_types=TYPES, zones=ZONES)


# -- the shortages as set ----------------------------------------------------------------------------------


def test_well_formed_shortages_are_kept_as_given() -> None:
    shortages = [
        {},
        {
            "node_type_id": "i3.xlarge",
            "zone_id": A,
            "market": "SPOT",
            "from_seconds": 10,
            "until_seconds": 20.5,
        },
        {"market": "ON_DEMAND", "from_seconds": None, "until_seconds": None},
    ]
    assert check(shortages) == shortages


@pytest.mark.parametrize(
    ("shortages", "words"),
    [
        ({"market": "SPOT"}, ["Invalid shortages", "a list of shortages"]),
        (["SPOT"], ["Invalid shortages[0]", "an object"]),
        ([{"zone": A}], ["Unknown field shortages[0].zone", "node_type_id, zone_id, market"]),
        ([{}, {"market": "spot"}], ["Invalid shortages[1].market 'spot'", "SPOT, ON_DEMAND, or null"]),
        ([{"market": "SPOT_WITH_FALLBACK"}], ["shortages[0].market", "SPOT, ON_DEMAND"]),
        ([{"node_type_id": "x9.huge"}], ["shortages[0].node_type_id 'x9.huge'", "i3.xlarge"]),
        ([{"zone_id": "us-east-1a"}], ["shortages[0].zone_id 'us-east-1a'", A]),
        ([{"from_seconds": "10"}], ["shortages[0].from_seconds '10'", "a finite number"]),
        ([{"until_seconds": True}], ["shortages[0].until_seconds True", "for ever"]),
        ([{"until_seconds": float("inf")}], ["shortages[0].until_seconds inf", "a finite number"]),
        (
            [{"from_seconds": 20, "until_seconds": 10}],
            ["shortages[0].until_seconds 10", "after from_seconds"],
        ),
        ([{"from_seconds": 20, "until_seconds": 20}], ["until_seconds 20", "after from_seconds (20)"]),
    ],
)
def test_a_bad_shortage_is_refused_naming_the_field_and_what_it_allows(
    shortages: Any, words: list[str]
) -> None:
    with pytest.raises(ApiError) as caught:
        check(shortages)
    assert (caught.value.status, caught.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
    for word in words:
        assert word in caught.value.message


# -- what can be had -----------------------------------------------------------------------------------


def test_a_shortage_holds_from_its_start_until_just_before_its_end() -> None:
    shortages = [
        {"node_type_id": "i3.xlarge", "zone_id": A, "market": "SPOT", "from_seconds": 10, "until_seconds": 20}
    ]
    seen = {t: capacity.available(shortages, "i3.xlarge", A, "SPOT", t) for t in (9.99, 10, 19.99, 20)}
    assert seen == {9.99: True, 10: False, 19.99: False, 20: True}
    # Another type, zone or market is not short.
    assert capacity.available(shortages, "i3.2xlarge", A, "SPOT", 15)
    assert capacity.available(shortages, "i3.xlarge", B, "SPOT", 15)
    assert capacity.available(shortages, "i3.xlarge", A, "ON_DEMAND", 15)


def test_none_means_any_type_any_zone_both_markets_and_all_time() -> None:
    everything = [{}]
    for node_type in TYPES:
        for zone in ZONES:
            for market in capacity.MARKETS:
                assert not capacity.available(everything, node_type, zone, market, -1e12)
    assert capacity.available([], "i3.xlarge", A, "SPOT", 0)


@pytest.mark.parametrize(
    ("slot", "availability", "first_on_demand", "rule"),
    [
        (0, "SPOT", 0, "SPOT"),
        (0, "SPOT", 1, "ON_DEMAND"),  # first_on_demand counts the driver first
        (1, "SPOT", 1, "SPOT"),
        (1, "SPOT_WITH_FALLBACK", 2, "ON_DEMAND"),
        (2, "SPOT_WITH_FALLBACK", 2, "SPOT_WITH_FALLBACK"),
        (5, "ON_DEMAND", 0, "ON_DEMAND"),
    ],
)
def test_which_market_a_node_is_bought_on(
    slot: int, availability: str, first_on_demand: int, rule: str
) -> None:
    assert capacity.node_rule(slot, availability, first_on_demand) == rule


def test_spot_with_fallback_tries_spot_across_every_type_before_on_demand() -> None:
    assert capacity.attempts("SPOT_WITH_FALLBACK", ["a", "b"]) == [
        ("a", "SPOT"),
        ("b", "SPOT"),
        ("a", "ON_DEMAND"),
        ("b", "ON_DEMAND"),
    ]
    assert capacity.attempts("SPOT", ["a", "b"]) == [("a", "SPOT"), ("b", "SPOT")]
    assert capacity.attempts("ON_DEMAND", ["a", "b"]) == [("a", "ON_DEMAND"), ("b", "ON_DEMAND")]


def test_acquire_takes_the_first_try_that_can_be_had() -> None:
    spot_short_for_first = [{"node_type_id": "i3.xlarge", "market": "SPOT"}]
    assert capacity.acquire(spot_short_for_first, A, "SPOT_WITH_FALLBACK", TYPES[:2], 0) == Pick(
        "i3.2xlarge", True
    )
    no_spot = [{"market": "SPOT"}]
    assert capacity.acquire(no_spot, A, "SPOT_WITH_FALLBACK", TYPES[:2], 0) == Pick(
        "i3.xlarge", False, fell_back=True
    )
    assert capacity.acquire(no_spot, A, "SPOT", TYPES[:2], 0) is None
    assert capacity.acquire(no_spot, A, "ON_DEMAND", TYPES[:2], 0) == Pick("i3.xlarge", False)


def test_candidates_are_the_primary_type_then_its_alternates() -> None:
    cluster = {
        "node_type_id": "i3.xlarge",
        "driver_node_type_id": "m5d.xlarge",
        "worker_node_type_flexibility": {"alternate_node_type_ids": ["i3.2xlarge", "i3.xlarge"]},
        "driver_node_type_flexibility": {"alternate_node_type_ids": ["i3.xlarge"]},
    }
    assert capacity.candidates(cluster, driver=False) == ["i3.xlarge", "i3.2xlarge"]  # each once
    assert capacity.candidates(cluster, driver=True) == ["m5d.xlarge", "i3.xlarge"]
    assert capacity.candidates({"node_type_id": "i3.xlarge"}, driver=True) == ["i3.xlarge"]
    assert capacity.candidates({}, driver=False, pool_node_type="i3.xlarge") == ["i3.xlarge"]


def test_zones_tried_a_given_zone_only_auto_every_zone_in_order_none_the_default() -> None:
    assert capacity.zones_to_try(B, ZONES) == [B]
    assert capacity.zones_to_try("auto", ZONES) == ZONES
    assert capacity.zones_to_try(None, ZONES) == [A]


@pytest.mark.parametrize(
    ("acquired", "requested", "enough"),
    [(0, 0, True), (17, 20, True), (16, 20, False), (1, 1, True), (0, 1, False), (6, 7, True), (5, 7, False)],
)
def test_a_start_needs_85_percent_of_its_on_demand_workers(
    acquired: int, requested: int, enough: bool
) -> None:
    assert capacity.enough_on_demand(acquired, requested) is enough


# -- a start -------------------------------------------------------------------------------------------


def plan(shortages: list[dict[str, Any]], **overrides: Any) -> capacity.StartPlan:
    options: dict[str, Any] = {
        "zones": [A],
        "availability": "SPOT_WITH_FALLBACK",
        "first_on_demand": 1,
        "driver_types": ["i3.xlarge"],
        "worker_types": ["i3.xlarge"],
        "workers": 2,
        "at": 100.0,
    }
    return capacity.plan_start(shortages, **{**options, **overrides})


def test_nothing_short_every_node_gets_its_first_type_on_its_market() -> None:
    started = plan([])
    assert (started.zone, started.driver, started.failed) == (A, Pick("i3.xlarge", False), False)
    assert started.workers == [Pick("i3.xlarge", True), Pick("i3.xlarge", True)]


def test_auto_takes_the_first_zone_where_the_driver_can_be_had() -> None:
    started = plan([{"zone_id": A}, {"zone_id": B, "market": "ON_DEMAND"}], zones=ZONES)
    assert started.zone == C and started.driver == Pick("i3.xlarge", False)
    # The driver decides: workers short in the zone chosen go missing, they do not move the cluster.
    started = plan([{"zone_id": A, "market": "ON_DEMAND"}, {"zone_id": B}], zones=ZONES, availability="SPOT")
    assert started.zone == C


def test_no_zone_with_the_driver_fails_naming_the_last_try() -> None:
    started = plan([{"market": "ON_DEMAND"}], zones=ZONES, driver_types=["i3.xlarge", "i3.2xlarge"])
    assert started.failed and started.driver is None
    assert started.driver_miss == Miss("i3.2xlarge", C, "ON_DEMAND")
    assert started.workers == []


def test_on_demand_workers_short_fail_the_start_spot_ones_go_missing() -> None:
    on_demand_short = [{"node_type_id": "m5d.xlarge", "market": "ON_DEMAND"}]
    started = plan(on_demand_short, availability="ON_DEMAND", worker_types=["m5d.xlarge"], workers=3)
    assert (started.on_demand_requested, started.on_demand_acquired, started.failed) == (3, 0, True)
    spot_short = [{"node_type_id": "m5d.xlarge", "market": "SPOT"}]
    started = plan(spot_short, availability="SPOT", first_on_demand=2, worker_types=["m5d.xlarge"], workers=3)
    assert not started.failed
    assert started.workers == [Pick("m5d.xlarge", False), None, None]
    assert started.worker_misses == [None, Miss("m5d.xlarge", A, "SPOT"), Miss("m5d.xlarge", A, "SPOT")]


def test_a_forced_fallback_buys_every_worker_on_demand() -> None:
    started = plan([], spot_ok=False)
    assert started.workers == [Pick("i3.xlarge", False), Pick("i3.xlarge", False)]
    assert started.on_demand_requested == 0  # asked as spot: not in the 85% count


def test_the_aws_messages() -> None:
    assert capacity.insufficient_capacity_message([], Miss("i3.xlarge", A, "SPOT"), ZONES, 0) == (
        "There is no Spot capacity available that matches your request."
    )
    short_in_a_and_c = [{"zone_id": A}, {"zone_id": C}]
    message = capacity.insufficient_capacity_message(
        short_in_a_and_c, Miss("i3.xlarge", A, "ON_DEMAND"), ZONES, 0
    )
    assert message == (
        "We currently do not have sufficient i3.xlarge capacity in the Availability Zone you requested "
        "(ap-southeast-1a). Our system will be working on provisioning additional capacity. You can "
        "currently get i3.xlarge capacity by not specifying an Availability Zone in your request or "
        "choosing ap-southeast-1b."
    )
    nowhere = capacity.insufficient_capacity_message([{}], Miss("i3.xlarge", A, "ON_DEMAND"), ZONES, 0)
    assert nowhere.endswith("Our system will be working on provisioning additional capacity.")


# -- spot reclaim --------------------------------------------------------------------------------------


def reclaim(
    shortages: list[dict[str, Any]], *, set_at: float = 0.0, acquired_at: float = 100.0
) -> float | None:
    return capacity.reclaim_at(
        shortages, set_at=set_at, node_type="i3.xlarge", zone=A, acquired_at=acquired_at
    )


def test_a_spot_node_is_taken_back_when_a_spot_shortage_covering_it_begins() -> None:
    assert reclaim([{"market": "SPOT", "from_seconds": 150}]) == 150
    assert reclaim([{"node_type_id": "i3.xlarge", "zone_id": A, "from_seconds": 150}]) == 150  # both markets
    assert reclaim([{"from_seconds": 150}, {"from_seconds": 120, "until_seconds": 130}]) == 120  # the first
    assert reclaim([{"market": "ON_DEMAND", "from_seconds": 150}]) is None
    assert reclaim([{"zone_id": B, "from_seconds": 150}]) is None
    assert reclaim([{"node_type_id": "i3.2xlarge", "from_seconds": 150}]) is None


def test_a_shortage_begun_before_the_node_was_bought_cannot_take_it() -> None:
    assert reclaim([{"from_seconds": 50, "until_seconds": 90}], acquired_at=100) is None
    assert reclaim([{"from_seconds": 50}], set_at=10, acquired_at=100) is None


def test_a_shortage_already_begun_when_set_takes_the_nodes_running_then_at_that_moment() -> None:
    assert reclaim([{"market": "SPOT"}], set_at=200) == 200
    assert reclaim([{"from_seconds": 50, "until_seconds": 300}], set_at=200) == 200
    assert reclaim([{"from_seconds": 50, "until_seconds": 150}], set_at=200) is None  # over by then


def test_capacity_state_round_trips() -> None:
    state = capacity.Capacity()
    state.set([{"market": "SPOT", "from_seconds": 5}], at=42.0)
    again = capacity.Capacity()
    again.load_json(state.to_json())
    assert (again.shortages, again.set_at) == ([{"market": "SPOT", "from_seconds": 5}], 42.0)
