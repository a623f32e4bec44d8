"""Fixtures that join the plugin and the emulator: a live emulator (the migrated Airflow database is
``tests/integration/conftest.py``'s ``airflow_db``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.clock import EmulatedClock


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A fresh emulated workspace, wired in as the `databricks_default` connection, in real time (a
    dag.test() run waits in real time)."""
    with Emulator(start_seconds=1.0, terminate_seconds=0.3) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        yield emu


@pytest.fixture
def manual_clock(emulator: Emulator) -> EmulatedClock:
    """Stop the emulator's clock: nothing changes until the test calls ``emulator.advance``. For a test
    that asserts a state holds (a cluster still PENDING), never for one whose operators wait."""
    emulator.clock.time_scale = 0
    return emulator.clock
