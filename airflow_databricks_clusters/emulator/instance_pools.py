"""Instance pools: the Instance Pools API's records, their idle instances, and what clusters take from them.

A pool keeps ``min_idle_instances`` ready machines of one node type; a cluster naming it
(``instance_pool_id``, ``driver_instance_pool_id``) takes its nodes from the pool's idle ones first and
launches the rest, never holding more than ``max_capacity`` in use. A start served entirely from idle
instances is a warm start (``Lifecycle``'s ``pool_start_seconds``); instances come back idle when the
cluster terminates and go away after ``idle_instance_autotermination_minutes`` beyond the minimum.
Time is lazy like the clusters': a pool is brought up to date when it is read or used.

No HTTP here (``app.py`` serves it); the workspace holds the lock around every call.
"""

from __future__ import annotations

import copy
import random
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.emulator import cluster_events
from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, malformed_request
from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.request_params import one

#: Every field of an ``instance-pools/create`` body and its JSON type (databricks-sdk's
#: ``InstancePoolsAPI.create``; the legacy CLI sends the same names).
CREATE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "instance_pool_name": str,
    "node_type_id": str,
    "min_idle_instances": int,
    "max_capacity": int,
    "idle_instance_autotermination_minutes": int,
    "aws_attributes": dict,
    "custom_tags": dict,
    "enable_elastic_disk": bool,
    "disk_spec": dict,
    "preloaded_spark_versions": list,
    "preloaded_docker_images": list,
    "node_type_flexibility": dict,
    "remote_disk_throughput": int,
    "total_initial_remote_disk_size": int,
    "azure_attributes": dict,
    "gcp_attributes": dict,
}
#: What ``instance-pools/edit`` may change (with the id, the name and the unchanged node type it needs).
EDIT_FIELDS = (
    "instance_pool_name",
    "node_type_id",
    "min_idle_instances",
    "max_capacity",
    "idle_instance_autotermination_minutes",
    "custom_tags",
    "remote_disk_throughput",
    "total_initial_remote_disk_size",
)
POOL_AWS_FIELDS = ("availability", "zone_id", "spot_bid_price_percent", "instance_profile_arn")
POOL_AVAILABILITIES = ("SPOT", "ON_DEMAND")
#: Idle instances a pool keeps beyond its minimum for this long unless told (the API's default).
DEFAULT_IDLE_MINUTES = 60
MAX_CUSTOM_TAGS = 43
MAX_NAME = 100  # the pool's own tags leave room for the ones Databricks adds


@dataclass(frozen=True)
class Grant:
    """What a start took from its pools: ``warm`` when every node was an idle instance."""

    warm: bool


