"""A cluster's record: a validated spec laid onto it with the server's defaults, and what the API shows.

The record is a plain dict in the ``clusters/get`` shape; keys starting with ``_`` (events, planned steps,
last activity, pinned) are the emulator's own and never shown.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.nodes import target_workers

#: Fields a new spec replaces entirely on edit (so a field left out of the edit disappears, and a default
#: the server filled in, such as ``driver_node_type_id``, is filled in again from the new spec).
spec_fields_to_reset = frozenset(
    {
        "cluster_name",
        "node_type_id",
        "driver_node_type_id",
        "worker_node_type_flexibility",
        "driver_node_type_flexibility",
        "autotermination_minutes",
        "enable_elastic_disk",
        "enable_local_disk_encryption",
        "apply_policy_default_values",
        "kind",
        "is_single_node",
        "use_ml_runtime",
        "workload_type",
        "remote_disk_throughput",
        "total_initial_remote_disk_size",
        "clone_from",
        "dependency_mode",
        "num_workers",
        "autoscale",
        "spark_conf",
        "spark_env_vars",
        "custom_tags",
        "aws_attributes",
        "docker_image",
        "init_scripts",
        "cluster_log_conf",
        "instance_pool_id",
        "driver_instance_pool_id",
        "policy_id",
        "ssh_public_keys",
        "data_security_mode",
        "single_user_name",
        "runtime_engine",
    }
)
_LIST_HIDDEN = ("spec",)


def fill(cluster: dict[str, Any], spec: Mapping[str, Any], catalog: Catalog) -> None:
    """Lay a validated spec onto a cluster record, with the server's defaults filled in."""
    for key in list(cluster):
        if not key.startswith("_") and key in spec_fields_to_reset:
            del cluster[key]
    for key, value in spec.items():
        cluster[key] = copy.deepcopy(value)
    if "autoscale" in cluster:
        cluster.pop("num_workers", None)
    aws = dict(cluster.get("aws_attributes") or {})
    aws.setdefault("availability", "SPOT_WITH_FALLBACK")
    aws.setdefault("zone_id", catalog.zones[0])
    aws.setdefault("spot_bid_price_percent", 100)
    aws.setdefault("first_on_demand", 1)
    cluster["aws_attributes"] = aws
    if "docker_image" in cluster:
        _hide_registry_password(cluster["docker_image"])
    node_sizes(cluster, catalog)
    cluster.setdefault("autotermination_minutes", 0)
    cluster.setdefault("enable_elastic_disk", False)
    cluster.setdefault("spark_conf", {})
    cluster.setdefault("custom_tags", {})
    cluster["default_tags"] = {
        "Vendor": "Databricks",
        "Creator": cluster["creator_user_name"],
        "ClusterName": cluster.get("cluster_name", ""),
        "ClusterId": cluster["cluster_id"],
        "Name": f"workerenv-{cluster['cluster_id']}",
    }
    cluster["spec"] = spec_as_given(spec)


def node_sizes(cluster: dict[str, Any], catalog: Catalog) -> None:
    """The cluster's node type (its own, or its pool's), the memory and cores of one node, and the totals
    at its size."""
    node_type = cluster.get("node_type_id")
    pool = catalog.pool(cluster.get("instance_pool_id", ""))
    if node_type is None and pool is not None:
        node_type = pool["node_type_id"]
        cluster["node_type_id"] = node_type  # a workspace shows a pooled cluster's node type: its pool's
    driver_pool = catalog.pool(cluster.get("driver_instance_pool_id") or "")
    if driver_pool is not None:  # the driver's node type is its pool's
        cluster.setdefault("driver_node_type_id", driver_pool["node_type_id"])
    cluster.setdefault("driver_node_type_id", node_type)
    memory, cores, _ = catalog.node_types.get(node_type or "", (0, 0.0, 0))
    cluster["_node_memory_mb"], cluster["_node_cores"] = memory, cores
    _size_totals(cluster)


def resize(cluster: dict[str, Any], size: Mapping[str, Any]) -> None:
    """A resize to ``{"num_workers": n}`` or ``{"autoscale": {...}}``: the record, its ``spec`` and its
    totals all show the new size (the spec is what the cluster is now asked to be)."""
    for record in (cluster, cluster.setdefault("spec", {})):
        record.pop("num_workers", None)
        record.pop("autoscale", None)
        record.update(copy.deepcopy(dict(size)))
    _size_totals(cluster)


def _size_totals(cluster: dict[str, Any]) -> None:
    workers = target_workers(cluster) if "autoscale" in cluster else cluster.get("num_workers", 0)
    cluster["cluster_memory_mb"] = cluster.get("_node_memory_mb", 0) * (1 + workers)
    cluster["cluster_cores"] = cluster.get("_node_cores", 0.0) * (1 + workers)


def public(cluster: Mapping[str, Any], *, with_spec: bool = True) -> dict[str, Any]:
    """The record as ``clusters/get`` answers it; ``clusters/list`` leaves out the ``spec``."""
    hidden = () if with_spec else _LIST_HIDDEN
    return {
        key: copy.deepcopy(value)
        for key, value in cluster.items()
        if not key.startswith("_") and key not in hidden
    }


def event_attributes(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a CREATING or EDITED event says of a spec: ``attributes`` (the spec as given, without its size)
    and ``cluster_size`` (``num_workers`` or ``autoscale``), as the API splits them."""
    attributes = spec_as_given(spec)
    size = {key: attributes.pop(key) for key in ("num_workers", "autoscale") if key in attributes}
    return {"attributes": attributes, "cluster_size": size}


def spec_as_given(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a spec that is safe to answer back: the registry password is never echoed."""
    given = copy.deepcopy(dict(spec))
    image = given.get("docker_image")
    if isinstance(image, dict):
        _hide_registry_password(image)
    return given


def _hide_registry_password(image: dict[str, Any]) -> None:
    # A registry password is never echoed back.
    if "basic_auth" in image:
        image["basic_auth"] = {"username": image["basic_auth"].get("username", "")}
