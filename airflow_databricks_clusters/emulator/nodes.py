"""The machines of a cluster: its driver and executors, on spot or on-demand, lost and replaced.

A node is the ``driver`` or an ``executors`` entry of the cluster record, as ``clusters/get`` shows it.
Ids and IPs come from the workspace's seeded ``random.Random``, so a seeded workspace repeats itself.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator import cluster_events
from airflow_databricks_clusters.emulator.capacity import Pick


def target_workers(cluster: Mapping[str, Any]) -> int:
    """How many executors the cluster should have: ``num_workers``, or autoscale's ``min_workers``."""
    autoscale = cluster.get("autoscale")
    return int(autoscale["min_workers"]) if autoscale else int(cluster.get("num_workers", 0))


def private_ip(rng: random.Random) -> str:
    return f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def instance_id(rng: random.Random) -> str:
    """An EC2 instance id, ``i-0`` and 16 hex digits."""
    return "i-0" + _hex(rng, 16)


def place_driver(
    rng: random.Random,
    cluster: dict[str, Any],
    at: float,
    pick: Pick,
    driver_ip: str | None = None,
    *,
    acquired_at: float | None = None,
) -> None:
    """The driver, of ``pick``'s node type and market, shown from ``at`` (bought at ``acquired_at``,
    default ``at``)."""
    cluster["driver"] = _node(rng, at, pick.spot, driver_ip)
    _forget_gone(cluster)  # the driver it replaces
    _track(cluster, cluster["driver"], pick, at, acquired_at)


def keep_executors(cluster: dict[str, Any], count: int) -> None:
    """The first ``count`` executors stay; the rest go."""
    cluster["executors"] = list(cluster.get("executors") or [])[:count]
    _forget_gone(cluster)


def add_executors(
    rng: random.Random,
    cluster: dict[str, Any],
    at: float,
    picks: list[Pick],
    *,
    acquired_at: float | None = None,
) -> None:
    """New executors after the ones there, one per pick."""
    executors = list(cluster.get("executors") or [])
    for pick in picks:
        node = _node(rng, at, pick.spot)
        executors.append(node)
        _track(cluster, node, pick, at, acquired_at)
    cluster["executors"] = executors


def tracked(cluster: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the emulator keeps of a node: ``node_type_id``, ``acquired_at``, ``shown_at``."""
    entry = (cluster.get("_nodes") or {}).get(node["node_id"])
    return None if entry is None else dict(entry)


def forget_all(cluster: dict[str, Any]) -> None:
    """The cluster has no machines (it terminated)."""
    cluster.pop("driver", None)
    cluster.pop("executors", None)
    cluster.pop("_nodes", None)


def _track(
    cluster: dict[str, Any], node: Mapping[str, Any], pick: Pick, at: float, acquired_at: float | None
) -> None:
    cluster.setdefault("_nodes", {})[node["node_id"]] = {
        "node_type_id": pick.node_type_id,
        "acquired_at": at if acquired_at is None else acquired_at,
        "shown_at": at,
    }


def _forget_gone(cluster: dict[str, Any]) -> None:
    """Keep ``_nodes`` to the machines the cluster has."""
    if "_nodes" not in cluster:
        return
    present = {node["node_id"] for node in cluster.get("executors") or []}
    if "driver" in cluster:
        present.add(cluster["driver"]["node_id"])
    cluster["_nodes"] = {key: value for key, value in cluster["_nodes"].items() if key in present}


def lose_spot_nodes(cluster: dict[str, Any], at: float, count: int) -> None:
    """AWS takes back up to ``count`` spot executors: NODES_LOST, with their instance ids."""
    executors = list(cluster.get("executors") or [])
    spot = [node for node in executors if node["node_aws_attributes"]["is_spot"]][:count]
    lose(cluster, at, spot)


def lose(cluster: dict[str, Any], at: float, lost: list[dict[str, Any]]) -> None:
    """AWS takes back these spot executors: NODES_LOST, with their instance ids."""
    cluster["executors"] = [node for node in cluster.get("executors") or [] if node not in lost]
    _forget_gone(cluster)
    cluster_events.record(
        cluster,
        at,
        "NODES_LOST",
        current_num_workers=len(cluster["executors"]),
        target_num_workers=target_workers(cluster),
        reason=cluster_events.reason(
            "SPOT_INSTANCE_TERMINATION",
            "CLOUD_FAILURE",
            aws_instance_state_reason="Server.SpotInstanceTermination",
            instance_id=",".join(node["instance_id"] for node in lost),
        ),
    )


def _hex(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def _node(rng: random.Random, at: float, on_spot: bool, node_ip: str | None = None) -> dict[str, Any]:
    return {
        "node_id": _hex(rng, 32),
        "instance_id": instance_id(rng),
        "private_ip": node_ip or private_ip(rng),
        "start_timestamp": cluster_events.ms(at),
        "node_aws_attributes": {"is_spot": on_spot},
        "host_private_ip": private_ip(rng),
    }
