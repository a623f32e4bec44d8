"""How many Task SDK calls a sweep makes to read a fleet's task instances (``sweeper.read_task_instances``).

The reader is a table standing in for the Task SDK's ``RuntimeTaskInstance``: what is measured here is the
number and size of the calls, not Airflow (``tests/integration/lifecycle/test_sweeper.py`` runs the sweep
in a real DAG run).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_databricks_clusters.fleet.sweep_policy import Lookup, RunStatus, TaskInstanceRef
from airflow_databricks_clusters.sweeper import RUNS_PER_CALL, _matching, read_task_instances


class Table:
    """Task instance states by (run id) of one DAG, and which runs are still running; calls recorded."""

    def __init__(self, states: dict[str, str], active: set[str]) -> None:
        self.states, self.active = states, active
        self.calls: list[tuple[str, int]] = []

    def get_task_states(self, dag_id: str, map_index: int | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("get_task_states", len(kw["run_ids"])))
        return {run: {"create": self.states[run]} for run in kw["run_ids"] if run in self.states}

    def get_dr_count(self, dag_id: str, run_ids: list[str], states: list[str] | None = None) -> int:
        self.calls.append(("get_dr_count", len(run_ids)))
        known = self.active if states else set(self.states)
        return sum(run in known for run in run_ids)


def test_a_thousand_clusters_task_instances_are_read_in_batches() -> None:
    runs = [f"run_{n:04d}" for n in range(1000)]
    states = {run: "success" for run in runs[:990]}  # ten runs are gone
    active = {runs[n] for n in (3, 400, 401, 977)}  # four still run; the rest have finished
    table = Table(states, active)
    refs = [TaskInstanceRef("etl", "create", run, -1) for run in runs]

    found = read_task_instances(table, refs, logging.getLogger("test"))

    assert found[refs[3]] == Lookup.of_task("success", RunStatus.ACTIVE)
    assert found[refs[5]] == Lookup.of_task("success", RunStatus.FINISHED)
    assert found[refs[995]] == Lookup.run_gone()
    assert all(size <= RUNS_PER_CALL for _, size in table.calls)
    assert sum(1 for name, _ in table.calls if name == "get_task_states") == 10
    # Four active runs among 990 and ten gone ones: split in halves, not asked one by one.
    assert len(table.calls) < 100


def test_a_task_instance_missing_from_a_run_that_has_others_is_not_in_a_gone_run() -> None:
    # A mapped create task: map index 0 has a state, map index 1 is not expanded yet; the run exists.
    class OneMapIndex(Table):
        def get_task_states(self, dag_id: str, map_index: int | None = None, **kw: Any) -> dict[str, Any]:
            self.calls.append(("get_task_states", len(kw["run_ids"])))
            return {run: {"create_0": "running"} for run in kw["run_ids"]} if map_index == 0 else {}

    refs = [TaskInstanceRef("etl", "create", "run_1", 0), TaskInstanceRef("etl", "create", "run_1", 1)]
    found = read_task_instances(OneMapIndex({"run_1": "running"}, set()), refs, logging.getLogger("test"))
    assert found[refs[0]] == Lookup.of_task("running")
    assert found[refs[1]] == Lookup.no_task()


def test_a_count_that_says_all_or_none_settles_its_batch_in_one_call() -> None:
    ids = [f"r{n}" for n in range(250)]
    calls: list[int] = []

    def count(asked: list[str], matching: set[str]) -> int:
        calls.append(len(asked))
        return sum(run in matching for run in asked)

    assert _matching(lambda asked: count(asked, set(ids)), ids) == set(ids)
    assert calls == [50, 100, 100]
    calls.clear()
    assert _matching(lambda asked: count(asked, set()), ids) == set()
    assert len(calls) == 3
    calls.clear()
    assert _matching(lambda asked: count(asked, {"r7"}), ids) == {"r7"}
    assert len(calls) <= 3 + 2 * 7  # its batch halved down to one run
    assert _matching(lambda asked: count(asked, set()), []) == set()