class InstancePools:
    """The pools of one workspace, by id.

    :param catalog: the workspace's offer (node types, spark versions, zones); its ``instance_pools`` are
        the pools the workspace starts with.
    :param clock: the workspace's clock.
    :param launch_seconds: how long a new idle instance takes to become ready (a cold start).
    :param minute_seconds: emulated seconds per minute of ``idle_instance_autotermination_minutes``.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        clock: Callable[[], float],
        launch_seconds: float,
        minute_seconds: float,
        rng: random.Random,
    ) -> None:
        self._catalog = catalog
        self._clock = clock
        self.launch_seconds = launch_seconds
        self.minute_seconds = minute_seconds
        self._random = rng
        self._pools: dict[str, dict[str, Any]] = {}
        #: cluster id -> {pool id: instances it holds}: a release finds its pools without a scan.
        self._held: dict[str, dict[str, int]] = {}
        #: The name of every pool not deleted -> its id (a name is unique among them).
        self._names: dict[str, str] = {}
        for seed in catalog.instance_pools:
            pool = _defaults({**copy.deepcopy(seed), "state": "ACTIVE"})
            pool.setdefault(
                "default_tags", _default_tags(pool["instance_pool_name"], "", seed["instance_pool_id"])
            )
            _fresh(pool)
            self._pools[pool["instance_pool_id"]] = pool
            self._names[pool["instance_pool_name"]] = pool["instance_pool_id"]

    # -- the API -------------------------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any], *, user: str) -> dict[str, Any]:
        spec = self._validated(body)
        self._check_name(spec["instance_pool_name"], None)
        pool_id = self._new_id()
        pool = _defaults(spec)
        pool.update(
            instance_pool_id=pool_id,
            state="ACTIVE",
            default_tags=_default_tags(pool["instance_pool_name"], user, pool_id),
        )
        _fresh(pool)
        self._pools[pool_id] = pool
        self._names[pool["instance_pool_name"]] = pool_id
        self._top_up(pool, self._clock())
        return {"instance_pool_id": pool_id}

    def edit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        pool = self._active(body.get("instance_pool_id"))
        unknown = sorted(set(body) - {"instance_pool_id", *EDIT_FIELDS})
        if unknown:
            # A field edit cannot change (aws_attributes, preloaded_spark_versions, ...) is refused.
            raise invalid_parameter(
                f"Field {unknown[0]} cannot be edited: an edit takes {', '.join(EDIT_FIELDS)}."
            )
        spec = self._validated({key: value for key, value in body.items() if key != "instance_pool_id"})
        if spec["node_type_id"] != pool["node_type_id"]:
            raise invalid_parameter(
                f"The node type of instance pool {pool['instance_pool_id']} cannot be changed "
                f"(it is {pool['node_type_id']})."
            )
        self._check_name(spec["instance_pool_name"], pool["instance_pool_id"])
        now = self._clock()
        self._refresh(pool, now)
        del self._names[pool["instance_pool_name"]]
        self._names[spec["instance_pool_name"]] = pool["instance_pool_id"]
        for name in EDIT_FIELDS:
            pool.pop(name, None)
        pool.update(_defaults(spec))
        pool["default_tags"]["DatabricksInstancePoolId"] = pool["instance_pool_id"]
        self._top_up(pool, now)
        return {}

    def delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """DELETED: the idle instances go; the clusters using the pool keep theirs until they terminate,
        and a start of one of them fails (INSTANCE_POOL_NOT_FOUND)."""
        pool = self._pool(body.get("instance_pool_id"))
        if pool["state"] != "DELETED":
            pool["state"] = "DELETED"
            pool["_idle"], pool["_pending"] = [], []
            self._names.pop(pool["instance_pool_name"], None)
        return {}

    def get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        pool = self._pool(one(params.get("instance_pool_id")))
        self._refresh(pool, self._clock())
        return _public(pool)

    def list(self) -> dict[str, Any]:
        now = self._clock()
        answer = []
        for pool in self._pools.values():
            if pool["state"] == "DELETED":
                continue
            self._refresh(pool, now)
            answer.append(_public(pool))
        answer.sort(key=lambda p: (p["instance_pool_name"], p["instance_pool_id"]))
        return {"instance_pools": answer}

    def record(self, pool_id: str) -> dict[str, Any] | None:
        """The pool's record (a deleted one too), for the node type of clusters using it."""
        return self._pools.get(pool_id)

    # -- what clusters take ----------------------------------------------------------------------------------

    def take(self, cluster: Mapping[str, Any], workers: int, at: float) -> Grant | dict[str, Any]:
        """The start of ``cluster`` (with ``workers`` workers) takes its nodes from its pools: a Grant, or
        the termination reason when a pool is deleted or its ``max_capacity`` cannot hold them. Nothing
        is taken unless everything can be."""
        wanted = _wanted(cluster, workers)
        refused = self._refusal(wanted, at)
        if refused is not None:
            return refused
        return self._take(str(cluster["cluster_id"]), wanted, at)

    def adjust(self, cluster: Mapping[str, Any], workers: int, at: float) -> dict[str, Any] | None:
        """A running cluster's size or pools change (a resize, an edit): it takes from its pools the
        instances it now needs beyond those it holds and gives back those it no longer needs. None, or the
        reason a pool cannot give them (a deleted pool, its ``max_capacity``); then nothing changes."""
        cluster_id = str(cluster["cluster_id"])
        held = self._held.get(cluster_id, {})
        wanted = _wanted(cluster, workers)
        more = {
            pool_id: n - held.get(pool_id, 0) for pool_id, n in wanted.items() if n > held.get(pool_id, 0)
        }
        refused = self._refusal(more, at)
        if refused is not None:
            return refused
        surplus = {
            pool_id: n - wanted.get(pool_id, 0) for pool_id, n in held.items() if n > wanted.get(pool_id, 0)
        }
        self._take(cluster_id, more, at)
        self._give_back(cluster_id, surplus, at)
        return None

    def release(self, cluster_id: str, at: float) -> None:
        """The cluster terminated: its instances go back idle to their pools (a deleted pool's go away)."""
        self._give_back(cluster_id, dict(self._held.get(cluster_id, {})), at)

    def _refusal(self, wanted: Mapping[str, int], at: float) -> dict[str, Any] | None:
        """Why the pools cannot give ``wanted`` (instances per pool) now, or None."""
        for pool_id, count in wanted.items():
            pool = self._pools.get(pool_id)
            if pool is None or pool["state"] == "DELETED":
                return cluster_events.reason(
                    "INSTANCE_POOL_NOT_FOUND",
                    "CLIENT_ERROR",
                    instance_pool_id=pool_id,
                    databricks_error_message=f"Instance pool {pool_id} does not exist (it was deleted).",
                )
            self._refresh(pool, at)
            limit = pool.get("max_capacity")
            if limit is not None and pool["_used"] + count > limit:
                return cluster_events.reason(
                    "INSTANCE_POOL_MAX_CAPACITY_REACHED",
                    "CLIENT_ERROR",
                    instance_pool_id=pool_id,
                    databricks_error_message=(
                        f"Instance pool {pool_id} is at its max capacity of {limit} instances: "
                        f"{pool['_used']} in use, {count} more requested."
                    ),
                )
        return None

    def _take(self, cluster_id: str, wanted: Mapping[str, int], at: float) -> Grant:
        warm = True
        held = self._held.setdefault(cluster_id, {})
        for pool_id, count in wanted.items():
            pool = self._pools[pool_id]
            idle = pool["_idle"]
            from_idle = min(count, len(idle))
            del idle[len(idle) - from_idle :]  # the newest idle ones: the oldest expire first
            warm = warm and from_idle == count
            # The rest are launched for the cluster, taking the place of idle ones still on their way.
            launched = count - from_idle
            del pool["_pending"][: min(launched, len(pool["_pending"]))]
            pool["_used"] += count
            held[pool_id] = held.get(pool_id, 0) + count
            self._top_up(pool, at)
        return Grant(warm=warm)

    def _give_back(self, cluster_id: str, counts: Mapping[str, int], at: float) -> None:
        """``counts`` of the cluster's instances go back idle to their pools (a deleted pool's go away)."""
        held = self._held.get(cluster_id, {})
        for pool_id, count in counts.items():
            held[pool_id] = held.get(pool_id, 0) - count
            if held[pool_id] <= 0:
                held.pop(pool_id)
            pool = self._pools.get(pool_id)
            if pool is None:
                continue
            self._refresh(pool, at)
            pool["_used"] = max(0, pool["_used"] - count)
            if pool["state"] != "DELETED":
                pool["_idle"].extend([at] * count)
                self._refresh(pool, at)
        if not held:
            self._held.pop(cluster_id, None)

    # -- persistence -----------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"pools": copy.deepcopy(self._pools), "held": copy.deepcopy(self._held)}

    def load_json(self, data: Mapping[str, Any]) -> None:
        if "pools" in data:
            self._pools = copy.deepcopy(dict(data["pools"]))
            self._names = {
                pool["instance_pool_name"]: pool_id
                for pool_id, pool in self._pools.items()
                if pool["state"] != "DELETED"
            }
        self._held = copy.deepcopy(dict(data.get("held", {})))

    # -- helpers ---------------------------------------------------------------------------------------------

    def _pool(self, pool_id: Any) -> dict[str, Any]:
        if not isinstance(pool_id, str) or not pool_id:
            raise invalid_parameter("Missing required field: instance_pool_id")
        pool = self._pools.get(pool_id)
        if pool is None:
            raise invalid_parameter(f"Instance pool {pool_id} does not exist.")
        return pool

    def _active(self, pool_id: Any) -> dict[str, Any]:
        pool = self._pool(pool_id)
        if pool["state"] == "DELETED":
            raise invalid_parameter(f"Instance pool {pool_id} is deleted.")
        return pool

    def _check_name(self, name: str, own_id: str | None) -> None:
        """A name is unique among the pools not deleted, and under 100 characters."""
        if len(name) >= MAX_NAME:
            raise invalid_parameter(f"Invalid instance_pool_name: it must be under {MAX_NAME} characters.")
        holder = self._names.get(name)
        if holder is not None and holder != own_id:
            # The code is the one the API uses for a name taken; the wording is the emulator's.
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"An instance pool named {name} already exists.")

    def _new_id(self) -> str:
        """An id in the workspace's shape, ``MMDD-HHMMSS-<word>-pool-<8 characters>``."""
        alphabet = string.ascii_letters + string.digits
        while True:
            word = "".join(self._random.choice(string.ascii_lowercase) for _ in range(6))
            tail = "".join(self._random.choice(alphabet) for _ in range(8))
            pool_id = f"{_stamp(self._clock())}-{word}-pool-{tail}"
            if pool_id not in self._pools:
                return pool_id

    def _validated(self, body: Mapping[str, Any]) -> dict[str, Any]:
        for name, value in body.items():
            kind = CREATE_FIELDS.get(name)
            if kind is None:
                raise malformed_request(f"Could not parse request object: Unknown field {name}")
            if value is not None and (
                not isinstance(value, kind) or (kind is int and isinstance(value, bool))
            ):
                raise malformed_request(
                    f"Could not parse request object: Expected {_type_name(kind)} for field {name}"
                )
        spec = {key: value for key, value in body.items() if value is not None}
        for name in ("instance_pool_name", "node_type_id"):
            if not spec.get(name):
                raise invalid_parameter(f"Missing required field: {name}")
        if spec["node_type_id"] not in self._catalog.node_types:
            raise invalid_parameter(
                f"Node type {spec['node_type_id']} is not supported. Supported node types: "
                + ", ".join(sorted(self._catalog.node_types))
            )
        low, high = spec.get("min_idle_instances", 0), spec.get("max_capacity")
        if low < 0:
            raise invalid_parameter(f"min_idle_instances must be non-negative, got {low}.")
        if high is not None and high < 1:
            raise invalid_parameter(f"max_capacity must be positive, got {high}.")
        if high is not None and low > high:
            raise invalid_parameter(
                f"min_idle_instances ({low}) must not be greater than max_capacity ({high})."
            )
        minutes = spec.get("idle_instance_autotermination_minutes")
        if minutes is not None and not 0 <= minutes <= 10000:
            raise invalid_parameter(
                f"idle_instance_autotermination_minutes must be between 0 and 10000, got {minutes}."
            )
        self._check_aws(spec.get("aws_attributes") or {})
        for version in spec.get("preloaded_spark_versions") or []:
            if version not in self._catalog.spark_version_keys():
                raise invalid_parameter(f"Invalid spark version {version} in preloaded_spark_versions.")
        if len(spec.get("preloaded_spark_versions") or []) > 1:
            raise invalid_parameter("A pool preloads at most one spark version.")
        tags = spec.get("custom_tags") or {}
        if len(tags) > MAX_CUSTOM_TAGS:
            raise invalid_parameter(
                f"Custom tags exceed the maximum of {MAX_CUSTOM_TAGS}: {len(tags)} custom tags were given."
            )
        for key, value in tags.items():
            if not isinstance(value, str):
                raise malformed_request(
                    f"Could not parse request object: Expected a string for field custom_tags.{key}"
                )
        return spec

    def _check_aws(self, aws: Mapping[str, Any]) -> None:
        unknown = sorted(set(aws) - set(POOL_AWS_FIELDS))
        if unknown:
            raise malformed_request(
                f"Could not parse request object: Unknown field aws_attributes.{unknown[0]}"
            )
        availability = aws.get("availability")
        if availability is not None and availability not in POOL_AVAILABILITIES:
            raise invalid_parameter(
                f"Invalid aws_attributes.availability {availability}: a pool's must be one of "
                f"{', '.join(POOL_AVAILABILITIES)}."
            )
        zone = aws.get("zone_id")
        if zone is not None and zone != "auto" and zone not in self._catalog.zones:
            raise invalid_parameter(
                f"Invalid zone_id {zone}: availability zones of {self._catalog.region} are "
                f"{', '.join(self._catalog.zones)} (or auto)."
            )
        bid = aws.get("spot_bid_price_percent")
        if bid is not None and (not isinstance(bid, int) or not 1 <= bid <= 10000):
            raise invalid_parameter(
                f"aws_attributes.spot_bid_price_percent must be between 1 and 10000, got {bid}."
            )

    def _refresh(self, pool: dict[str, Any], now: float) -> None:
        """Bring the pool up to ``now``: launched instances become idle, idle ones beyond the minimum that
        waited past ``idle_instance_autotermination_minutes`` go."""
        pending = pool["_pending"]
        ready = [at for at in pending if at <= now]
        if ready:
            pool["_pending"] = [at for at in pending if at > now]
            pool["_idle"] = sorted([*pool["_idle"], *ready])
        idle = pool["_idle"]
        ttl = pool["idle_instance_autotermination_minutes"] * self.minute_seconds
        surplus = len(idle) + len(pool["_pending"]) - pool["min_idle_instances"]
        expired = 0
        while expired < min(surplus, len(idle)) and idle[expired] + ttl <= now:
            expired += 1
        if expired:
            del idle[:expired]

    def _top_up(self, pool: dict[str, Any], at: float) -> None:
        """Launch idle instances up to ``min_idle_instances``, within ``max_capacity``."""
        limit = pool.get("max_capacity")
        while len(pool["_idle"]) + len(pool["_pending"]) < pool["min_idle_instances"] and (
            limit is None or pool["_used"] + len(pool["_idle"]) + len(pool["_pending"]) < limit
        ):
            pool["_pending"].append(at + self.launch_seconds)


