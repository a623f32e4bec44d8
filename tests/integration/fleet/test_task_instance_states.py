"""The Clusters page's task instance lookups against a real metadata database (the session's SQLite).

A real DAG run made by ``dag.test()`` (one task that succeeds, one that fails) is what the lookups read;
the same query runs on PostgreSQL in the system tests, where the page serves a real deployment.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.fleet.sweep_policy import Lookup, RunStatus, TaskInstanceRef

DAG_ID = "clusters_page_lookups"
DAG_FILE = f'''
from datetime import datetime
from airflow.sdk import DAG, task

with DAG("{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def ok():
        return 1

    @task
    def boom():
        raise RuntimeError("fails on purpose")

    ok()
    boom()
'''


@pytest.fixture(scope="module")
def dag_run(airflow_db: None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{DAG_ID}.py"
    path.write_text(textwrap.dedent(DAG_FILE))
    try:
        dag = DagBag(dag_folder=str(path)).get_dag(DAG_ID)
        assert dag is not None
        return dag.test()
    finally:
        path.unlink()


def test_lookups_read_each_task_instance_and_its_run(dag_run: Any) -> None:
    from airflow.utils.session import create_session

    from airflow_databricks_clusters.fleet.task_instances import read_lookups

    run_id = dag_run.run_id
    ok = TaskInstanceRef(DAG_ID, "ok", run_id, -1)
    boom = TaskInstanceRef(DAG_ID, "boom", run_id, -1)
    not_in_run = TaskInstanceRef(DAG_ID, "create_cluster", run_id, -1)
    mapped = TaskInstanceRef(DAG_ID, "ok", run_id, 0)
    run_gone = TaskInstanceRef(DAG_ID, "ok", "manual__deleted", -1)
    with create_session() as session:
        found = read_lookups([ok, boom, not_in_run, mapped, run_gone], session)
    assert found[ok] == Lookup.of_task("success", RunStatus.FINISHED)
    assert found[boom] == Lookup.of_task("failed", RunStatus.FINISHED)
    assert found[not_in_run] == Lookup.no_task()
    assert found[mapped] == Lookup.no_task()
    assert found[run_gone] == Lookup.run_gone()
    with create_session() as session:
        assert read_lookups([], session) == {}
