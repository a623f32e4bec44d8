"""A fresh emulator as `databricks_default`, and a hook whose retry waits are recorded, not slept.

The emulator runs in real time; a test that asserts a state holds takes ``manual_clock`` as well, which
stops its clock so that only ``emu.advance`` moves it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.client.retry import RetryPolicy
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.clock import EmulatedClock
from airflow_databricks_clusters.hooks import DatabricksClustersHook

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


@pytest.fixture
def manual_clock(emu: Emulator) -> EmulatedClock:
    """Stop the emulator's clock: nothing changes until the test calls ``emu.advance``."""
    emu.clock.time_scale = 0
    return emu.clock


def advance_until(
    hook: DatabricksClustersHook, emu: Emulator, cluster_id: str, state: str, within: float = 60.0
) -> dict[str, Any]:
    """Advance emulated time in 0.05 s steps until the cluster is in ``state`` (at most ``within``
    emulated seconds); no real waiting."""
    waited = 0.0
    while (cluster := hook.get_cluster(cluster_id))["state"] != state:
        assert waited < within, f"still {cluster['state']} after {within} emulated seconds"
        emu.advance(0.05)
        waited += 0.05
    return cluster


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
    # A generous answer timeout: on a loaded machine a create must not time out into an unknown outcome.
    return DatabricksClustersHook(
        timeout_seconds=30, retry_policy=RetryPolicy(deadline_seconds=60, base_delay=0.05), sleep=sleeps
    )


@pytest.fixture
def service_principal(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An OAuth service principal ``sp`` of the emulator as `databricks_default`; returns the connection."""
    emu.add_oauth_client("sp", "sp-secret")
    conn = {"conn_type": "databricks", "host": emu.host, "port": emu.port, "schema": "http", "login": "sp",
            "password": "sp-secret", "extra": {"service_principal_oauth": True}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    return conn
