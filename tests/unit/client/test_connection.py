"""Reading a `databricks` connection exactly as the official provider reads it."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection

from airflow_databricks_clusters.client.connection import ConnectionProblem, settings_from_connection


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


# What the HTTP clients make of a host field that is not a plain host name differs: requests sent
# "attacker.example\@127.0.0.1" to attacker.example, httpx to 127.0.0.1. Such a host is refused outright.
NOT_PLAIN_HOSTS = [
    ("attacker.example\\@127.0.0.1", "user info"),
    ("attacker.example@127.0.0.1", "user info"),
    ("https://user:hunter2@dbc-1.cloud.databricks.com", "user info"),
    ("127.0.0.1\\attacker.example", "backslash"),
    ("127.0.0.1/x@attacker.example", "user info"),
    ("attacker.example/127.0.0.1", "path"),
    ("https://dbc-1.cloud.databricks.com/api", "path"),
    ("attacker.example#@127.0.0.1", "user info"),
    ("attacker.example?x=127.0.0.1", "path"),
    ("127.0.0.1 attacker.example", "whitespace"),
    ("127.0.0.1\tattacker.example", "whitespace"),
    ("127.0.0.1\r\nX-Evil: 1", "whitespace"),
    ("127.0.0.1\x00attacker.example", "control"),
    ("127.0.0.1%2f@attacker.example", "user info"),
    ("127.0.0.1%00", "not a host name"),
    ("-attacker.example", "not a host name"),
    ("attacker..example", "not a host name"),
    ("ftp://127.0.0.1", "scheme"),
    ("localhost:99999", "port"),
    ("localhost:80:81", "not a host name"),
    ("[::1%eth0]", "not a host name"),
    ("[not-ipv6]", "not a host name"),
    ("::1", r"an IPv6 address goes in brackets: \[::1\]"),
    ("dbc-1.cloud.databricks.\u0441om", "not a host name"),
]


@pytest.mark.parametrize(("host", "why"), NOT_PLAIN_HOSTS)
@pytest.mark.parametrize("schema", ["http", "https"])
def test_a_host_that_is_not_a_plain_host_name_is_refused(host: str, why: str, schema: str) -> None:
    with pytest.raises(ConnectionProblem, match=rf"^Connection databricks_default: host .*{why}") as caught:
        settings_from_connection(conn(host=host, schema=schema, port=8765, password="dapi-secret"))
    message = str(caught.value)
    assert "allowed: a host name or IP address" in message
    assert "hunter2" not in message and "dapi-secret" not in message


def test_the_extra_host_is_held_to_the_same_rule_and_named() -> None:
    extra = '{"host": "attacker.example\\\\@127.0.0.1"}'
    with pytest.raises(ConnectionProblem, match=r"^Connection databricks_default: extra host .*user info"):
        settings_from_connection(conn(host="127.0.0.1", schema="http", password="t", extra=extra))


@pytest.mark.parametrize(("fields", "url"), CONNECTIONS)
def test_the_base_url_names_the_host_and_port_and_nothing_else(fields: dict, url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(settings_from_connection(conn(**fields)).base_url)
    assert parts.username is None and parts.path == "" and f"{parts.scheme}://{parts.netloc}" == url


def test_plain_hosts_keep_working() -> None:
    def url(**fields: object) -> str:
        return settings_from_connection(conn(password="t", **fields)).base_url

    assert url(host="dbc-1.cloud.databricks.com:8443") == "https://dbc-1.cloud.databricks.com:8443"
    assert url(host=" https://dbc-1.cloud.databricks.com// ") == "https://dbc-1.cloud.databricks.com"
    assert url(host="HTTPS://DBC-1.cloud.databricks.com") == "https://dbc-1.cloud.databricks.com"
    assert url(host="[::1]", port=8765, schema="http") == "http://[::1]:8765"
    assert url(host="http://[::1]:9000", schema="http") == "http://[::1]"
    assert url(host="localhost", port=8765, schema="http") == "http://localhost:8765"
    assert url(host="10.0.0.7", schema="https") == "https://10.0.0.7"
    named = '{"allow_plain_http_host": "emulator_1"}'
    assert url(host="emulator_1", port=8765, schema="http", extra=named) == "http://emulator_1:8765"


def test_a_port_is_given_once_and_is_a_port() -> None:
    with pytest.raises(ConnectionProblem, match=r"host 'localhost:9000' holds a port and port is 8765"):
        settings_from_connection(conn(host="localhost:9000", port=8765, schema="http", password="t"))
    with pytest.raises(ConnectionProblem, match=r"port 70000; allowed: 1 to 65535"):
        settings_from_connection(conn(host="localhost", port=70000, schema="http", password="t"))
