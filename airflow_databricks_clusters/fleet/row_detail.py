"""What an opened row of the Clusters page shows from its cluster's events. Pure.

The table is made from ``clusters/list`` alone (``fleet.rows``); what only the events tell is read when a
person opens a row: the nodes lost and added, whether an event reported a spot fallback, and the last
events, each as one line. Event details that copy the cluster's spec (``attributes``,
``previous_attributes``) are left out, and anything under a secret-looking key is hidden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.redaction import redact_field
from airflow_databricks_clusters.wait.states import (
    LIVE_STATES,
    SPEC_DETAILS,
    cluster_summary,
    lifetime_report,
    reports_spot_fallback,
    termination_reason_text,
)

#: The newest events a detail shows.
EVENTS_SHOWN = 20


def event_text(event: Mapping[str, Any]) -> str:
    """An event's details as one line: its reason first, then its other fields, secrets hidden."""
    details = event.get("details") or {}
    parts: list[str] = []
    reason = details.get("reason")
    if isinstance(reason, Mapping):
        parts.append(str(redact_field("reason", termination_reason_text(reason))))
    for key, value in sorted(details.items()):
        if key != "reason" and key not in SPEC_DETAILS:
            parts.append(f"{key}={redact_field(key, value)}")
    return ", ".join(parts)


def row_detail(cluster: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The detail of one row: ``events`` are the cluster's newest events, newest first.

    ``fell_back``: for a live cluster, its nodes or an event say SPOT_WITH_FALLBACK took on-demand
    workers; for an ended one, an event said so. ``events_read``: how many events this is made of (the
    newest ``fleet.reader.EVENTS_PER_CLUSTER`` at most: a long-lived cluster's older ones are not counted).
    """
    report = lifetime_report(cluster, events)
    fallback_events = sum(1 for event in events if reports_spot_fallback(event))
    live = cluster.get("state") in LIVE_STATES
    fell_back = cluster_summary(cluster, events)["fell_back_to_on_demand"] if live else fallback_events > 0
    return {
        "cluster_id": str(cluster.get("cluster_id")),
        "state": cluster.get("state"),
        "events_read": len(events),
        "nodes_lost": report["nodes_lost"],
        "nodes_added": report["nodes_added"],
        "fell_back": fell_back,
        "fallback_events": fallback_events,
        "last_events": [
            {
                "timestamp": event.get("timestamp"),
                "type": str(event.get("type", "?")),
                "text": event_text(event),
            }
            for event in events[:EVENTS_SHOWN]
        ],
    }
