"""A user's DAG test under the package's pytest fixtures: the example pipeline's wall time against the
same DAG shape made of EmptyOperators, in the same process.

Measured
    What the ``dag_runner`` fixture does, in this process: a throw-away Airflow home with its metadata
    database (``airflow_databricks_clusters.testing``), an ``Emulator(fast_forward=True)`` as
    ``databricks_default`` (the ``databricks_workspace`` fixture's), and ``DagRunner.run`` (``dag.test()``,
    retry delays not waited) of:

    * pipeline: ``dags/databricks_spot_cluster_pipeline.py`` as it is, with its production polling
      (``DATABRICKS_CLUSTER_POLL_SECONDS`` unset: 30 s for the create's deferred wait, the terminate's wait
      and the provider's ``polling_period_seconds`` of both Spark runs): check_form -> create_cluster ->
      transform, aggregate (two one-time runs through the official provider) -> terminate_cluster.
    * empty: the same five tasks and dependencies (terminate a teardown of create) as EmptyOperators: what
      ``dag.test()`` itself costs for that shape.

    First, one run of each that is not counted but reported: the process's first ``dag.test()`` builds
    Airflow's in-process execution API (a one-off of every test session, fixtures or not), and the
    pipeline's first run imports the operators and the provider. Then ``--rounds`` rounds (default 5,
    ``--quick`` 1) taking turns; each figure is the median.

Figures
    pipeline s   wall seconds of one run of the example pipeline's test (the target: under 5 s)
    empty s      wall seconds of one run of the EmptyOperator DAG of the same shape
    first s      the first run of each, which pays the one-offs above

How to read it
    ``ratio pipeline/empty`` is what the Databricks side adds to a test beyond what Airflow spends running
    the same shape. Without fast-forward the same pipeline test waits the DAG's polling: about 30 s per
    wait, minutes in all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PIPELINE = "databricks_spot_cluster_pipeline"
EMPTY = "same_shape_empty"
EMPTY_DAG = f'''# An airflow DAG of EmptyOperators in the shape of {PIPELINE}.
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("{EMPTY}", schedule=None, catchup=False):
    check_form = EmptyOperator(task_id="check_form")
    create_cluster = EmptyOperator(task_id="create_cluster")
    transform = EmptyOperator(task_id="transform")
    aggregate = EmptyOperator(task_id="aggregate")
    terminate_cluster = EmptyOperator(task_id="terminate_cluster")
    check_form >> create_cluster
    create_cluster >> [transform, aggregate] >> terminate_cluster.as_teardown(setups=create_cluster)
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds

    from airflow_databricks_clusters.testing.airflow_home import SessionHome

    os.environ.pop("DATABRICKS_CLUSTER_POLL_SECONDS", None)  # the DAG's production polling
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    home = SessionHome(Path())
    home.dags_folder = home.path / "dags"  # inside the home, removed with it
    home.enter()  # before anything imports airflow
    try:
        home.dags_folder.mkdir()
        shutil.copy(REPO / "dags" / f"{PIPELINE}.py", home.dags_folder)
        (home.dags_folder / f"{EMPTY}.py").write_text(EMPTY_DAG)
        return measure(rounds, home.dags_folder)
    finally:
        home.exit()


def measure(rounds: int, dags_folder: Path) -> int:
    from airflow_databricks_clusters.emulator import Emulator
    from airflow_databricks_clusters.testing.airflow_home import create_database
    from airflow_databricks_clusters.testing.dag_runs import DagRunner

    create_database()
    walls: dict[str, list[float]] = {PIPELINE: [], EMPTY: []}
    first: dict[str, float] = {}
    with Emulator(fast_forward=True) as emu:
        os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = emu.connection_env()
        runner = DagRunner(dags_folder)
        for turn in range(rounds + 1):
            for dag_id in (EMPTY, PIPELINE):
                started = time.monotonic()
                result = runner.run(dag_id, retry_delay=timedelta(0))
                wall = time.monotonic() - started
                if result.state != "success":
                    print(f"{dag_id} ended {result.state}: {result.task_states} {result.errors}")
                    return 1
                if turn == 0:
                    first[dag_id] = wall
                else:
                    walls[dag_id].append(wall)
        live = [c for c in emu.clusters.values() if c["state"] != "TERMINATED"]
        if live:
            print(f"clusters left live: {live}")
            return 1
    pipeline, empty = statistics.median(walls[PIPELINE]), statistics.median(walls[EMPTY])
    print(f"rounds: {rounds} (medians), polling as in production (30 s)")
    print(f"first s      pipeline {first[PIPELINE]:.2f}  empty {first[EMPTY]:.2f}  (one-offs included)")
    print(f"pipeline s   {pipeline:.2f}  (target: under 5 s)")
    print(f"empty s      {empty:.2f}")
    print(f"ratio pipeline/empty = {pipeline / empty:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
