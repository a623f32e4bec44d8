"""The cluster JSON of `databricks clusters create --json-file`, used as it is by a DAG.

`clusters/dataengineeringe2e.json` is the source article's cluster file, unchanged. Named parameters
override the file field by field: its `<AWS_Account_ID>` placeholders and its runtime; everything else
(autoscale 1..2, spot with fallback, the serverless profile, custom tags) comes from the file. Triggered
by hand only.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import DAG

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)

# The run's date: the logical date of a scheduled run, the trigger time of a manual one without a
# logical date (Airflow 3 runs may have none, and then {{ ds }} is undefined).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
POLL_SECONDS = int(os.environ.get("DATABRICKS_CLUSTER_POLL_SECONDS", "30"))
AWS_ACCOUNT_ID = os.environ.get("AWS_ACCOUNT_ID", "123456789012")
# The file's runtime, 7.0 (2020), is long retired: a workspace no longer offers it and refuses a create
# with it (INVALID_PARAMETER_VALUE). A supported LTS replaces it; the job runs Python, so Scala 2.13 is fine.
SPARK_VERSION = "17.3.x-scala2.13"

with DAG(
    dag_id="databricks_cluster_from_json",
    description="A cluster from the seed's --json-file, used by one Spark run, then terminated",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["databricks", "example"],
) as dag:
    create_cluster = DatabricksCreateClusterOperator(
        task_id="create_cluster",
        # A path ending in .json is read (and rendered as a template) relative to this DAG's folder.
        cluster_json="clusters/dataengineeringe2e.json",
        spark_version=SPARK_VERSION,
        instance_profile_arn=f"arn:aws:iam::{AWS_ACCOUNT_ID}:instance-profile/dataengineeringe2e-role",
        docker_image=f"{AWS_ACCOUNT_ID}.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest",
        polling_interval=POLL_SECONDS,
    )

    report = DatabricksSubmitRunOperator(
        task_id="daily_report",
        run_name=f"daily report {RUN_DATE}",
        existing_cluster_id=create_cluster.output,
        spark_python_task={"python_file": "s3://dataengineeringe2e-artifacts/jobs/report.py"},
        polling_period_seconds=POLL_SECONDS,
    )

    terminate_cluster = DatabricksTerminateClusterOperator(
        task_id="terminate_cluster", cluster_id=create_cluster.output, polling_interval=POLL_SECONDS
    )

    create_cluster >> report >> terminate_cluster.as_teardown(setups=create_cluster)
