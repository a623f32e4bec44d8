"""A cluster's event log as the Clusters API writes it: events, the reasons they carry, and timestamps.

Events sit in the cluster record's ``_events`` list in ``clusters/events`` shape; a reason is the
``{"code", "type", "parameters"}`` object of a ``termination_reason`` or an event's ``details.reason``.
Timestamps are epoch milliseconds, as everywhere in the API.
"""

from __future__ import annotations

from typing import Any

#: Every event type the Clusters API knows (databricks-sdk's ``compute.EventType``); a filter on another
#: is refused.
EVENT_TYPES = frozenset(
    {
        "ADD_NODES_FAILED", "AUTOMATIC_CLUSTER_UPDATE", "AUTOSCALING_BACKOFF", "AUTOSCALING_FAILED",
        "AUTOSCALING_STATS_REPORT", "CLUSTER_MIGRATED", "CREATING", "DBFS_DOWN", "DECOMMISSION_ENDED",
        "DECOMMISSION_STARTED", "DEFERRED_POLICY_ENFORCEMENT_FAILED", "DEFERRED_POLICY_ENFORCEMENT_SCHEDULED",
        "DID_NOT_EXPAND_DISK", "DRIVER_HEALTHY", "DRIVER_NOT_RESPONDING", "DRIVER_UNAVAILABLE", "EDITED",
        "EXPANDED_DISK", "FAILED_TO_EXPAND_DISK", "INIT_SCRIPTS_FINISHED", "INIT_SCRIPTS_STARTED",
        "METASTORE_DOWN", "NODES_LOST", "NODE_BLACKLISTED", "NODE_EXCLUDED_DECOMMISSIONED", "PINNED",
        "RESIZING", "RESTARTING", "RUNNING", "SPARK_EXCEPTION", "STARTING", "TERMINATING",
        "UC_VOLUME_MISCONFIGURED", "UNPINNED", "UPSIZE_COMPLETED",
    }
)  # fmt: skip


def ms(seconds: float) -> int:
    """Epoch seconds -> the API's epoch milliseconds."""
    return int(seconds * 1000)


def reason(code: str, kind: str, **parameters: str) -> dict[str, Any]:
    """A termination (or failure) reason: its code, its type and its parameters."""
    return {"code": code, "type": kind, "parameters": parameters}


def record(cluster: dict[str, Any], at: float, kind: str, **details: Any) -> None:
    """Append an event of type ``kind`` that happened ``at`` (epoch seconds) to the cluster's log."""
    cluster["_events"].append(
        {"cluster_id": cluster["cluster_id"], "timestamp": ms(at), "type": kind, "details": details}
    )
