"""What Airflow's metadata database says of the task instances that clusters' tags name (Clusters page).

The page runs inside the API server, which owns the metadata database; the leak sweep, a task, reads the
same facts through the Task SDK instead (``sweeper.read_task_instances``). Both answer ``Lookup``s, and
``fleet.sweep_policy.decide`` reads them the same way. A few queries per page load, however many clusters.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.fleet.sweep_policy import (
    ACTIVE_RUN_STATES,
    Lookup,
    RunStatus,
    TaskInstanceRef,
    state_name,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: DAG runs per query (an IN list of (dag_id, run_id) pairs).
BATCH = 500


def _batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def read_lookups(refs: Collection[TaskInstanceRef], session: Session) -> dict[TaskInstanceRef, Lookup]:
    """A ``Lookup`` for each task instance: its state and its DAG run's (active, finished or gone)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select, tuple_

    runs = sorted({(ref.dag_id, ref.run_id) for ref in refs})
    task_ids = TaskInstance.task_id.in_(sorted({ref.task_id for ref in refs}))
    run_states: dict[tuple[str, str], str | None] = {}
    ti_states: dict[tuple[str, str, str, int], str | None] = {}
    for batch in _batches(runs, BATCH):
        pairs = tuple_(DagRun.dag_id, DagRun.run_id).in_(batch)
        for dag_id, run_id, state in session.execute(
            select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(pairs)
        ):
            run_states[(dag_id, run_id)] = state
        ti_pairs = tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(batch)
        query = select(
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.state,
        ).where(ti_pairs, task_ids)
        for dag_id, run_id, task_id, map_index, state in session.execute(query):
            ti_states[(dag_id, run_id, task_id, map_index)] = state
    found: dict[TaskInstanceRef, Lookup] = {}
    for ref in refs:
        if (ref.dag_id, ref.run_id) not in run_states:
            found[ref] = Lookup.run_gone()
            continue
        run_state = run_states[(ref.dag_id, ref.run_id)]
        run = RunStatus.ACTIVE if state_name(run_state) in ACTIVE_RUN_STATES else RunStatus.FINISHED
        key = (ref.dag_id, ref.run_id, ref.task_id, ref.map_index)
        found[ref] = Lookup.of_task(state_name(ti_states[key]), run) if key in ti_states else Lookup.no_task()
    return found
