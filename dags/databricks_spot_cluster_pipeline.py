"""A daily pipeline on its own spot-backed Databricks cluster that runs the team's Docker image.

create_cluster (setup) -> transform, aggregate (one-time Spark runs on that cluster) -> terminate_cluster
(teardown). The cluster is the one of the source article: autoscale 1..2 r4.xlarge workers on spot with
on-demand fallback (driver on demand), the team's ECR image, cluster logs to S3 and an init script.
Triggered by hand, the form's parameters (workers, spot bid, image tag, node type) reach the cluster spec.

Polling intervals come from DATABRICKS_CLUSTER_POLL_SECONDS (default 30 s, the demo uses 1 s against
the emulator); the connection is `databricks_default`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import DAG, Param

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)

# The run's date: the logical date of a scheduled run, the trigger time of a manual one without a
# logical date (Airflow 3 runs may have none, and then {{ ds }} is undefined).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
RUN_DATE_NODASH = "{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}"
POLL_SECONDS = int(os.environ.get("DATABRICKS_CLUSTER_POLL_SECONDS", "30"))
AWS_ACCOUNT_ID = os.environ.get("AWS_ACCOUNT_ID", "123456789012")
IMAGE_REPOSITORY = f"{AWS_ACCOUNT_ID}.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e"

with DAG(
    dag_id="databricks_spot_cluster_pipeline",
    description="Daily Spark pipeline on its own spot Databricks cluster, terminated whatever happens",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Numbers from the trigger form stay numbers in the rendered cluster spec.
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["databricks", "spot", "example"],
    params={
        "min_workers": Param(1, type="integer", minimum=1, maximum=20, description="Fewest workers."),
        "max_workers": Param(
            2, type="integer", minimum=1, maximum=50, description="Most workers (at least min_workers)."
        ),
        "spot_bid_price_percent": Param(
            80,
            type="integer",
            minimum=1,
            maximum=100,
            description="Max spot price as a percentage of the on-demand price.",
        ),
        "image_tag": Param(
            "latest",
            type="string",
            pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
            description=f"Tag of {IMAGE_REPOSITORY} the cluster runs.",
        ),
        "node_type_id": Param(
            "r4.xlarge",
            type="string",
            enum=["r4.xlarge", "r5d.xlarge", "i3.xlarge", "m5d.xlarge"],
            description="EC2 instance type of the driver and the workers.",
        ),
    },
) as dag:
    create_cluster = DatabricksCreateClusterOperator(
        task_id="create_cluster",
        cluster_name=f"dataengineeringe2e-{RUN_DATE_NODASH}",
        spark_version="15.4.x-scala2.12",
        node_type_id="{{ params.node_type_id }}",
        autoscale={"min_workers": "{{ params.min_workers }}", "max_workers": "{{ params.max_workers }}"},
        availability="SPOT_WITH_FALLBACK",
        first_on_demand=1,
        spot_bid_price_percent="{{ params.spot_bid_price_percent }}",
        zone_id="ap-southeast-1c",
        instance_profile_arn=f"arn:aws:iam::{AWS_ACCOUNT_ID}:instance-profile/dataengineeringe2e-role",
        ebs_volume_type="GENERAL_PURPOSE_SSD",
        ebs_volume_count=1,
        ebs_volume_size=100,
        docker_image=IMAGE_REPOSITORY + ":{{ params.image_tag }}",
        spark_conf={"spark.databricks.repl.allowedLanguages": "sql,python,r"},
        spark_env_vars={"PIPELINE_DATE": RUN_DATE},
        cluster_log_conf="s3://dataengineeringe2e-logs/clusters",
        init_scripts=["s3://dataengineeringe2e-artifacts/init/install-drivers.sh"],
        autotermination_minutes=120,
        enable_elastic_disk=True,
        deferrable=True,
        polling_interval=POLL_SECONDS,
        timeout=timedelta(minutes=30),
    )

    transform = DatabricksSubmitRunOperator(
        task_id="transform",
        run_name=f"transform {RUN_DATE}",
        existing_cluster_id=create_cluster.output,
        spark_python_task={
            "python_file": "s3://dataengineeringe2e-artifacts/jobs/transform.py",
            "parameters": ["--date", RUN_DATE],
        },
        polling_period_seconds=POLL_SECONDS,
    )

    aggregate = DatabricksSubmitRunOperator(
        task_id="aggregate",
        run_name=f"aggregate {RUN_DATE}",
        existing_cluster_id=create_cluster.output,
        spark_jar_task={"main_class_name": "com.example.pipeline.Aggregate", "parameters": [RUN_DATE]},
        libraries=[{"jar": "s3://dataengineeringe2e-artifacts/jars/pipeline.jar"}],
        polling_period_seconds=POLL_SECONDS,
    )

    terminate_cluster = DatabricksTerminateClusterOperator(
        task_id="terminate_cluster",
        cluster_id=create_cluster.output,
        polling_interval=POLL_SECONDS,
    )

    create_cluster >> [transform, aggregate] >> terminate_cluster.as_teardown(setups=create_cluster)
