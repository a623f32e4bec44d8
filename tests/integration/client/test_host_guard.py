"""A connection host that is not a plain host name never gets a request, let alone the token, anywhere.

requests and httpx read such a host differently (``a\\@127.0.0.1``: requests went to ``a``, httpx to
127.0.0.1), so the plain-http guard could approve one host while the token went to another. Each form
below, written around a listener's own address, used to reach the listener from at least one client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.client.connection import ConnectionProblem
from airflow_databricks_clusters.client.retry import RetryPolicy
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from tests.integration.client.listeners import RecordingServer

TOKEN = "dapi-must-not-travel"

#: (connection fields, what the refusal says), given the listener's port.
FORMS: dict[str, Callable[[int], tuple[dict[str, Any], str]]] = {
    "backslash before @": lambda port: ({"host": f"127.0.0.1:{port}\\@127.0.0.1", "port": 9}, "user info"),
    "backslash, no port": lambda port: ({"host": f"localhost:{port}\\@127.0.0.1"}, "user info"),
    "path before @": lambda port: ({"host": f"127.0.0.1:{port}/x@127.0.0.1"}, "user info"),
    "user info": lambda port: ({"host": f"user@127.0.0.1:{port}"}, "user info"),
    "URL with user info": lambda port: ({"host": f"http://u:pw@127.0.0.1:{port}", "port": port}, "user info"),
    "fragment": lambda port: ({"host": f"127.0.0.1:{port}#@localhost"}, "user info"),
    "path": lambda port: ({"host": f"127.0.0.1:{port}/api"}, "path"),
    "backslash path": lambda port: ({"host": f"127.0.0.1:{port}\\x"}, "backslash"),
    "tab": lambda port: ({"host": f"127.0.0.1:{port}\t@localhost"}, "whitespace"),
    "extra host": lambda port: (
        {"host": "127.0.0.1", "extra": {"host": f"127.0.0.1:{port}\\@127.0.0.1"}},
        "user info",
    ),
}  # fmt: skip


@pytest.fixture
def listener() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def hook() -> DatabricksClustersHook:
    # No sleeping between retries: a test that fails must fail fast, not wait out a deadline.
    return DatabricksClustersHook(
        timeout_seconds=5, retry_policy=RetryPolicy(deadline_seconds=1), sleep=lambda _: None
    )


def use(fields: dict[str, Any], monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    conn = {"conn_type": "databricks", "schema": schema, "password": TOKEN, **fields}
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))


#: One call of each client: requests (the operators, the sensor) and httpx (the trigger).
CALLS: dict[str, Callable[[DatabricksClustersHook], Any]] = {
    "sync": lambda h: h.get_cluster("0101-000000-listener"),
    "async": lambda h: asyncio.run(h.aget_cluster("0101-000000-listener")),
}


@pytest.mark.parametrize("client", CALLS)
@pytest.mark.parametrize("schema", ["http", "https"])
@pytest.mark.parametrize("form", FORMS)
def test_calls_never_reach_another_host(
    form: str, schema: str, client: str, listener: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields, why = FORMS[form](listener.port)
    use(fields, monkeypatch, schema)
    with pytest.raises(ConnectionProblem, match=rf"^Connection databricks_default: (extra )?host .*{why}"):
        CALLS[client](hook())
    assert listener.connections_so_far() == [] and listener.requests == []


def test_the_listener_does_see_a_plain_loopback_host(
    listener: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: the same listener, named plainly, gets the request and the token from both clients.
    use({"host": "127.0.0.1", "port": listener.port}, monkeypatch, "http")
    assert hook().get_cluster("0101-000000-listener")["state"] == "RUNNING"
    assert asyncio.run(hook().aget_cluster("0101-000000-listener"))["state"] == "RUNNING"
    assert len(listener.connections_so_far()) >= 1
    assert listener.requests == [("GET", "/api/2.1/clusters/get?cluster_id=0101-000000-listener", True)] * 2
