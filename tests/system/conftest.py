"""A real Airflow (scheduler, triggerer, dag-processor, API server) on PostgreSQL, and the emulator.

One deployment serves every system test module here (starting one takes most of a minute): this folder's
tests run on one xdist worker (``tests/conftest.py``), and the deployment stops when that worker leaves the
folder, not at the end of the whole session. Its DAGs folder holds the example DAGs of ``dags/`` and the
test DAGs of ``tests/system/dags/``, linked, not copied, so a test reads the same files a user would.
``[operators] default_deferrable`` is on, as many deployments set it: every operator that can defer and is
not told otherwise waits in the triggerer, the official provider's ``DatabricksSubmitRunOperator`` included.

``celery/`` holds the same deployment with CeleryExecutor, its own fixtures in its own folder, so that its
tests run on a worker of their own beside these.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_databricks_clusters.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from local_airflow import COMPONENTS, REPO, AirflowDeployment

#: How long the scheduler lets a running task go without a heartbeat before failing it (a killed worker).
HEARTBEAT_TIMEOUT_SECONDS = 30


def dags_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="adc-system-dags-"))
    for source in (REPO / "dags", REPO / "tests" / "system" / "dags"):
        for entry in source.iterdir() if source.is_dir() else ():
            if entry.name != "__pycache__":
                (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="package")
def emulator() -> Iterator[Emulator]:
    with Emulator(start_seconds=3, terminate_seconds=1, run_seconds=2) as emu:
        yield emu


def system_env() -> dict[str, str]:
    """The settings every system-test deployment adds to ``AirflowDeployment``'s own."""
    return {
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_SECONDS),
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        "PYTHONPATH": str(REPO),
        # A failed Spark task is retried after 5 s, not the example's minute: the retry is what is tested.
        "DATABRICKS_RETRY_DELAY_SECONDS": "5",
        # The DAG files never change during a test: parsed once at start, not every 5 s (the CPU other
        # tests on the machine need).
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    }


def print_log_tails(deployment: AirflowDeployment, components: tuple[str, ...]) -> None:
    for component in components:
        print(f"\n===== {component} (last lines) =====\n{deployment.log_tail(component, 40)}")


@pytest.fixture(scope="package")
def airflow(emulator: Emulator) -> Iterator[AirflowDeployment]:
    folder = dags_folder()
    deployment = AirflowDeployment(emulator.connection_env(), dags_folder=folder, extra_env=system_env())
    deployment.start()
    try:
        yield deployment
    finally:
        print_log_tails(deployment, COMPONENTS)
        deployment.stop()
        shutil.rmtree(folder, ignore_errors=True)
