"""What the Clusters page's table shows of each cluster this plugin made, and which ones are orphaned. Pure.

A row is made from the cluster's ``clusters/list`` entry alone, so a read of the workspace costs its list's
pages however large the fleet: spot and on-demand workers come from each node's
``node_aws_attributes.is_spot``, and "fell back to on-demand" from more on-demand workers than
``first_on_demand`` asked for. What only the cluster's events tell (nodes lost and added, a fallback the
events report, the last events) is the row's detail (``fleet.row_detail``), read when a person opens it.

A cluster is this plugin's when ``fleet.sweep_policy.identify`` maps its tags back to a task instance and the
connection's user created it, the same rule the leak sweep keeps, so the page and the sweeper never
disagree on whose cluster is whose. A live cluster is *orphaned* when the sweep would terminate it (its
task instance ended, or succeeded in a finished DAG run, or its DAG run is gone), judged without the
sweep's age floor: the page shows what no task will terminate any more, however young.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from airflow_databricks_clusters.cluster_spec.capacity_fallback import alternative_of
from airflow_databricks_clusters.fleet.sweep_policy import Action, Lookup, TaskInstanceRef, decide, identify
from airflow_databricks_clusters.redaction import redact_value
from airflow_databricks_clusters.wait.states import LIVE_STATES, cluster_summary, termination_reason_text


@dataclass(frozen=True)
class FleetRow:
    """One cluster as the page's table shows it (every field JSON-able, nothing of the spec; ``as_json``,
    what the browser gets, holds no secret).

    ``workers_on_spot``/``workers_on_demand``/``fell_back``: of a live cluster only (None otherwise), from
    its nodes. ``capacity_fallback``: the index of the create task's ``capacity_fallback`` alternative the
    cluster runs on (None: the task's own spec). ``started_at``: epoch seconds (None: not started).
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
    started_at: float | None
    termination_reason: str
    orphaned: bool
    verdict: str
    url: str

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def task_instance(self) -> TaskInstanceRef:
        return TaskInstanceRef(self.dag_id, self.task_id, self.run_id, self.map_index)

    def as_json(self, *, can_terminate: bool) -> dict[str, Any]:
        """The row as the browser gets it; the termination reason (the workspace's text, whose parameters
        may hold anything) is redacted here, for the rows of the page sent only."""
        return {
            **asdict(self),
            "termination_reason": redact_value(self.termination_reason),
            "live": self.live,
            "can_terminate": can_terminate and self.live,
        }


def task_instances(clusters: Iterable[Mapping[str, Any]], owner: str) -> list[TaskInstanceRef]:
    """The task instances the plugin's clusters among ``clusters`` name (to look up in Airflow)."""
    refs = (identify(cluster, owner=owner) for cluster in clusters)
    return list(dict.fromkeys(ref for ref in refs if isinstance(ref, TaskInstanceRef)))


def with_task_states(rows: Iterable[FleetRow], lookups: Mapping[TaskInstanceRef, Lookup]) -> list[FleetRow]:
    """``rows`` with the task state of each one whose task instance is in ``lookups`` and not yet known.

    Only the live rows' task instances decide what is orphaned; an ended row's is read for the page it is
    shown on, and an ended row is never orphaned, so only the state it shows changes."""
    return [
        replace(row, task_state=lookups[row.task_instance].describe())
        if row.task_state is None and row.task_instance in lookups
        else row
        for row in rows
    ]


def _started_at(cluster: Mapping[str, Any]) -> float | None:
    start_ms = cluster.get("start_time")
    if not isinstance(start_ms, int | float) or isinstance(start_ms, bool) or start_ms <= 0:
        return None
    return start_ms / 1000.0


def _uptime(cluster: Mapping[str, Any], now: float) -> float | None:
    started = _started_at(cluster)
    if started is None:
        return None
    end_ms = cluster.get("terminated_time") if cluster.get("state") not in LIVE_STATES else None
    end = end_ms / 1000.0 if isinstance(end_ms, int | float) and end_ms > 0 else now
    return max(end - started, 0.0)


def fleet_rows(
    conn_id: str,
    clusters: Iterable[Mapping[str, Any]],
    *,
    owner: str,
    lookups: Mapping[TaskInstanceRef, Lookup],
    now: float,
    cluster_url: str,
) -> list[FleetRow]:
    """The plugin's clusters among ``clusters`` (one workspace's ``clusters/list``), in the list's order
    (``fleet.table`` sorts them).

    :param lookups: what Airflow said of each task instance (a missing one: not looked up, never orphaned).
    :param now: epoch seconds. :param cluster_url: the workspace's cluster page URL with ``{cluster_id}``.
    """
    rows: list[FleetRow] = []
    for cluster in clusters:
        ref = identify(cluster, owner=owner)
        if not isinstance(ref, TaskInstanceRef):
            continue
        cluster_id = str(cluster.get("cluster_id"))
        state = str(cluster.get("state") or "UNKNOWN")
        lookup = lookups.get(ref)
        verdict = decide(cluster, lookup, now=now, min_age_minutes=0, owner=owner)
        live = state in LIVE_STATES
        summary = cluster_summary(cluster) if live else None
        rows.append(
            FleetRow(
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
                started_at=_started_at(cluster),
                termination_reason=termination_reason_text(cluster.get("termination_reason")),
                orphaned=live and verdict.action is Action.TERMINATE,
                verdict=verdict.reason,
                url=cluster_url.format(cluster_id=cluster_id),
            )
        )
    return rows
