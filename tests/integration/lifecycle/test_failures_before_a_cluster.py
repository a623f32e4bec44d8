"""A create task that fails before any cluster exists, run as a DAG: the failure is logged once, and
nothing else at error level (no ``XCom not found`` for the cluster link that has no cluster to show). A
workspace that cannot be reached fails the task within seconds, naming the connection and what to check."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.client.test_unreachable import WITHIN_SECONDS, closed_port
from tests.integration.lifecycle.pipelines import run_pipeline, states

pytestmark = pytest.mark.usefixtures("airflow_db")

#: A log line at error level as dag.test() prints it: ``... [error    ] Task failed with exception ...``.
ERROR_LINE = re.compile(r"\[error\s*\]\s*(?P<event>.*?)\s{2,}\[")


def error_lines(output: str) -> list[str]:
    return [match["event"] for match in ERROR_LINE.finditer(output)]


def logged_at(output: str, first: str, last: str) -> float:
    """Seconds between the log lines that start with ``first`` and ``last`` (after their level)."""

    def when(event: str) -> datetime:
        match = re.search(rf"^(\S+) \[\w+\s*\] {re.escape(event)}", output, re.MULTILINE)
        assert match, f"no log line {event!r}"
        return datetime.fromisoformat(match[1].replace("Z", "+00:00"))

    return (when(last) - when(first)).total_seconds()


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


def test_a_create_against_an_unreachable_workspace_fails_fast_naming_the_connection(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": port, "schema": "http", "password": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    dag_run = run_pipeline("unreachable", deferrable=False)
    assert states(dag_run) == {"create_cluster": "failed", "terminate_cluster": "upstream_failed"}
    captured = capfd.readouterr()
    output = captured.out + captured.err
    # From the operator's first line to the failure: the task's own time, not dag.test()'s start-up.
    assert logged_at(output, "Cluster spec: ", "Task failed with exception") < WITHIN_SECONDS
    assert (
        "WorkspaceUnreachable: Cannot reach the Databricks workspace of connection databricks_default at "
        f"127.0.0.1:{port}: the connection was refused"
    ) in output
    assert "Check the connection's host, port and schema" in output
    assert "XCom not found" not in output
    assert error_lines(output) == ["Task failed with exception"]
