"""A create task that fails before any cluster exists, run as a DAG: the failure is logged once, and
nothing else at error level (no ``XCom not found`` for the cluster link that has no cluster to show)."""

from __future__ import annotations

import re

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.lifecycle.pipelines import run_pipeline, states

pytestmark = pytest.mark.usefixtures("airflow_db")

#: A log line at error level as dag.test() prints it: ``... [error    ] Task failed with exception ...``.
ERROR_LINE = re.compile(r"\[error\s*\]\s*(?P<event>.*?)\s{2,}\[")


def error_lines(output: str) -> list[str]:
    return [match["event"] for match in ERROR_LINE.finditer(output)]


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_a_create_the_workspace_refuses_logs_the_failure_once(
    emulator: Emulator, capfd: pytest.CaptureFixture[str], deferrable: bool
) -> None:
    emulator.add_fault("status", path="clusters/create", status=400)
    dag_run = run_pipeline("create_refused", deferrable=deferrable)
    assert states(dag_run) == {"create_cluster": "failed", "terminate_cluster": "upstream_failed"}
    assert emulator.clusters == {}
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "XCom not found" not in output
    assert error_lines(output) == ["Task failed with exception"]
    assert output.count("HTTP 400 INVALID_PARAMETER_VALUE") == 1
