"""What the emulator's console page shows: the list of clusters, and one cluster's state, workers,
configuration and events, every secret-looking value hidden.

The page (``console_page.py``) stands in for the workspace UI that the operators' "Databricks Cluster"
link opens; it is the emulator's own, not an API a workspace has. Everything here reads the workspace as
``clusters/get`` and ``clusters/events`` do, and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.workspace import Workspace

#: What a hidden value is shown as.
HIDDEN = "***"
#: A key naming a secret, anywhere in its name and in any case (``DB_PASSWORD``, ``client_secret``,
#: ``spark.hadoop.fs.s3a.secret.key``, ``api_token``). The emulator keeps its own rule: it imports nothing
#: of the plugin, whose redaction it therefore cannot use.
# The plugin's own words for a secret's key (redaction.py); the emulator imports nothing of the plugin, so
# they are written here again, and tests/unit/emulator/test_console_secret_keys.py keeps the two the same.
_SECRET_KEY = re.compile(
    r"pass(?:word|wd|phrase)|secret|token|credential|authori[sz]ation|(?:private|api|access)[_.-]?key",
    re.IGNORECASE,
)
#: The newest events a cluster's view holds (the most one ``clusters/events`` page gives).
EVENTS_SHOWN = 500
#: Event detail fields that carry a whole spec: the configuration shows it, the event line does not.
_SPEC_DETAILS = ("attributes", "previous_attributes")


def hide_secrets(value: Any) -> Any:
    """A copy of ``value`` with every value under a secret-looking key, at any depth, shown as ``***``."""
    if isinstance(value, Mapping):
        return {
            key: HIDDEN if _SECRET_KEY.search(str(key)) else hide_secrets(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [hide_secrets(item) for item in value]
    return value


def cluster_list(workspace: Workspace) -> dict[str, Any]:
    """``{"clusters": [...]}``: each cluster's id, name, state and start time, the newest start first."""
    rows = [
        {
            "cluster_id": cluster["cluster_id"],
            "cluster_name": cluster.get("cluster_name", ""),
            "state": cluster["state"],
            "state_message": cluster.get("state_message", ""),
            "start_time": cluster.get("start_time"),
        }
        for cluster in workspace.all_clusters()
    ]
    rows.sort(key=lambda row: row["start_time"] or 0, reverse=True)
    return {"clusters": rows}


def cluster_view(workspace: Workspace, cluster_id: str) -> dict[str, Any]:
    """One cluster as the page shows it; a 404 ``RESOURCE_DOES_NOT_EXIST`` for an unknown id.

    ``cluster``: its name, id, state, times (epoch ms; ``uptime_seconds`` from its last start to its
    termination or now) and termination reason; ``workers``: its size and, while it has machines, how many
    are on spot and on demand; ``configuration``: the spec the workspace received; ``events``: the newest
    first, each with a one-line ``summary``; ``events_total``: how many it has in all.
    """
    # One hold of the lock: the record and its events are of the same moment.
    with workspace.lock:
        try:
            cluster = workspace.clusters_get({"cluster_id": cluster_id})
        except ApiError:  # the API's 400 for an unknown (or empty) id: a page that is not there
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Cluster {cluster_id} does not exist") from None
        answer = workspace.clusters_events({"cluster_id": cluster_id, "order": "DESC", "limit": EVENTS_SHOWN})
        now_ms = int(workspace.now() * 1000)
    start, end = cluster.get("start_time"), cluster.get("terminated_time")
    if cluster["state"] != "TERMINATED" or end is None:
        end = now_ms
    return {
        "cluster": {
            "cluster_id": cluster["cluster_id"],
            "cluster_name": cluster.get("cluster_name", ""),
            "state": cluster["state"],
            "state_message": cluster.get("state_message", ""),
            "creator_user_name": cluster.get("creator_user_name", ""),
            "spark_version": cluster.get("spark_version", ""),
            "node_type_id": cluster.get("node_type_id"),
            "driver_node_type_id": cluster.get("driver_node_type_id"),
            "start_time": start,
            "terminated_time": cluster.get("terminated_time"),
            "uptime_seconds": max(0.0, (end - start) / 1000) if start is not None else None,
            "termination_reason": hide_secrets(cluster.get("termination_reason")),
        },
        "workers": workers(cluster),
        "configuration": hide_secrets(cluster.get("spec", {})),
        "events": [_event(event) for event in answer["events"]],
        "events_total": answer["total_count"],
        "now": now_ms,
    }


def workers(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """The cluster's size, its spot settings, and its machines now: the driver's and the executors'
    market (``null`` counts while it has no machines, before RUNNING and after termination)."""
    aws = cluster.get("aws_attributes") or {}
    executors = cluster.get("executors")
    driver = cluster.get("driver")
    on_spot = [bool(node.get("node_aws_attributes", {}).get("is_spot")) for node in executors or []]
    return {
        "num_workers": cluster.get("num_workers"),
        "autoscale": cluster.get("autoscale"),
        "availability": aws.get("availability"),
        "first_on_demand": aws.get("first_on_demand"),
        "spot_bid_price_percent": aws.get("spot_bid_price_percent"),
        "driver_on_spot": (
            bool(driver.get("node_aws_attributes", {}).get("is_spot")) if driver is not None else None
        ),
        "executors": len(on_spot) if executors is not None else None,
        "executors_on_spot": sum(on_spot) if executors is not None else None,
        "executors_on_demand": len(on_spot) - sum(on_spot) if executors is not None else None,
    }


def _event(event: Mapping[str, Any]) -> dict[str, Any]:
    details = hide_secrets(event.get("details") or {})
    return {
        "timestamp": event["timestamp"],
        "type": event["type"],
        "summary": event_summary(details),
        "details": details,
    }


def event_summary(details: Mapping[str, Any]) -> str:
    """One line for an event's details: its reason first (code, type, parameters), then its other plain
    fields; a spec it carries is left to the configuration."""
    parts: list[str] = []
    reason = details.get("reason")
    if isinstance(reason, Mapping):
        parts.append(reason_text(reason))
    for key, value in details.items():
        if key == "reason" or key in _SPEC_DETAILS:
            continue
        if isinstance(value, Mapping | list):
            parts.append(f"{key}: {_compact(value)}")
        else:
            parts.append(f"{key}: {value}")
    if any(key in details for key in _SPEC_DETAILS):
        parts.append("spec: see the configuration")
    return "; ".join(parts)


def reason_text(reason: Mapping[str, Any]) -> str:
    """``CODE (TYPE) key=value, ...`` for a termination or failure reason."""
    text = str(reason.get("code", ""))
    if reason.get("type"):
        text += f" ({reason['type']})"
    parameters = reason.get("parameters") or {}
    if parameters:
        text += " " + ", ".join(f"{key}={value}" for key, value in parameters.items())
    return text


def _compact(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_compact(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(item) for item in value) + "]"
    return str(value)
