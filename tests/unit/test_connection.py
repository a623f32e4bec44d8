"""Reading a `databricks` connection exactly as the official provider reads it."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection

from airflow_databricks_clusters.connection import ConnectionProblem, settings_from_connection


def conn(**fields: object) -> Connection:
    return Connection(conn_id="databricks_default", conn_type="databricks", **fields)  # type: ignore[arg-type]


CONNECTIONS = [
    ({"host": "dbc-1.cloud.databricks.com", "password": "t"}, "https://dbc-1.cloud.databricks.com"),
    ({"host": "https://dbc-1.cloud.databricks.com/", "password": "t"}, "https://dbc-1.cloud.databricks.com"),
    ({"host": "127.0.0.1", "port": 8765, "schema": "http", "password": "t"}, "http://127.0.0.1:8765"),
    ({"host": "dbc-1.cloud.databricks.com", "port": 8443, "password": "t"}, "https://dbc-1.cloud.databricks.com:8443"),
    # The provider keeps only the host name of a URL: its scheme and port are not the connection's.
    ({"host": "http://localhost:9000", "schema": "http", "password": "t"}, "http://localhost"),
    ({"host": "localhost:9000", "schema": "http", "password": "t"}, "http://localhost:9000"),
    # The extra host wins over the host field.
    (
        {"host": "ignored.example.com", "extra": '{"host": "https://dbc-2.cloud.databricks.com"}',
         "password": "t"},
        "https://dbc-2.cloud.databricks.com",
    ),
    (
        {"host": "emulator", "port": 8765, "schema": "http", "password": "t",
         "extra": '{"allow_plain_http_host": "emulator"}'},
        "http://emulator:8765",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "url"), CONNECTIONS)
def test_host_scheme_and_port(fields: dict, url: str) -> None:
    assert settings_from_connection(conn(**fields)).base_url == url


@pytest.mark.parametrize(("fields", "url"), CONNECTIONS)
def test_the_same_url_as_the_official_provider(
    fields: dict, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One connection must reach one workspace, from these operators and from DatabricksSubmitRunOperator.
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", conn(**fields).as_json())
    assert DatabricksHook()._endpoint_url("api/2.1/clusters/get") == f"{url}/api/2.1/clusters/get"


def test_token_in_password_or_extra() -> None:
    assert settings_from_connection(conn(host="h.com", password="dapi1")).token == "dapi1"
    assert settings_from_connection(conn(host="h.com", extra='{"token": "dapi2"}')).token == "dapi2"


def test_oauth_service_principal() -> None:
    settings = settings_from_connection(
        conn(host="h.com", login="client", password="secret", extra='{"service_principal_oauth": true}')
    )
    assert settings.uses_oauth and settings.client_id == "client" and settings.client_secret == "secret"
    assert "secret" not in repr(settings)


def test_plain_http_only_to_loopback_or_the_one_named_host() -> None:
    with pytest.raises(ConnectionProblem, match=r"plain http to dbc-1\.cloud\.databricks\.com"):
        settings_from_connection(conn(host="dbc-1.cloud.databricks.com", schema="http", password="t"))
    # Naming the emulator's host does not open plain http to another one (a real workspace, say).
    with pytest.raises(ConnectionProblem, match=r"plain http to dbc-1\.cloud\.databricks\.com"):
        settings_from_connection(
            conn(
                host="dbc-1.cloud.databricks.com",
                schema="http",
                password="t",
                extra='{"allow_plain_http_host": "emulator"}',
            )
        )
    assert (
        settings_from_connection(conn(host="[::1]", schema="http", password="t")).base_url == "http://[::1]"
    )


def test_missing_host_and_credentials_are_named() -> None:
    with pytest.raises(ConnectionProblem, match="host is empty"):
        settings_from_connection(conn(password="t"))
    with pytest.raises(ConnectionProblem, match="no credentials"):
        settings_from_connection(conn(host="h.com"))
    with pytest.raises(ConnectionProblem, match="client id in login"):
        settings_from_connection(conn(host="h.com", extra='{"service_principal_oauth": true}'))
