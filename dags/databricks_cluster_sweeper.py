"""Maintenance: every 15 minutes, terminate the Databricks clusters no task will terminate any more.

A create task that dies with no retry left (a SIGKILLed worker with retries=0) fails without running its
teardown, and a deleted DAG run takes its teardown with it: their clusters would run until their
autotermination, or forever. `DatabricksClusterSweeperOperator` finds them by the task instance tags every
cluster of `DatabricksCreateClusterOperator` carries, and terminates those whose task instance has ended
(or whose run is gone). Never a cluster without those tags, another user's, or one whose task may still
use it. Its report (which clusters it terminated, kept and ignored, and why) is the task's XCom.

Triggered by hand, the form asks for a dry run (report only) and the age floor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_databricks_clusters.sweeper import DatabricksClusterSweeperOperator

with DAG(
    dag_id="databricks_cluster_sweeper",
    description="Terminate leaked Databricks clusters of failed or deleted task instances",
    schedule=timedelta(minutes=15),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Two sweeps at once would judge the same clusters twice.
    max_active_runs=1,
    # The form's number and boolean reach the operator as a number and a boolean.
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["databricks", "maintenance", "example"],
    params={
        "dry_run": Param(False, type="boolean", description="Only report what would be terminated."),
        "min_age_minutes": Param(
            30,
            type="integer",
            minimum=0,
            description="Keep clusters younger than this (minutes), whatever their task says.",
        ),
    },
) as dag:
    DatabricksClusterSweeperOperator(
        task_id="sweep",
        dry_run="{{ params.dry_run }}",
        min_age_minutes="{{ params.min_age_minutes }}",
    )
