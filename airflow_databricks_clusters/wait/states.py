"""What a cluster's state and events mean for a task: pure functions, no I/O, no Airflow import.

The operators, the sensor and the trigger all decide "done, failed or keep waiting" here, so a sync wait
in a worker and a deferred wait in the triggerer can never disagree. The summaries (spot/on-demand split
once RUNNING, the lifetime report at termination) are computed from the ``clusters/get`` answer and the
``clusters/events`` list exactly as the Clusters API returns them.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.cluster_spec.capacity_fallback import alternative_of

PENDING = "PENDING"
RUNNING = "RUNNING"
RESTARTING = "RESTARTING"
RESIZING = "RESIZING"
TERMINATING = "TERMINATING"
TERMINATED = "TERMINATED"
ERROR = "ERROR"
UNKNOWN = "UNKNOWN"

#: States a cluster passes through on its own way to RUNNING.
STARTING_STATES = frozenset({PENDING, RESTARTING, RESIZING})
#: States from which a cluster can still be found and reused by a retried task.
LIVE_STATES = frozenset({PENDING, RUNNING, RESTARTING, RESIZING})
#: Every state the Clusters API documents. Anything else is tolerated as "keep waiting".
KNOWN_STATES = frozenset({PENDING, RUNNING, RESTARTING, RESIZING, TERMINATING, TERMINATED, ERROR, UNKNOWN})
#: How many cluster events a failure report shows.
FAILURE_EVENT_COUNT = 10


class Verdict(enum.Enum):
    """What a wait does next after seeing a state."""

    DONE = "done"
    FAILED = "failed"
    WAITING = "waiting"


def failed_states_for(target_states: Iterable[str]) -> frozenset[str]:
    """The states that mean the targets can no longer be reached without someone starting the cluster.

    Waiting for RUNNING, a cluster that is TERMINATING or TERMINATED has failed (Databricks ends failed
    starts TERMINATED; ERROR is no longer used but still documented). Waiting for TERMINATED, nothing
    fails: every state eventually leads there once termination was asked for.
    """
    targets = frozenset(target_states)
    if targets & {TERMINATING, TERMINATED}:
        return frozenset({ERROR}) - targets
    return frozenset({TERMINATING, TERMINATED, ERROR}) - targets


def assess(state: str, target_states: Iterable[str], failed_states: Iterable[str] | None = None) -> Verdict:
    """Decide what one observed state means for a wait for ``target_states``.

    Unknown or new states are WAITING: a client must tolerate states the API adds later.
    """
    targets = frozenset(target_states)
    failed = failed_states_for(targets) if failed_states is None else frozenset(failed_states)
    if state in targets:
        return Verdict.DONE
    if state in failed:
        return Verdict.FAILED
    return Verdict.WAITING


def validate_target_states(target_states: Iterable[str], field: str = "target_states") -> tuple[str, ...]:
    """Refuse target states the Clusters API never reports, naming the field and the allowed values."""
    states = tuple(target_states)
    if isinstance(target_states, str):
        states = (target_states,)
    unknown = [s for s in states if s not in KNOWN_STATES]
    if not states or unknown:
        raise ValueError(
            f"{field}: got {list(states)!r}; allowed: one or more of {', '.join(sorted(KNOWN_STATES))}"
        )
    return states


def termination_reason_text(reason: Mapping[str, Any] | None) -> str:
    """``CODE (TYPE): k=v, ...`` for a ``termination_reason`` object, or "" when there is none."""
    if not reason:
        return ""
    params = reason.get("parameters") or {}
    text = f"{reason.get('code', 'UNKNOWN')} ({reason.get('type', 'UNKNOWN')})"
    if params:
        text += ": " + ", ".join(f"{key}={value}" for key, value in sorted(params.items()))
    return text


def event_line(event: Mapping[str, Any]) -> str:
    """One cluster event as a log line: its time in ms since the epoch, type and details."""
    details = event.get("details") or {}
    shown = ", ".join(f"{key}={value}" for key, value in sorted(details.items()))
    return f"{event.get('timestamp', '?')} {event.get('type', '?')}" + (f" {shown}" if shown else "")


def _workers(cluster: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return cluster.get("executors") or []


def _is_spot(node: Mapping[str, Any]) -> bool:
    return bool((node.get("node_aws_attributes") or {}).get("is_spot"))


def cluster_summary(cluster: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """How a RUNNING cluster came up: the ``cluster_summary`` XCom of the create operator.

    Counts workers on spot and on demand from the cluster's executors (``node_aws_attributes.is_spot``).
    ``fell_back_to_on_demand`` is true when availability is SPOT_WITH_FALLBACK and more workers run on
    demand than ``first_on_demand`` asked for (the driver takes the first on-demand slot), or when an
    event reports that spot instances could not be acquired. ``capacity_fallback`` is the index of the
    create task's alternative the cluster runs on (None: the task's own spec); ``zone_id`` as asked.
    """
    aws = cluster.get("aws_attributes") or {}
    availability = aws.get("availability", "")
    first_on_demand = int(aws.get("first_on_demand") or 0)
    workers = _workers(cluster)
    spot = sum(1 for node in workers if _is_spot(node))
    on_demand = len(workers) - spot
    driver = cluster.get("driver")
    requested_on_demand_workers = max(first_on_demand - 1, 0)
    fell_back = availability == "SPOT_WITH_FALLBACK" and (
        on_demand > requested_on_demand_workers or any(reports_spot_fallback(e) for e in events)
    )
    return {
        "cluster_id": cluster.get("cluster_id"),
        "cluster_name": cluster.get("cluster_name"),
        "state": cluster.get("state"),
        "spark_version": cluster.get("spark_version"),
        "node_type_id": cluster.get("node_type_id"),
        "availability": availability,
        "first_on_demand": first_on_demand,
        "driver_on_spot": _is_spot(driver) if driver else None,
        "workers": len(workers),
        "workers_on_spot": spot,
        "workers_on_demand": on_demand,
        "fell_back_to_on_demand": fell_back,
        "zone_id": aws.get("zone_id"),
        "capacity_fallback": alternative_of(cluster),
        "docker_image": (cluster.get("docker_image") or {}).get("url"),
    }


#: Event details that copy the cluster's spec (CREATING, EDITED): what was asked for, not what happened,
#: so a SPOT_WITH_FALLBACK in them says nothing of a fallback.
SPEC_DETAILS = frozenset({"attributes", "previous_attributes"})


def reports_spot_fallback(event: Mapping[str, Any]) -> bool:
    """Whether a cluster event says spot instances could not be had and on-demand ones were taken."""
    if event.get("type") not in {"ADD_NODES_FAILED", "SPOT_INSTANCE_FALLBACK", "NODES_FALLBACK"}:
        details = event.get("details") or {}
        text = " ".join(str(v) for k, v in details.items() if k not in SPEC_DETAILS).lower()
        return "fall back" in text or "fallback" in text or "fell back" in text
    return True


def counted(count: Any, noun: str) -> str:
    """``1 worker``, ``2 workers``, ``0 workers``: a count and its noun, singular only for exactly one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def spot_report(summary: Mapping[str, Any]) -> str:
    """The one-line spot/on-demand report the create operator logs once the cluster is RUNNING."""
    driver = summary.get("driver_on_spot")
    driver_text = "driver on spot" if driver else "driver on demand" if driver is not None else "driver ?"
    workers = counted(summary.get("workers"), "worker")
    text = (
        f"Cluster {summary.get('cluster_id')} RUNNING ({summary.get('availability') or 'availability ?'}): "
        f"{driver_text}, {workers}: {summary.get('workers_on_spot')} on spot, "
        f"{summary.get('workers_on_demand')} on demand"
    )
    if summary.get("fell_back_to_on_demand"):
        text += "; spot capacity was short, SPOT_WITH_FALLBACK fell back to on-demand"
    if summary.get("capacity_fallback") is not None:
        text += f"; on capacity_fallback[{summary['capacity_fallback']}] after a shortage"
    return text


