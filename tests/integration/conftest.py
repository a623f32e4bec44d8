"""Fixtures every integration test may use: an AWS API on loopback (moto's server), a migrated Airflow
metadata database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.aws_server import AwsServer


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata database in the session's throw-away AIRFLOW_HOME (for dag.test())."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsServer]:
    server = AwsServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws(aws_server: AwsServer, monkeypatch: pytest.MonkeyPatch) -> AwsServer:
    """A clean AWS account, wired in as the `aws_default` connection."""
    aws_server.reset()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_server.connection_env())
    return aws_server
