"""The test session's own Airflow home: a temporary folder with its own SQLite metadata database, the
user's DAGs folder, no example DAGs, and no database or secrets backend the machine's environment names.

Set in the environment before anything imports Airflow (Airflow reads its home once, at import), and put
back as it was when the session ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def session_environment(home: Path, dags_folder: Path) -> dict[str, str | None]:
    """The variables that make ``home`` the Airflow home, with ``dags_folder`` as its DAGs folder (None:
    the variable is removed)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Removed, so the home's own SQLite database is the one used: a database the machine's environment
        # names must never get a test's runs.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": None,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD": None,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET": None,
        # A secrets backend is asked for a connection before the environment is, so one configured on the
        # machine would answer `databricks_default` with a real workspace instead of the test's emulator.
        "AIRFLOW__SECRETS__BACKEND": None,
        "AIRFLOW__WORKERS__SECRETS_BACKEND": None,
    }


class SessionHome:
    """A temporary Airflow home, set in ``os.environ`` by ``enter`` and removed by ``exit``."""

    def __init__(self, dags_folder: Path) -> None:
        self.dags_folder = dags_folder
        self.path = Path(tempfile.mkdtemp(prefix="databricks-dag-tests-"))
        self._saved: dict[str, str | None] = {}

    def enter(self) -> None:
        for name, value in session_environment(self.path, self.dags_folder).items():
            self._saved[name] = os.environ.get(name)
            _set(name, value)

    def exit(self) -> None:
        for name, value in self._saved.items():
            _set(name, value)
        shutil.rmtree(self.path, ignore_errors=True)


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def create_database() -> None:
    """Create the metadata database of the Airflow home this process uses, at the newest schema.

    In this process, where the run's tasks need Airflow's models anyway: about a second, where a
    subprocess's ``airflow db migrate`` pays for importing Airflow again.
    """
    from airflow.utils.db import initdb

    initdb()
