"""A pipeline whose create task a system test kills: the leak the cluster sweeper is for.

create_cluster (setup, retries=0, waiting in the worker) -> work -> terminate_cluster (teardown). The test
holds the cluster in PENDING (the emulator's ``stuck_pending`` for ``sweeper-kill-<params.name>``) and
SIGKILLs the task's process: no ``on_kill`` runs, the setup fails without a retry, the teardown is
upstream_failed, and the cluster is left running with nothing in Airflow to terminate it.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Param, task

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)

POLL_SECONDS = int(os.environ.get("DATABRICKS_CLUSTER_POLL_SECONDS", "30"))


@task
def work(cluster_id: str) -> str:
    return cluster_id


with DAG(
    dag_id="sweeper_kill_pipeline",
    schedule=None,
    catchup=False,
    default_args={"retries": 0},
    params={"name": Param("default", type="string", pattern=r"^[a-z0-9-]{1,40}$")},
    tags=["system-test"],
) as dag:
    create_cluster = DatabricksCreateClusterOperator(
        task_id="create_cluster",
        cluster_name="sweeper-kill-{{ params.name }}",
        spark_version="15.4.x-scala2.12",
        node_type_id="i3.xlarge",
        num_workers=1,
        autotermination_minutes=0,  # the leak this test is about runs forever
        # Waiting in the worker, not the triggerer: there is a task process to kill while it waits.
        deferrable=False,
        polling_interval=POLL_SECONDS,
        timeout=timedelta(minutes=30),
        retries=0,
    )
    terminate_cluster = DatabricksTerminateClusterOperator(
        task_id="terminate_cluster", cluster_id=create_cluster.output, polling_interval=POLL_SECONDS
    )
    create_cluster >> work(create_cluster.output) >> terminate_cluster.as_teardown(setups=create_cluster)
