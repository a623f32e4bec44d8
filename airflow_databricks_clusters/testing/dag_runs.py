"""One DAG of the DAGs folder run with ``dag.test()`` in this process, and what the run did.

``dag.test()`` runs only a DAG its DAG bundle holds, so the DAG is loaded from the configured DAGs folder
(the folder is parsed once per ``DagRunner``). The run's DagRun does not carry a failed task's exception:
a task-instance listener, registered for the length of the run, keeps each failure's message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy

# Airflow's listener hooks are pluggy hooks of the project "airflow": a method marked with this marker is
# one, whichever module made the marker.
_hookimpl = pluggy.HookimplMarker("airflow")


class DagFolderError(Exception):
    """The DAG asked for is not in the DAGs folder: its file failed to import, or no file defines it."""


@dataclass(frozen=True)
class DagRunResult:
    """What one ``dag_runner(...)`` run did.

    :ivar dag_id: the DAG's id.
    :ivar run_id: the DAG run's id.
    :ivar state: the DAG run's final state: ``"success"`` or ``"failed"``.
    :ivar task_states: task id -> its task instance's final state (``"success"``, ``"failed"``,
        ``"upstream_failed"``, ``"skipped"``, ...); a mapped task's instances as ``"task_id[i]"``.
    :ivar try_numbers: task id -> the try it ended on (0 when it never ran).
    :ivar errors: task id -> the message of the exception its last failed try raised (only failed tries).
    """

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str | None]
    try_numbers: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """The value ``task_id`` pushed under ``key`` in this run (None when it pushed none)."""
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = session.scalars(
                XComModel.get_many(
                    run_id=self.run_id, dag_ids=self.dag_id, task_ids=task_id, key=key, map_indexes=map_index
                )
            ).first()
            return None if row is None else XComModel.deserialize_value(row)


class _FailureListener:
    """Keeps the message of each failed try, by task instance key (tries run in this process)."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()

    @_hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        message = str(error) if error is not None else ""
        if isinstance(error, BaseException) and not message:
            message = type(error).__name__
        with self._lock:
            self.errors[_key(task_instance.task_id, getattr(task_instance, "map_index", -1))] = message


class DagRunner:
    """Runs DAGs of ``dags_folder`` (the configured DAGs folder) with ``dag.test()``."""

    def __init__(self, dags_folder: Path) -> None:
        self.dags_folder = dags_folder
        self._bag: Any = None

    def _dag(self, dag_id: str) -> Any:
        if self._bag is None:
            from airflow.dag_processing.dagbag import DagBag

            self._bag = DagBag(dag_folder=str(self.dags_folder))
        dag = self._bag.dags.get(dag_id)
        if dag is not None:
            return dag
        problems = "".join(
            f"\n{path}:\n{error.rstrip()}" for path, error in sorted(self._bag.import_errors.items())
        )
        if problems:
            raise DagFolderError(
                f"DAG {dag_id!r} not found; DAG files in {self.dags_folder} failed:{problems}"
            )
        known = ", ".join(sorted(self._bag.dags)) or "none"
        raise DagFolderError(f"DAG {dag_id!r} not found in {self.dags_folder} (DAGs there: {known})")

    def run(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        retry_delay: timedelta | None = None,
    ) -> DagRunResult:
        """Run ``dag_id`` once, to the end, with ``conf`` as its run's conf (the trigger form's params).

        With ``retry_delay``, every task waits that long before a retry instead of its own delay
        (``dag.test()`` waits for it in real seconds); the DAG file is not touched.
        """
        from airflow.sdk.listener import get_listener_manager

        dag = self._dag(dag_id)
        if retry_delay is not None:
            for task in dag.tasks:
                task.retry_delay = retry_delay
                task.retry_exponential_backoff = False
        listener = _FailureListener()
        manager = get_listener_manager()
        manager.add_listener(listener)
        try:
            if logical_date is None:
                dag_run = dag.test(run_conf=conf)
            else:
                dag_run = dag.test(run_conf=conf, run_after=logical_date, logical_date=logical_date)
        finally:
            manager.pm.unregister(listener)
        states: dict[str, str | None] = {}
        tries: dict[str, int] = {}
        for ti in dag_run.get_task_instances():
            key = _key(ti.task_id, ti.map_index)
            states[key] = _state(ti.state)
            tries[key] = int(ti.try_number or 0)
        errors = {key: listener.errors[key] for key in states if key in listener.errors}
        return DagRunResult(
            dag_id=dag_id,
            run_id=dag_run.run_id,
            state=str(_state(dag_run.state)),
            task_states=states,
            try_numbers=tries,
            errors=errors,
        )


def _state(state: Any) -> str | None:
    """A state as its plain string (a state enum's value; a string already is one)."""
    return None if state is None else str(getattr(state, "value", state))


def _key(task_id: str, map_index: int | None) -> str:
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"
