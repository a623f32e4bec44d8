"""A cluster's event log as the Clusters API writes it (events, the reasons they carry, timestamps) and
reads it back (``clusters/events``: filtered, ordered, paged).

Events sit in the cluster record's ``_events`` list in ``clusters/events`` shape; a reason is the
``{"code", "type", "parameters"}`` object of a ``termination_reason`` or an event's ``details.reason``.
Timestamps are epoch milliseconds, as everywhere in the API.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import invalid_parameter
from airflow_databricks_clusters.emulator.request_params import integer, many, paged

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


#: ``clusters/events``: the page size of a request without one, and the most one page holds.
EVENTS_PAGE_SIZE = 50
EVENTS_MAX_PAGE_SIZE = 500


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


def events_answer(cluster: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``clusters/events`` answer for this cluster: its events filtered by ``event_types``,
    ``start_time`` and ``end_time``, in ``order``, a page at a time (by ``offset``/``limit``, or by
    ``page_size``/``page_token``)."""
    # Each event's place in the log breaks timestamp ties: the paging cursor needs distinct keys.
    events = [{**event, "_seq": seq} for seq, event in enumerate(cluster["_events"])]
    kinds = many(body.get("event_types"))
    unknown = sorted(str(kind) for kind in kinds if not isinstance(kind, str) or kind not in EVENT_TYPES)
    if unknown:
        raise invalid_parameter(f"Invalid event_types {', '.join(unknown)}: not a cluster event type")
    if kinds:
        events = [e for e in events if e["type"] in kinds]
    if body.get("start_time") is not None:
        since = integer(body["start_time"], "start_time", default=0)
        events = [e for e in events if e["timestamp"] >= since]
    if body.get("end_time") is not None:
        until = integer(body["end_time"], "end_time", default=0)
        events = [e for e in events if e["timestamp"] <= until]
    order = body.get("order") or "DESC"
    if order not in ("ASC", "DESC"):
        raise invalid_parameter(f"Invalid order {order}: must be ASC or DESC.")
    events.sort(key=_event_key, reverse=order == "DESC")
    if "page_size" in body or "page_token" in body:
        return _events_by_token(body, events, descending=order == "DESC")
    limit = integer(body.get("limit"), "limit", default=EVENTS_PAGE_SIZE)
    if not 1 <= limit <= EVENTS_MAX_PAGE_SIZE:
        raise invalid_parameter(f"limit must be between 1 and {EVENTS_MAX_PAGE_SIZE}, got {limit}.")
    offset = integer(body.get("offset"), "offset", default=0)
    if offset < 0:
        raise invalid_parameter(f"Invalid offset {offset}: must be 0 or more.")
    page = [_shown(event) for event in events[offset : offset + limit]]
    answer: dict[str, Any] = {"events": page, "total_count": len(events)}
    if offset + limit < len(events):
        answer["next_page"] = {**body, "offset": offset + limit, "limit": limit}
    return answer


def _event_key(event: Mapping[str, Any]) -> tuple[int, int]:
    return int(event["timestamp"]), int(event["_seq"])


def _shown(event: Mapping[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in event.items() if not key.startswith("_")}


def _events_by_token(
    body: Mapping[str, Any], events: list[dict[str, Any]], *, descending: bool
) -> dict[str, Any]:
    """A page of events in the ``page_size`` / ``page_token`` style: both tokens, and ``next_page`` too (the
    request for the next page, which is what databricks-sdk follows)."""
    size = integer(body.get("page_size"), "page_size", default=0)
    # Out of [0, 500] the server enforces 0 (its default) or 500, as the API reference says.
    size = min(max(size, 0), EVENTS_MAX_PAGE_SIZE) or EVENTS_PAGE_SIZE
    page, following, preceding = paged(
        events, _event_key, body.get("page_token"), size, descending=descending, list_name="events"
    )
    answer: dict[str, Any] = {
        "events": [_shown(event) for event in page],
        "next_page_token": following,
        "prev_page_token": preceding,
        "total_count": 0,  # deprecated, and 0 when a request pages by token
    }
    if following:
        request = {k: v for k, v in body.items() if k not in ("offset", "limit")}
        answer["next_page"] = {**request, "page_token": following}
    return answer
