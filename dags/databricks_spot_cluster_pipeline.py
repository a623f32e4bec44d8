"""A daily pipeline on its own spot-backed Databricks cluster that runs the team's Docker image.

check_form -> create_cluster (setup) -> transform, aggregate (one-time Spark runs on that cluster) ->
terminate_cluster (teardown). The cluster is the one of the source article: autoscale 1..2 r4.xlarge
workers on spot with on-demand fallback (driver on demand), the team's ECR image, cluster logs to S3 and an
init script.
Triggered by hand, the form's parameters (workers, spot bid, image tag, node type) reach the cluster spec.
Each field's description states its rule; a value that breaks one fails the run at once, before any API
call and without retries (check_form: the form's own limits; create_cluster: the Clusters API's rules),
with one line naming the field, the value and what is allowed.

Polling intervals come from DATABRICKS_CLUSTER_POLL_SECONDS (default 30 s, the demo uses 1 s against
the emulator), the delay before a failed task's retry from DATABRICKS_RETRY_DELAY_SECONDS (default 60 s);
the connection is `databricks_default`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

# The run's date: the logical date of a scheduled run, the trigger time of a manual one without a
# logical date (Airflow 3 runs may have none, and then {{ ds }} is undefined).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
RUN_DATE_NODASH = "{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}"
POLL_SECONDS = int(os.environ.get("DATABRICKS_CLUSTER_POLL_SECONDS", "30"))
RETRY_DELAY_SECONDS = int(os.environ.get("DATABRICKS_RETRY_DELAY_SECONDS", "60"))
AWS_ACCOUNT_ID = os.environ.get("AWS_ACCOUNT_ID", "123456789012")
IMAGE_REPOSITORY = f"{AWS_ACCOUNT_ID}.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e"

# The form's own limits: a guard on what a hand-triggered run may cost, beyond the rules of the Clusters
# API and Docker, which create_cluster checks itself (max_workers greater than min_workers, the image
# tag's characters). Not given to the Params as minimum/maximum: the trigger form would silently clamp an
# out-of-range number to them. (field: lowest, highest, the rule in words as the form and errors say it)
FORM_LIMITS: dict[str, tuple[int, int, str]] = {
    "min_workers": (1, 20, "1 to 20"),
    "max_workers": (1, 50, "greater than min_workers, up to 50"),
    "spot_bid_price_percent": (1, 100, "1 to 100 (% of the on-demand price)"),
}


def check_form_limits(context: Context) -> None:
    """Fail, without retries, when a number of the trigger form is outside FORM_LIMITS, with one line
    naming each such field (logged at ERROR too). A task of its own before create_cluster, not a hook of
    it: a hook would run again when create_cluster resumes from its deferral, and fail it around the
    operator's own cleanup, leaving the cluster it made running."""
    from airflow_databricks_clusters.cluster_spec.validation import problem, problems_line

    problems = []
    for name, (low, high, rule) in FORM_LIMITS.items():
        value = context["params"].get(name)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (is_number and low <= value <= high):
            problems.append(problem(name, value, rule))
    if problems:
        line = problems_line("Trigger form value out of range", problems)
        context["task"].log.error("%s", line)
        raise AirflowFailException(line)


with DAG(
    dag_id="databricks_spot_cluster_pipeline",
    description="Daily Spark pipeline on its own spot Databricks cluster, terminated whatever happens",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Numbers from the trigger form stay numbers in the rendered cluster spec.
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=RETRY_DELAY_SECONDS)},
    tags=["databricks", "spot", "example"],
    params={
        "min_workers": Param(1, type="integer", description="Fewest workers: 1 to 20."),
        "max_workers": Param(
            2, type="integer", description="Most workers: greater than min_workers, up to 50."
        ),
        "spot_bid_price_percent": Param(
            80,
            type="integer",
            description="Highest spot price to pay, 1 to 100 (% of the on-demand price).",
        ),
        "image_tag": Param(
            "latest",
            type="string",
            description=f"Tag of {IMAGE_REPOSITORY} the cluster runs: 1 to 128 letters (A-Z, a-z), "
            "digits, _ . or -, not starting with . or -.",
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

    # Retries as every task: a bad form fails with AirflowFailException, which no retry repeats, while a try
    # lost to the machine (a worker killed, a missed heartbeat) deserves its retry.
    @task(task_id="check_form")
    def check_form(**context: Any) -> None:
        check_form_limits(context)

    check_form() >> create_cluster
    create_cluster >> [transform, aggregate] >> terminate_cluster.as_teardown(setups=create_cluster)
