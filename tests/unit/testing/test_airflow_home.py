"""The session's Airflow home: what it sets in the environment, and that it puts everything back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_databricks_clusters.testing.airflow_home import SessionHome, session_environment


def test_the_home_is_its_own_with_the_dags_folder_and_nothing_of_the_machines(tmp_path: Path) -> None:
    env = session_environment(tmp_path / "home", tmp_path / "dags")

    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    for removed in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET",
        "AIRFLOW__SECRETS__BACKEND",
        "AIRFLOW__WORKERS__SECRETS_BACKEND",
    ):
        assert env[removed] is None, removed


def test_enter_sets_it_and_exit_puts_the_environment_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", "/users/own/airflow")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://prod/airflow")
    monkeypatch.delenv("AIRFLOW__CORE__LOAD_EXAMPLES", raising=False)
    home = SessionHome(tmp_path / "dags")

    home.enter()
    assert os.environ["AIRFLOW_HOME"] == str(home.path)
    assert home.path.is_dir()
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ
    home.exit()

    assert os.environ["AIRFLOW_HOME"] == "/users/own/airflow"
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql://prod/airflow"
    assert "AIRFLOW__CORE__LOAD_EXAMPLES" not in os.environ
    assert not home.path.exists()