def lifetime_report(cluster: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What a teardown logs: uptime, the event types passed, nodes lost and replaced, termination reason.

    ``events`` in any order; the report sorts them by time. Events of the same millisecond keep the
    order they happened in: a newest-first answer (``clusters/events``' default) lists them newest first.
    """
    stamps = [e.get("timestamp", 0) for e in events]
    newest_first = all(a >= b for a, b in itertools.pairwise(stamps))
    ordered = sorted(reversed(events) if newest_first else events, key=lambda e: e.get("timestamp", 0))
    start_ms = cluster.get("start_time")
    end_ms = cluster.get("terminated_time")
    uptime = (end_ms - start_ms) / 1000 if start_ms and end_ms else None
    nodes_lost = sum(_count_nodes(e) for e in ordered if e.get("type") == "NODES_LOST")
    passed: list[str] = []
    for event in ordered:
        kind = str(event.get("type", "?"))
        if not passed or passed[-1] != kind:
            passed.append(kind)
    return {
        "cluster_id": cluster.get("cluster_id"),
        "state": cluster.get("state"),
        "uptime_seconds": uptime,
        "events": passed,
        "nodes_lost": nodes_lost,
        "nodes_added": sum(1 for e in ordered if e.get("type") in {"UPSIZE_COMPLETED", "NODES_ADDED"}),
        "termination_reason": termination_reason_text(cluster.get("termination_reason")),
    }


def _count_nodes(event: Mapping[str, Any]) -> int:
    details = event.get("details") or {}
    for key in ("lost_node_count", "num_nodes_lost", "nodes_lost"):
        if key in details:
            try:
                return int(details[key])
            except (TypeError, ValueError):
                break
    lost = details.get("lost_nodes") or details.get("node_ids")
    return len(lost) if isinstance(lost, list) else 1


def lifetime_text(report: Mapping[str, Any]) -> str:
    """The lifetime report as one log line."""
    uptime = report.get("uptime_seconds")
    uptime_text = f"{uptime:.0f} s" if isinstance(uptime, int | float) else "unknown"
    reason = report.get("termination_reason") or "none reported"
    return (
        f"Cluster {report.get('cluster_id')} {report.get('state')}: uptime {uptime_text}; "
        f"events {' -> '.join(report.get('events') or []) or 'none'}; nodes lost {report.get('nodes_lost')}, "
        f"replaced {report.get('nodes_added')}; termination reason {reason}"
    )


class StateWatch:
    """Follows one wait: remembers the last state seen and says what changed, with elapsed time.

    Shared by the sync wait in a worker and the async one in the triggerer, so both log the same lines
    and reach the same verdict. ``started_at`` and every ``now`` are seconds on the same clock.
    """

    def __init__(
        self,
        cluster_id: str,
        target_states: Iterable[str],
        *,
        started_at: float,
        failed_states: Iterable[str] | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.target_states = tuple(target_states)
        self.failed_states = (
            failed_states_for(self.target_states) if failed_states is None else frozenset(failed_states)
        )
        self.started_at = started_at
        self.last_state: str | None = None

    def observe(self, cluster: Mapping[str, Any], now: float) -> tuple[Verdict, str | None]:
        """The verdict for this ``clusters/get`` answer, and a log line when the state changed."""
        state = str(cluster.get("state", UNKNOWN))
        line = None
        if state != self.last_state:
            elapsed = now - self.started_at
            previous = f"{self.last_state} -> " if self.last_state else ""
            message = cluster.get("state_message") or ""
            line = f"Cluster {self.cluster_id}: {previous}{state} after {elapsed:.0f} s" + (
                f" ({message})" if message else ""
            )
            if state not in KNOWN_STATES:
                line += "; an unknown state, still waiting"
            self.last_state = state
        return assess(state, self.target_states, self.failed_states), line
