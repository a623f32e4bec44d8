"""Capacity on lazy time: a client polling a cluster at any rate sees what one reading once sees, and a
shortage that begins in the future is a due moment of the clusters it can take machines from."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.emulator.workspace import Workspace

T0 = 1_800_000_000.0
OPTIONS: dict[str, Any] = {"start_seconds": 2.0, "terminate_seconds": 0.5, "seed": 3}
A = "ap-southeast-1a"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def spec(availability: str, first_on_demand: int, **more: Any) -> dict[str, Any]:
    return {
        "cluster_name": "c",
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge",
        "num_workers": 3,
        "aws_attributes": {"availability": availability, "first_on_demand": first_on_demand, "zone_id": A},
        **more,
    }


CASES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    # Spot workers taken back at +5, replaced on demand; spot back at +8 for the next replacement.
    "fallback": (
        spec("SPOT_WITH_FALLBACK", 1),
        [{"market": "SPOT", "from_seconds": T0 + 5, "until_seconds": T0 + 8}],
    ),
    # Taken back, not replaced (no spot until +12), then a second shortage at +15 finds none to take.
    "spot": (
        spec("SPOT", 1),
        [
            {"market": "SPOT", "from_seconds": T0 + 5, "until_seconds": T0 + 12},
            {"market": "SPOT", "from_seconds": T0 + 15},
        ],
    ),
    # The spot driver taken back: the cluster ends.
    "driver": (spec("SPOT", 0), [{"node_type_id": "i3.xlarge", "market": "SPOT", "from_seconds": T0 + 6}]),
    # Bought halfway through the start (+1), the shortage begins before RUNNING (+2): taken back as the
    # cluster is shown RUNNING, never before.
    "during the start": (spec("SPOT_WITH_FALLBACK", 1), [{"market": "SPOT", "from_seconds": T0 + 1.5}]),
    # Zone auto, an alternate type on spot, taken back when its own shortage begins.
    "alternates": (
        spec(
            "SPOT_WITH_FALLBACK",
            1,
            worker_node_type_flexibility={"alternate_node_type_ids": ["i3.2xlarge"]},
            aws_attributes={"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, "zone_id": "auto"},
        ),
        [
            {"zone_id": A, "from_seconds": T0},
            {"node_type_id": "i3.xlarge", "market": "SPOT"},
            {
                "node_type_id": "i3.2xlarge",
                "market": "SPOT",
                "from_seconds": T0 + 7,
                "until_seconds": T0 + 7.5,
            },
        ],
    ),
}


def run(case: str, poll_every: float | None) -> dict[str, Any]:
    """The case on a hand-moved clock for 20 s, its cluster read every ``poll_every`` seconds (None: once
    at the end); the saved records."""
    cluster_spec, shortages = CASES[case]
    clock = Clock()
    ws = Workspace(clock=clock, **OPTIONS)
    ws.set_capacity(shortages)
    cluster_id = ws.clusters_create(cluster_spec)["cluster_id"]
    end = T0 + 20
    if poll_every is not None:
        while clock.now < end:
            clock.now = min(end, clock.now + poll_every)
            ws.clusters_get({"cluster_id": cluster_id})
    clock.now = end
    ws.clusters_get({"cluster_id": cluster_id})
    return ws.to_json()


@pytest.mark.parametrize("case", sorted(CASES))
def test_polling_at_any_rate_sees_the_same_cluster(case: str) -> None:
    once = run(case, None)
    for rate in (0.05, 0.3, 1.7):
        assert run(case, rate) == once


def trail(records: dict[str, Any]) -> list[tuple[float, str, str | None]]:
    (cluster,) = records["clusters"].values()
    return [
        ((e["timestamp"] / 1000) - T0, e["type"], e["details"].get("reason", {}).get("code"))
        for e in cluster["_events"]
        if e["type"] != "CREATING"
    ]


def test_the_trails() -> None:
    lost, failed, upsized = "NODES_LOST", "ADD_NODES_FAILED", "UPSIZE_COMPLETED"
    spot_gone, short = "SPOT_INSTANCE_TERMINATION", "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"
    started = [(2.0, "DRIVER_HEALTHY", None), (2.0, "RUNNING", None)]
    assert trail(run("fallback", None)) == [
        *started,
        (5, lost, spot_gone),
        (6, failed, short),
        (6, upsized, None),
    ]
    assert trail(run("spot", None)) == [*started, (5, lost, spot_gone), (6, failed, short)]
    assert trail(run("driver", None)) == [*started, (6, "TERMINATING", spot_gone)]
    during = trail(run("during the start", None))
    assert during == [*started, (2.0, lost, spot_gone), (3.0, failed, short), (3.0, upsized, None)]
    alternates = trail(run("alternates", None))
    assert alternates == [*started, (7, lost, spot_gone), (8, upsized, None)]  # spot of i3.2xlarge again


def test_a_running_cluster_is_due_when_a_shortage_that_can_take_its_machines_begins() -> None:
    clock = Clock()
    ws = Workspace(clock=clock, **OPTIONS)
    cluster_id = ws.clusters_create(spec("SPOT_WITH_FALLBACK", 1))["cluster_id"]
    clock.now += 2
    ws.catch_up()
    assert ws.lifecycle.next_due(ws._clusters[cluster_id]) is None  # resting: nothing planned
    ws.set_capacity([{"market": "SPOT", "zone_id": "ap-southeast-1b", "from_seconds": T0 + 10}])
    assert ws.lifecycle.next_due(ws._clusters[cluster_id]) is None  # another zone
    ws.set_capacity([{"market": "SPOT", "from_seconds": T0 + 10}])
    assert ws.lifecycle.next_due(ws._clusters[cluster_id]) == T0 + 10
    assert ws.settles_at(cluster_id) is None  # RUNNING rests: fast-forward does not move into it
    clock.now = T0 + 10
    ws.catch_up()
    assert ws.clusters_get({"cluster_id": cluster_id})["executors"] == []
    assert ws.lifecycle.next_due(ws._clusters[cluster_id]) == T0 + 11  # the replacement


def test_capacity_and_the_machines_kept_survive_a_reload() -> None:
    clock = Clock()
    ws = Workspace(clock=clock, **OPTIONS)
    ws.set_capacity([{"market": "SPOT", "from_seconds": T0 + 10}])
    cluster_id = ws.clusters_create(spec("SPOT", 0))["cluster_id"]
    clock.now += 3
    again = Workspace.from_json(ws.to_json(), clock=clock, **OPTIONS)
    assert again.capacity() == ws.capacity()
    assert again.to_json() == ws.to_json()
    clock.now = T0 + 10
    cluster = again.clusters_get({"cluster_id": cluster_id})  # the reload planned the reclaim
    assert cluster["termination_reason"]["code"] == "SPOT_INSTANCE_TERMINATION"