def _defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    pool = copy.deepcopy(dict(spec))
    pool.setdefault("min_idle_instances", 0)
    pool.setdefault("idle_instance_autotermination_minutes", DEFAULT_IDLE_MINUTES)
    pool.setdefault("enable_elastic_disk", True)
    pool.setdefault("custom_tags", {})
    pool.setdefault("preloaded_spark_versions", [])
    aws = dict(pool.get("aws_attributes") or {})
    aws.setdefault("availability", "SPOT")
    aws.setdefault("spot_bid_price_percent", 100)
    pool["aws_attributes"] = aws
    return pool


def _fresh(pool: dict[str, Any]) -> None:
    """No instances yet: idle ones (the moments they went idle), launching ones (when ready), in use."""
    pool.setdefault("_idle", [])
    pool.setdefault("_pending", [])
    pool.setdefault("_used", 0)


def _default_tags(name: str, creator: str, pool_id: str) -> dict[str, str]:
    return {
        "Vendor": "Databricks",
        "DatabricksInstancePoolCreatorId": creator,
        "DatabricksInstancePoolId": pool_id,
        "Name": name,
    }


def _public(pool: Mapping[str, Any]) -> dict[str, Any]:
    answer = {key: copy.deepcopy(value) for key, value in pool.items() if not key.startswith("_")}
    answer["stats"] = {
        "used_count": pool["_used"],
        "idle_count": len(pool["_idle"]),
        "pending_used_count": 0,
        "pending_idle_count": len(pool["_pending"]),
    }
    return answer


def _stamp(at: float) -> str:
    return time.strftime("%m%d-%H%M%S", time.gmtime(at))


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object", list: "an array"}
    return names.get(kind, "a value") if isinstance(kind, type) else "a value"


def _wanted(cluster: Mapping[str, Any], workers: int) -> dict[str, int]:
    """The instances a cluster of ``workers`` workers takes from each of its pools (its driver's included)."""
    worker_pool = cluster.get("instance_pool_id")
    driver_pool = cluster.get("driver_instance_pool_id") or worker_pool
    wanted: dict[str, int] = {}
    if worker_pool:
        wanted[worker_pool] = wanted.get(worker_pool, 0) + workers
    if driver_pool:
        wanted[driver_pool] = wanted.get(driver_pool, 0) + 1
    return wanted
