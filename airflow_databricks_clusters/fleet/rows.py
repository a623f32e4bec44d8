"""What the Clusters page shows of each cluster this plugin made, and which ones are orphaned. Pure.

A cluster is this plugin's when ``fleet.sweep_policy.identify`` maps its tags back to a task instance and the
connection's user created it, the same rule the leak sweep keeps, so the page and the sweeper never
disagree on whose cluster is whose. A live cluster is *orphaned* when the sweep would terminate it (its
task instance ended, or succeeded in a finished DAG run, or its DAG run is gone), judged without the
sweep's age floor: the page shows what no task will terminate any more, however young.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from airflow_databricks_clusters.cluster_spec.capacity_fallback import alternative_of
from airflow_databricks_clusters.fleet.sweep_policy import Action, Lookup, TaskInstanceRef, decide, identify
from airflow_databricks_clusters.wait.states import (
    LIVE_STATES,
    cluster_summary,
    lifetime_report,
    termination_reason_text,
)


@dataclass(frozen=True)
class FleetRow:
    """One cluster as the page's table shows it (every field JSON-able; nothing of the spec, no secret).

    ``workers_on_spot``/``workers_on_demand``/``fell_back``: of a live cluster only (None otherwise).
    ``nodes_lost``: None when the cluster's events could not be read. ``capacity_fallback``: the index of the
    create task's ``capacity_fallback`` alternative the cluster runs on (None: the task's own spec).
    """

    conn_id: str
    cluster_id: str
    cluster_name: str | None
    state: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    task_state: str | None
    uptime_seconds: float | None
    workers_on_spot: int | None
    workers_on_demand: int | None
    fell_back: bool | None
    capacity_fallback: int | None
    nodes_lost: int | None
    termination_reason: str
    orphaned: bool
    verdict: str
    url: str

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def as_json(self, *, can_terminate: bool) -> dict[str, Any]:
        return {**asdict(self), "live": self.live, "can_terminate": can_terminate and self.live}


def task_instances(clusters: Iterable[Mapping[str, Any]], owner: str) -> list[TaskInstanceRef]:
    """The task instances the plugin's clusters among ``clusters`` name (to look up in Airflow)."""
    refs = (identify(cluster, owner=owner) for cluster in clusters)
    return list(dict.fromkeys(ref for ref in refs if isinstance(ref, TaskInstanceRef)))


def _uptime(cluster: Mapping[str, Any], now: float) -> float | None:
    start_ms = cluster.get("start_time")
    if not isinstance(start_ms, int | float) or isinstance(start_ms, bool) or start_ms <= 0:
        return None
    end_ms = cluster.get("terminated_time") if cluster.get("state") not in LIVE_STATES else None
    end = end_ms / 1000.0 if isinstance(end_ms, int | float) and end_ms > 0 else now
    return max(end - start_ms / 1000.0, 0.0)


def fleet_rows(
    conn_id: str,
    clusters: Iterable[Mapping[str, Any]],
    *,
    owner: str,
    lookups: Mapping[TaskInstanceRef, Lookup],
    events: Mapping[str, Sequence[Mapping[str, Any]]],
    now: float,
    cluster_url: str,
) -> list[FleetRow]:
    """The plugin's clusters among ``clusters`` (one workspace's ``clusters/list``), live ones first, then
    the most recently started.

    :param lookups: what Airflow said of each task instance (a missing one: not looked up, never orphaned).
    :param events: each cluster's events by id (a missing one: unread, ``nodes_lost`` is None).
    :param now: epoch seconds. :param cluster_url: the workspace's cluster page URL with ``{cluster_id}``.
    """
    rows: list[tuple[tuple[bool, float], FleetRow]] = []
    for cluster in clusters:
        ref = identify(cluster, owner=owner)
        if not isinstance(ref, TaskInstanceRef):
            continue
        cluster_id = str(cluster.get("cluster_id"))
        state = str(cluster.get("state") or "UNKNOWN")
        lookup = lookups.get(ref)
        verdict = decide(cluster, lookup, now=now, min_age_minutes=0, owner=owner)
        live = state in LIVE_STATES
        cluster_events = events.get(cluster_id)
        summary = cluster_summary(cluster, cluster_events or ()) if live else None
        row = FleetRow(
            conn_id=conn_id,
            cluster_id=cluster_id,
            cluster_name=cluster.get("cluster_name"),
            state=state,
            dag_id=ref.dag_id,
            run_id=ref.run_id,
            task_id=ref.task_id,
            map_index=ref.map_index,
            task_state=lookup.describe() if lookup is not None else None,
            uptime_seconds=_uptime(cluster, now),
            workers_on_spot=summary["workers_on_spot"] if summary else None,
            workers_on_demand=summary["workers_on_demand"] if summary else None,
            fell_back=summary["fell_back_to_on_demand"] if summary else None,
            capacity_fallback=alternative_of(cluster),
            nodes_lost=(
                lifetime_report(cluster, cluster_events)["nodes_lost"] if cluster_events is not None else None
            ),
            termination_reason=termination_reason_text(cluster.get("termination_reason")),
            orphaned=live and verdict.action is Action.TERMINATE,
            verdict=verdict.reason,
            url=cluster_url.format(cluster_id=cluster_id),
        )
        start = cluster.get("start_time")
        rows.append(((not live, -float(start) if isinstance(start, int | float) else 0.0), row))
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]
