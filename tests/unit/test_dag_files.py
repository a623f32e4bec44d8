"""Every example DAG in dags/ imports with no errors and no warnings."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

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


def test_the_json_file_dag_replaces_only_the_files_retired_runtime() -> None:
    """The source article's file names runtime 7.0, which a workspace refuses: the DAG's spec carries a
    runtime the workspace offers, and everything else as the file has it."""
    import json
    from types import SimpleNamespace

    from airflow.dag_processing.dagbag import DagBag

    from airflow_databricks_clusters.emulator.catalog import Catalog
    from airflow_databricks_clusters.emulator.validation import validate_create
    from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator

    dag = DagBag(dag_folder=str(DAGS)).dags["databricks_cluster_from_json"]
    create = dag.get_task("create_cluster")
    assert isinstance(create, DatabricksCreateClusterOperator)
    context: Any = {"ti": SimpleNamespace(map_index=-1), "run_id": "manual__1"}
    create.render_template_fields(context)
    spec = create.build_spec(context)

    seed = json.loads((DAGS / "clusters" / "dataengineeringe2e.json").read_text())
    assert seed["spark_version"] == "7.0.x-scala2.12"
    assert spec["spark_version"] in Catalog().spark_version_keys()
    assert "LTS" in dict(Catalog().spark_versions)[spec["spark_version"]]
    untouched = {"autoscale", "cluster_name", "spark_conf", "node_type_id", "ssh_public_keys",
                 "autotermination_minutes", "enable_elastic_disk", "init_scripts"}  # fmt: skip
    assert {name: spec[name] for name in untouched} == {name: seed[name] for name in untouched}
    assert spec["custom_tags"]["ResourceClass"] == "Serverless"
    # Of aws_attributes, only the instance profile's <AWS_Account_ID> placeholder is filled in.
    aws = dict(spec["aws_attributes"])
    assert aws.pop("instance_profile_arn").startswith("arn:aws:iam::123456789012:")
    assert aws == {k: v for k, v in seed["aws_attributes"].items() if k != "instance_profile_arn"}
    validate_create(spec, Catalog())  # and the workspace would take it
