"""The soak's DAGs: create -> work -> terminate (teardown), one per mode and retry count.

A run's conf names its cluster (so the emulator's scenarios can aim at it), its availability and whether
the work fails. Every task failure is appended, with its error, to the file ``$CHAOS_FAILURES`` names:
the soak reads it to check that a failed task names its real cause.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)

#: Seconds between two reads of a cluster (the soak's emulator runs 20x faster than real time).
POLL_SECONDS = 0.1


def record_failure(context: Any) -> None:
    ti = context["ti"]
    line = {"run_id": ti.run_id, "task_id": ti.task_id, "error": str(context.get("exception"))}
    with open(os.environ["CHAOS_FAILURES"], "a") as out:
        out.write(json.dumps(line) + "\n")


@task
def work(cluster_id: str, **context: Any) -> str:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    if context["dag_run"].conf.get("fail_work"):
        raise RuntimeError(f"the Spark job on {cluster_id} failed: java.lang.OutOfMemoryError")
    state = DatabricksClustersHook().get_cluster(cluster_id)["state"]
    if state != "RUNNING":
        raise AssertionError(f"work saw cluster {cluster_id} {state}")
    return cluster_id


def build(dag_id: str, *, deferrable: bool, retries: int) -> DAG:
    defaults = {
        "retries": retries,
        "retry_delay": timedelta(0),
        "on_failure_callback": record_failure,
    }
    with DAG(dag_id, schedule=None, start_date=None, catchup=False, default_args=defaults) as dag:
        create = DatabricksCreateClusterOperator(
            task_id="create_cluster",
            cluster_name="{{ dag_run.conf['cluster_name'] }}",
            spark_version="15.4.x-scala2.12",
            node_type_id="i3.xlarge",
            autoscale=[1, 2],
            availability="{{ dag_run.conf.get('availability', 'SPOT_WITH_FALLBACK') }}",
            first_on_demand=1,
            docker_image="123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest",
            init_scripts=["/Workspace/Shared/init/setup.sh"],
            autotermination_minutes=120,
            deferrable=deferrable,
            polling_interval=POLL_SECONDS,
            timeout=timedelta(minutes=5),
        )
        teardown = DatabricksTerminateClusterOperator(
            task_id="terminate_cluster",
            cluster_id=create.output,
            deferrable=deferrable,
            polling_interval=POLL_SECONDS,
        )
        create >> work(create.output) >> teardown.as_teardown(setups=create)
    return dag


def dag_file_text() -> str:
    """A DAG file that defines every soak DAG (dag.test() runs only DAGs found in a DAG bundle)."""
    lines = ["# The chaos soak's airflow DAGs (DagBag reads files that mention airflow and dag).",
             "from tests.chaos.dags import build"]  # fmt: skip
    for deferrable in (False, True):
        for retries in (0, 1):
            mode = "deferred" if deferrable else "sync"
            dag_id = f"chaos_{mode}_retries_{retries}"
            lines.append(f"{dag_id} = build({dag_id!r}, deferrable={deferrable}, retries={retries})")
    return "\n".join(lines) + "\n"
