"""Airflow finds the plugin through its provider entry point, with its trigger and extra link."""

from __future__ import annotations

import subprocess
import sys


def run_airflow(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, check=True
    ).stdout


def test_providers_list_shows_the_plugin() -> None:
    assert "airflow-databricks-clusters" in run_airflow("providers", "list", "--output", "plain")


def test_trigger_and_extra_link_are_registered() -> None:
    triggers = run_airflow("providers", "triggers", "--output", "plain")
    assert "airflow_databricks_clusters.triggers" in triggers
    links = run_airflow("providers", "links", "--output", "plain")
    assert "airflow_databricks_clusters.links.DatabricksClusterLink" in links
