"""Fixtures every integration test may use: an AWS API on loopback (moto's server), a migrated Airflow
metadata database; and for every test, a process with no minted token cached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.aws_server import AwsServer


@pytest.fixture(scope="session")
def airflow_db(_databricks_airflow_db: object) -> None:
    """The SQLite metadata database of the session's throw-away AIRFLOW_HOME (for dag.test()): the
    package's pytest plugin creates it, as it does for a user's DAG tests."""


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    """Each test starts with no minted token in the process: an emulator that gets the port of an earlier
    test's must not be sent that test's token first."""
    from airflow_databricks_clusters.hooks import TOKENS

    TOKENS.clear()


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
