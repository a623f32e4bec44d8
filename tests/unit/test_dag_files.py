"""Every example DAG in dags/ imports with no errors and no warnings."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_every_dag_file_imports_cleanly() -> None:
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert [f"{w.filename}:{w.lineno}: {w.message}" for w in caught] == []
    assert set(bag.dag_ids) == {
        "databricks_spot_cluster_pipeline",
        "databricks_cluster_from_json",
        "databricks_cluster_sweeper",
    }


@pytest.mark.parametrize("dag_id", ["databricks_spot_cluster_pipeline", "databricks_cluster_from_json"])
def test_terminate_is_a_teardown_of_create(dag_id: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags[dag_id]
    create, terminate = dag.get_task("create_cluster"), dag.get_task("terminate_cluster")
    assert terminate.is_teardown and create.is_setup
    assert create.task_id in terminate.upstream_task_ids


def test_the_sweeper_runs_every_15_minutes_one_run_at_a_time_with_a_dry_run_form() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["databricks_cluster_sweeper"]
    assert dag.schedule == timedelta(minutes=15)
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert dag.params["dry_run"] is False and dag.params["min_age_minutes"] == 30
    sweep = dag.get_task("sweep")
    rendered_from = (getattr(sweep, "sweep_dry_run", None), getattr(sweep, "min_age_minutes", None))
    assert rendered_from == ("{{ params.dry_run }}", "{{ params.min_age_minutes }}")
