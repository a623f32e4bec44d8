"""A Databricks emulator as `databricks_default`, beside the AWS fixtures of tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_databricks_clusters.emulator import Emulator


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(start_seconds=0.3, terminate_seconds=0.1) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
        yield emulator
