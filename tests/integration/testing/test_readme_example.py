"""The README's DAG test runs as a user runs it: its files, as written, in a project of their own, in a
fresh pytest process with no conftest and no Airflow settings in its environment; the package's pytest
plugin (its ``pytest11`` entry point) is all that joins them."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.integration.testing.readme_example import write_project


def test_the_readme_example_passes_as_written(tmp_path: Path) -> None:
    assert write_project(tmp_path) == ["dags/nightly_spot.py", "tests/test_nightly_spot.py"]
    # A user's shell: none of this session's Airflow or pytest settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    report = tmp_path / "report.xml"

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a bound for a loaded machine, not an expectation
    )

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    cases = {case.get("name"): list(case) for case in ET.parse(report).getroot().iter("testcase")}
    assert sorted(cases) == [
        "test_a_cluster_is_pending_until_the_clock_moves",
        "test_a_federated_connection_needs_no_databricks_secret",
        "test_a_library_that_does_not_install_fails_the_run_and_leaks_nothing",
        "test_a_shortage_moves_on_to_the_next_node_type_in_the_same_try",
        "test_an_image_that_cannot_be_pulled_fails_the_run",
        "test_no_capacity_at_all_fails_the_run_and_names_the_reason",
        "test_the_pipeline_runs_on_its_own_spot_cluster_and_terminates_it",
    ]
    assert all(outcome == [] for outcome in cases.values()), cases  # no failure, error or skip
