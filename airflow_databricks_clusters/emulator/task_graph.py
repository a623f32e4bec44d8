"""The tasks of a run as a graph: unique ``task_key``s, ``depends_on`` naming tasks of the same run, no
cycle. ``jobs.py`` starts a task once every task it depends on has succeeded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import invalid_parameter


def dependencies(task: Mapping[str, Any]) -> list[str]:
    """The task keys a task depends on (``depends_on: [{"task_key": ...}]``)."""
    return [str(edge.get("task_key")) for edge in task.get("depends_on") or [] if isinstance(edge, Mapping)]


def check(tasks: Sequence[Mapping[str, Any]]) -> None:
    """Refuse duplicate keys, a dependency on a task the run lacks, and a cycle."""
    keys: set[str] = set()
    for task in tasks:
        key = task.get("task_key")
        if len(tasks) > 1 and (not isinstance(key, str) or not key):
            raise invalid_parameter("Missing required field: tasks.task_key")
        if key in keys:
            raise invalid_parameter(f"Duplicate task_key {key!r}: task keys must be unique within a run.")
        keys.add(str(key))
    for task in tasks:
        depends_on = task.get("depends_on") or []
        if not isinstance(depends_on, list) or not all(isinstance(e, Mapping) for e in depends_on):
            raise invalid_parameter(
                f"Task {task.get('task_key')}: depends_on must be a list of {{task_key}}."
            )
        for needed in dependencies(task):
            if needed not in keys:
                raise invalid_parameter(
                    f"Task {task.get('task_key')} depends on {needed!r}, which is not a task of this run."
                )
    by_key = {str(task.get("task_key")): dependencies(task) for task in tasks}
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in done:
            return
        if key in visiting:
            raise invalid_parameter(f"The tasks' depends_on form a cycle through task {key!r}.")
        visiting.add(key)
        for needed in by_key[key]:
            visit(needed)
        visiting.discard(key)
        done.add(key)

    for key in by_key:
        visit(key)
