"""Fixtures that join the plugin and the emulator: a live emulator and a migrated Airflow database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.clock import EmulatedClock


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata database in the session's throw-away AIRFLOW_HOME (for dag.test())."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


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
