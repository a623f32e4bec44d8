"""The machines of a cluster: its driver and executors, on spot or on-demand, lost and replaced.

A node is the ``driver`` or an ``executors`` entry of the cluster record, as ``clusters/get`` shows it.
Ids and IPs come from the workspace's seeded ``random.Random``, so a seeded workspace repeats itself.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator import cluster_events


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
    rng: random.Random, cluster: dict[str, Any], at: float, driver_ip: str | None = None
) -> None:
    cluster["driver"] = _node(rng, at, _on_spot(0, True, cluster["aws_attributes"]), driver_ip)


def place_executors(
    rng: random.Random, cluster: dict[str, Any], at: float, count: int, *, spot_ok: bool
) -> None:
    """``count`` executors: the ones there are kept (up to ``count``), new ones fill the rest."""
    kept = list(cluster.get("executors") or [])[:count]
    aws = cluster["aws_attributes"]
    for slot in range(len(kept) + 1, count + 1):
        kept.append(_node(rng, at, _on_spot(slot, spot_ok, aws)))
    cluster["executors"] = kept


def upsize(rng: random.Random, cluster: dict[str, Any], at: float) -> None:
    """The cluster gets to its target size (new nodes may be spot again): UPSIZE_COMPLETED."""
    place_executors(rng, cluster, at, target_workers(cluster), spot_ok=True)
    cluster_events.record(
        cluster,
        at,
        "UPSIZE_COMPLETED",
        current_num_workers=target_workers(cluster),
        target_num_workers=target_workers(cluster),
    )


def lose_spot_nodes(cluster: dict[str, Any], at: float, count: int) -> None:
    """AWS takes back up to ``count`` spot executors: NODES_LOST, with their instance ids."""
    executors = list(cluster.get("executors") or [])
    spot = [node for node in executors if node["node_aws_attributes"]["is_spot"]][:count]
    cluster["executors"] = [node for node in executors if node not in spot]
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
            instance_id=",".join(node["instance_id"] for node in spot),
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


def _on_spot(slot: int, spot_ok: bool, aws: Mapping[str, Any]) -> bool:
    """Slot 0 is the driver: ``first_on_demand`` counts the driver first, as Databricks does."""
    if aws["availability"] == "ON_DEMAND" or not spot_ok:
        return False
    return slot >= int(aws.get("first_on_demand", 0))
