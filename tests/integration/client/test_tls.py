"""A workspace whose TLS certificate fails verification: one attempt, then an error that says so.

A real HTTPS server on loopback with a self-signed certificate made for the test. Retrying cannot make a
certificate trusted, so the call fails on its first attempt, long before the retry deadline, for the
sync (requests) and the async (httpx) hook alike, and never as an "unknown outcome" of a create.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.client.retry import RetryPolicy
from airflow_databricks_clusters.errors import UntrustedCertificate
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from tests.integration.client.conftest import SPEC
from tests.integration.client.listeners import RecordingServer, self_signed_certificate, tls_context

CLUSTER = "0101-000000-listener"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    return self_signed_certificate(tmp_path)


@pytest.fixture
def server(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingServer]:
    with RecordingServer(tls_context(*certificate)) as https:
        conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": https.port, "schema": "https",
                "password": "dapi-not-over-an-untrusted-channel"}  # fmt: skip
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
        # Neither client may trust the certificate through the environment of whoever runs the tests.
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
            monkeypatch.delenv(name, raising=False)
        yield https


def hook() -> DatabricksClustersHook:
    # Retrying is cheap here (short backoff, no sleeping in the sync hook), so a policy that did retry
    # would show many attempts within the deadline rather than make the test slow.
    return DatabricksClustersHook(
        timeout_seconds=10,
        retry_policy=RetryPolicy(deadline_seconds=5, base_delay=0.05, max_delay=0.2),
        sleep=lambda _: None,
    )


def refused(server: RecordingServer) -> str:
    return rf"the TLS certificate of 127\.0\.0\.1:{server.port} could not be verified \(.*certificate.*\)"


SYNC_CALLS: dict[str, Callable[[DatabricksClustersHook], Any]] = {
    "get": lambda h: h.get_cluster(CLUSTER),
    "list": lambda h: h.list_clusters(),
    # Not an unknown outcome: the handshake failed, so the create request never left.
    "create": lambda h: h.create_cluster(SPEC),
}
ASYNC_CALLS: dict[str, Callable[[DatabricksClustersHook], Coroutine[Any, Any, Any]]] = {
    "get": lambda h: h.aget_cluster(CLUSTER),
    "list": lambda h: h.alist_clusters(),
    "terminate": lambda h: h.aterminate_cluster(CLUSTER),
}


@pytest.mark.parametrize("call", SYNC_CALLS)
def test_sync_calls_fail_at_once(call: str, server: RecordingServer) -> None:
    with pytest.raises(UntrustedCertificate, match=refused(server)) as caught:
        SYNC_CALLS[call](hook())
    assert "not retried" in str(caught.value) and caught.value.host == f"127.0.0.1:{server.port}"
    assert len(server.connections_so_far()) == 1
    assert server.requests == []


@pytest.mark.parametrize("call", ASYNC_CALLS)
def test_async_calls_fail_at_once(call: str, server: RecordingServer) -> None:
    with pytest.raises(UntrustedCertificate, match=refused(server)) as caught:
        asyncio.run(ASYNC_CALLS[call](hook()))
    assert "not retried" in str(caught.value) and caught.value.host == f"127.0.0.1:{server.port}"
    assert len(server.connections_so_far()) == 1
    assert server.requests == []


def test_the_oauth_token_request_fails_at_once(
    server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": server.port, "schema": "https",
            "login": "sp", "password": "sp-secret", "extra": {"service_principal_oauth": True}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    with pytest.raises(UntrustedCertificate, match=refused(server)) as caught:
        hook().get_cluster(CLUSTER)
    assert caught.value.path == "/oidc/v1/token"
    with pytest.raises(UntrustedCertificate, match=refused(server)):
        asyncio.run(hook().aget_cluster(CLUSTER))
    assert len(server.connections_so_far()) == 2
    assert server.requests == []


def test_trusting_the_certificate_as_the_message_says_works(
    server: RecordingServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: the same server is a working workspace once its certificate is trusted, through the
    # variables the error names.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    assert hook().get_cluster(CLUSTER)["state"] == "RUNNING"
    assert asyncio.run(hook().aget_cluster(CLUSTER))["state"] == "RUNNING"
    assert [authorized for _, _, authorized in server.requests] == [True, True]
