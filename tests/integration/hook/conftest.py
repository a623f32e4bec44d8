"""A fresh emulator as `databricks_default`, and a hook whose retry waits are recorded, not slept."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.retry import RetryPolicy

SPEC = {
    "cluster_name": "hook",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 1,
}


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(start_seconds=0.3, terminate_seconds=0.1) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
        yield emulator


class RecordingSleep:
    """Records the waits the policy asks for and sleeps a hundredth of them (the emulator keeps time)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds / 100)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def hook(emu: Emulator, sleeps: RecordingSleep) -> DatabricksClustersHook:
    return DatabricksClustersHook(
        timeout_seconds=2, retry_policy=RetryPolicy(deadline_seconds=60, base_delay=0.05), sleep=sleeps
    )


@pytest.fixture
def service_principal(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An OAuth service principal ``sp`` of the emulator as `databricks_default`; returns the connection."""
    emu.add_oauth_client("sp", "sp-secret")
    conn = {"conn_type": "databricks", "host": emu.host, "port": emu.port, "schema": "http", "login": "sp",
            "password": "sp-secret", "extra": {"service_principal_oauth": True}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    return conn
