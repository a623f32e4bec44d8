"""A real Airflow (scheduler, triggerer, dag-processor, API server) on PostgreSQL, and the emulator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_databricks_clusters.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from local_airflow import AirflowDeployment


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(start_seconds=3, terminate_seconds=1, run_seconds=2) as emu:
        yield emu


@pytest.fixture(scope="module")
def airflow(emulator: Emulator) -> Iterator[AirflowDeployment]:
    deployment = AirflowDeployment(emulator.connection_env())
    deployment.start()
    try:
        yield deployment
    except BaseException:
        raise
    finally:
        for component in ("scheduler", "triggerer", "dag-processor", "api-server"):
            print(f"\n===== {component} (last lines) =====\n{deployment.log_tail(component, 40)}")
        deployment.stop()
