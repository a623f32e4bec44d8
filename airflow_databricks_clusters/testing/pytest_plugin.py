"""The pytest plugin for testing your own DAGs against the emulator (the ``pytest11`` entry point
``databricks_clusters``): installing the package is all it takes, no conftest.

Fixtures:

- ``databricks_workspace``: an ``Emulator`` started for the test, fast-forwarding (a cluster or run is
  already where it is going at its first read, so nothing polls in real seconds), with the
  ``databricks_default`` connection (and any other id the marker names) pointed at it for the test alone.
- ``dag_runner``: ``dag_runner(dag_id, conf=None, logical_date=None)`` runs a DAG of the DAGs folder to the
  end with ``dag.test()`` against that workspace and returns a ``DagRunResult`` (``state``,
  ``task_states``, ``try_numbers``, ``errors``, ``xcom()``). A failed try is retried at once: the retry
  delay is not waited for.

Ini options: ``databricks_dags_folder`` (default ``dags``, relative to the rootdir). Marker:
``@pytest.mark.databricks_workspace(conn_ids=[...], **emulator_options)`` names more connection ids and
passes options to the ``Emulator`` (``start_seconds``, ``time_scale``, ``fast_forward``, ...).

The session gets its own Airflow home before anything imports Airflow (``airflow_home.py``): a temporary
folder with a SQLite metadata database migrated once, the DAGs folder, no example DAGs, no secrets backend.
Airflow itself is imported only when a fixture runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_databricks_clusters.testing.airflow_home import SessionHome, create_database

if TYPE_CHECKING:
    from airflow_databricks_clusters.emulator.server import Emulator
    from airflow_databricks_clusters.testing.dag_runs import DagRunResult

DAGS_FOLDER_INI = "databricks_dags_folder"
MARKER = "databricks_workspace"
DEFAULT_CONN_ID = "databricks_default"

_home_key = pytest.StashKey[SessionHome]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        DAGS_FOLDER_INI,
        "The DAGs folder dag_runner runs DAGs from (relative to the rootdir).",
        default="dags",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before any conftest or test module is imported: Airflow reads its home once, at import.
    folder = Path(early_config.getini(DAGS_FOLDER_INI))
    home = SessionHome(folder if folder.is_absolute() else early_config.rootpath / folder)
    home.enter()
    early_config.stash[_home_key] = home


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(conn_ids=[...], **options): more connection ids pointed at the test's emulated "
        "workspace, and Emulator options (start_seconds, time_scale, fast_forward, ...)",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_home_key, None)
    if home is not None:
        home.exit()


@pytest.fixture
def databricks_workspace(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """An emulated Databricks workspace for this test (``airflow_databricks_clusters.emulator.Emulator``),
    fast-forwarding, with ``databricks_default`` and the marker's ``conn_ids`` pointed at it."""
    from airflow_databricks_clusters.emulator import Emulator

    marker = request.node.get_closest_marker(MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    conn_ids = [DEFAULT_CONN_ID, *options.pop("conn_ids", ())]
    options.setdefault("fast_forward", True)
    with Emulator(**options) as workspace:
        for conn_id in conn_ids:
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", workspace.connection_env())
        yield workspace


@pytest.fixture(scope="session")
def _databricks_airflow_db() -> Path:
    """The session's metadata database, created once; the DAGs folder it runs from."""
    from airflow.configuration import AIRFLOW_HOME

    if os.path.realpath(AIRFLOW_HOME) != os.path.realpath(os.environ["AIRFLOW_HOME"]):
        raise pytest.UsageError(
            f"Airflow read its home ({AIRFLOW_HOME}) before the test session set its own "
            f"({os.environ['AIRFLOW_HOME']}): something imported airflow before pytest loaded its conftests."
        )
    create_database()
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture
def dag_runner(_databricks_airflow_db: Path, databricks_workspace: Emulator) -> Callable[..., DagRunResult]:
    """``dag_runner(dag_id, conf=None, logical_date=None)``: run a DAG of the DAGs folder to the end against
    ``databricks_workspace``; returns its ``DagRunResult``. Retries are not delayed."""
    from airflow_databricks_clusters.testing.dag_runs import DagRunner

    runner = DagRunner(_databricks_airflow_db)

    def run(
        dag_id: str, conf: dict[str, Any] | None = None, logical_date: datetime | None = None
    ) -> DagRunResult:
        return runner.run(dag_id, conf=conf, logical_date=logical_date, retry_delay=timedelta(0))

    return run
