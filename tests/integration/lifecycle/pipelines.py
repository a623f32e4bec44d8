"""DAGs the lifecycle tests run: create -> (downstream) -> terminate as teardown.

dag.test() in Airflow 3.3 runs only DAGs found in a DAG bundle, so each test writes a two-line DAG file
into the DAGs folder that calls ``build`` here, and runs the DAG loaded from it.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, task

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)
from airflow_databricks_clusters.sensors import DatabricksClusterSensor

if TYPE_CHECKING:
    from airflow_databricks_clusters.emulator import Emulator

CLUSTER: dict[str, Any] = {
    "cluster_name": "lifecycle-test",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "autoscale": [1, 2],
    "availability": "SPOT_WITH_FALLBACK",
    "first_on_demand": 1,
    "docker_image": "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest",
}


@task
def check_running(cluster_id: str) -> str:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    state = DatabricksClustersHook().get_cluster(cluster_id)["state"]
    if state != "RUNNING":
        raise AssertionError(f"downstream saw cluster {cluster_id} {state}")
    return cluster_id


@task
def fail_downstream(cluster_id: str) -> None:
    raise RuntimeError(f"the Spark job on {cluster_id} failed")


def submit_run(cluster_id: Any) -> Any:
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

    return DatabricksSubmitRunOperator(
        task_id="spark_job",
        existing_cluster_id=cluster_id,
        spark_python_task={"python_file": "dbfs:/jobs/etl.py", "parameters": ["--date", "{{ ds }}"]},
        polling_period_seconds=1,
    )


DOWNSTREAM = {"check_running": check_running, "fail_downstream": fail_downstream, "submit_run": submit_run}


def build(
    dag_id: str,
    *,
    deferrable: bool,
    downstream: str | None = None,
    create: dict[str, Any] | None = None,
    sensor: dict[str, Any] | None = None,
    terminate: dict[str, Any] | None = None,
) -> DAG:
    with DAG(dag_id, schedule=None, start_date=None, catchup=False) as dag:
        create_cluster = DatabricksCreateClusterOperator(
            task_id="create_cluster",
            deferrable=deferrable,
            polling_interval=0.2,
            **{**CLUSTER, **(create or {})},
        )
        if sensor is not None:
            # The sensor does the waiting: create returns at once, the sensor waits for RUNNING.
            create_cluster.wait_for_running = False
            wait = DatabricksClusterSensor(
                task_id="wait_for_cluster", cluster_id=create_cluster.output, poke_interval=0.2, **sensor
            )
        teardown = DatabricksTerminateClusterOperator(
            task_id="terminate_cluster",
            cluster_id=create_cluster.output,
            deferrable=deferrable,
            polling_interval=0.2,
            **(terminate or {}),
        )
        first = create_cluster
        if sensor is not None:
            create_cluster >> wait
            first = wait
        if downstream:
            work = DOWNSTREAM[downstream](create_cluster.output)
            first >> work >> teardown.as_teardown(setups=create_cluster)
        else:
            first >> teardown.as_teardown(setups=create_cluster)
    return dag


def write_dag_file(dag_id: str, **kwargs: Any) -> Path:
    """A DAG file in the DAGs folder that builds ``dag_id`` with ``kwargs`` (JSON-able)."""
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dag_id}.py"
    path.write_text(
        "# An airflow DAG file written by a test (DagBag reads files that mention airflow and dag).\n"
        "import json\n"
        "from tests.integration.lifecycle.pipelines import build\n"
        f"dag = build({dag_id!r}, **json.loads({json.dumps(kwargs)!r}))\n"
    )
    return path


_dag_numbers = itertools.count()


def dag_id_for(name: str) -> str:
    # dag.test() keeps its runs in the session's database: a fresh id per test keeps them apart.
    return f"{name}_{next(_dag_numbers)}"


def run_pipeline(
    name: str,
    *,
    deferrable: bool,
    downstream: str | None = None,
    create: dict[str, Any] | None = None,
    sensor: dict[str, Any] | None = None,
    terminate: dict[str, Any] | None = None,
    run_after: datetime | None = None,
    dag_id: str | None = None,
) -> Any:
    """Run create -> downstream -> terminate (teardown) with dag.test(); return the DagRun.

    With ``run_after`` the run id is known in advance: ``manual__<run_after>``.
    """
    from airflow.dag_processing.dagbag import DagBag

    dag_id = dag_id or dag_id_for(name)
    path = write_dag_file(
        dag_id,
        deferrable=deferrable,
        downstream=downstream,
        create=create,
        sensor=sensor,
        terminate=terminate,
    )
    try:
        dag = DagBag(dag_folder=str(path)).get_dag(dag_id)
        assert dag is not None
        if run_after is None:
            return dag.test()
        return dag.test(run_after=run_after, logical_date=run_after)
    finally:
        path.unlink()


def cluster_of_an_earlier_try(dag_id: str, run_after: datetime, *, terminated: bool, **fields: Any) -> str:
    """A cluster that an earlier try of ``create_cluster`` made, tags and all, and then lost track of.

    As a worker that died right after its create call leaves it (``terminated=False``), or as a failed
    try's cleanup leaves it (``terminated=True``). ``fields`` override the test cluster's.
    """
    from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec, task_instance_tags
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    tags = task_instance_tags(dag_id, "create_cluster", f"manual__{run_after.isoformat()}", -1)
    hook = DatabricksClustersHook()
    cluster_id = hook.create_cluster(build_cluster_spec(**{**CLUSTER, **fields}, tags=tags))
    if terminated:
        hook.terminate_cluster(cluster_id)
        deadline = time.monotonic() + 120  # a bound for a loaded machine, not an expectation
        while hook.get_cluster(cluster_id)["state"] != "TERMINATED":
            assert time.monotonic() < deadline, "the earlier try's cluster did not terminate"
            time.sleep(0.05)
    return cluster_id


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def only_cluster(emu: Emulator) -> dict[str, Any]:
    clusters = list(emu.clusters.values())
    assert len(clusters) == 1, clusters
    return clusters[0]


def xcom(dag_run: Any, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


#: How the tag lookup after a lost create answer fails, in ``lost_create_then_unreadable_lookup``.
UNREADABLE_LOOKUPS = ("400", "html", "empty object")


def lost_create_then_unreadable_lookup(emu: Emulator, lookup: str) -> None:
    """Issue 9's repros 1 and 3: the create is made and answered 502; the tag lookup after it answers
    ``lookup`` (a 400, an HTML page or ``{}``). That lookup is the second clusters/list call: the first
    looks for an earlier try's cluster before creating."""
    emu.add_fault("malformed", path="clusters/create", status=502, body="<html>502</html>", times=1)
    if lookup == "400":
        emu.add_fault("status", path="clusters/list", status=400, nth=2)
    else:
        body = "{}" if lookup == "empty object" else "<html>upstream hiccup</html>"
        emu.add_fault("malformed", path="clusters/list", body=body, nth=2)
