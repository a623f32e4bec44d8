"""A workspace that cannot be reached fails fast and says so, for the sync (requests) and the async (httpx)
hook alike, with the hook's default retry policy and real waits.

Three ways a connection cannot even be made: a closed port (a socket bound for its port, then closed), a
host name that does not resolve (``.invalid`` never does), and an https connection to the emulator's
plain-http port. Each gets a few quick retries, then ``WorkspaceUnreachable`` naming the connection, the
host and port and what to check, within 30 s (the issue's bound, far above the few seconds the retries
take). A create refused that way was never sent: it is retried like any call, and sent once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.errors import TransientApiError, WorkspaceUnreachable
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from tests.integration.client.conftest import SPEC

#: The issue's bound on the whole call, its quick retries included.
WITHIN_SECONDS = 30


def closed_port() -> int:
    """A loopback port nothing listens on: bound for its number, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def plain_http() -> Iterator[Emulator]:
    """A running emulator: it serves plain http, so an https connection to it meets no TLS."""
    with Emulator() as emulator:
        yield emulator


def connection(**fields: Any) -> str:
    return json.dumps({"conn_type": "databricks", "password": "dapi-unreachable", **fields})


#: Each case: the connection's fields, the host:port the error must name, and what it must say happened.
CASES: dict[str, Callable[[Emulator], tuple[dict[str, Any], str, str]]] = {
    "refused": lambda _: (
        {"host": "127.0.0.1", "port": (port := closed_port()), "schema": "http"},
        f"127.0.0.1:{port}",
        "the connection was refused",
    ),
    # The host written as a URL, as a connection made in the UI often has it.
    "unresolved": lambda _: (
        {"host": "https://nonexistent.invalid"},
        "nonexistent.invalid:443",
        "its host name does not resolve",
    ),
    "https to plain http": lambda emu: (
        {"host": emu.host, "port": emu.port, "schema": "https"},
        f"{emu.host}:{emu.port}",
        "the port does not speak TLS",
    ),
}


def call(kind: str) -> Any:
    hook = DatabricksClustersHook()
    if kind == "sync":
        return hook.list_clusters()
    return asyncio.run(hook.alist_clusters())


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("case", CASES)
def test_an_unreachable_workspace_fails_within_seconds_naming_the_connection(
    case: str, kind: str, plain_http: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields, host, happened = CASES[case](plain_http)
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", connection(**fields))
    started = time.monotonic()
    with pytest.raises(WorkspaceUnreachable) as caught:
        call(kind)
    took = time.monotonic() - started
    assert took < WITHIN_SECONDS
    message = str(caught.value)
    assert message.startswith(
        f"Cannot reach the Databricks workspace of connection databricks_default at {host}: "
    )
    assert happened in message and "Check the connection's " in message
    assert "GET /api/2.1/clusters/list" in message
    assert 2 <= int(message.split(" attempts in ")[0].rsplit(" ", 1)[1]) <= 8  # a few quick retries
    assert isinstance(caught.value, TransientApiError)  # what handles those handles this


def test_the_host_name_alone_is_named_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", connection(host="nonexistent.invalid", port=8443))
    with pytest.raises(
        WorkspaceUnreachable, match=r"databricks_default at nonexistent\.invalid:8443: its host"
    ):
        call("sync")


def test_a_create_refused_is_sent_once_when_the_workspace_comes_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # A workspace (or the proxy before it) restarting: the first connections are refused, so the create was
    # never sent; the quick retries reach it once it is up, and exactly one cluster is made.
    port = closed_port()
    emulator = Emulator(port=port)
    conn = connection(host="127.0.0.1", port=port, schema="http", password=emulator.token)
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", conn)
    up = threading.Timer(0.5, emulator.start)
    up.start()
    try:
        cluster_id = DatabricksClustersHook().create_cluster(SPEC)
        creates = [r for r in emulator.request_log if r["path"].endswith("clusters/create")]
        assert list(emulator.clusters) == [cluster_id] and len(creates) == 1
    finally:
        up.join()
        emulator.stop()


def test_a_create_to_an_unreachable_workspace_is_no_unknown_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing was sent, so there is nothing to look up by tags: the error says what to fix instead.
    port = closed_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATABRICKS_DEFAULT", connection(host="127.0.0.1", port=port, schema="http")
    )
    with pytest.raises(WorkspaceUnreachable, match=rf"at 127\.0\.0\.1:{port}: the connection was refused"):
        DatabricksClustersHook().create_cluster(SPEC)
