"""The connection's extra ``proxies``, as the official provider reads it: every request of both transports
(and the OAuth token request) goes through the proxy of its URL's scheme.

The proxy is ``forward_proxy.ForwardProxy``, a local stand-in for a deployment's egress proxy; the
environment's own proxy settings are cleared, so only the connection's decide.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.client.connection import ConnectionProblem
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from tests.integration.client.forward_proxy import ForwardProxy


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    with ForwardProxy() as forward:
        yield forward


def use(monkeypatch: pytest.MonkeyPatch, emu: Emulator, **fields: Any) -> None:
    conn = {"conn_type": "databricks", "host": emu.host, "port": emu.port, "schema": "http", **fields}
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))


def test_both_transports_go_through_the_connections_proxy(
    emu: Emulator, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, emu, password=emu.token, extra={"proxies": {"http": proxy.url}})
    hook = DatabricksClustersHook()
    assert hook.list_clusters() == []
    assert asyncio.run(hook.alist_clusters()) == []
    assert proxy.paths() == ["/api/2.1/clusters/list", "/api/2.1/clusters/list"]
    assert all(entry["authorized"] for entry in proxy.seen)


def test_the_oauth_token_request_goes_through_it_too(
    emu: Emulator, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.add_oauth_client("proxied-sp", "proxied-secret")
    use(monkeypatch, emu, login="proxied-sp", password="proxied-secret",
        extra={"service_principal_oauth": True, "proxies": {"http": proxy.url}})  # fmt: skip
    DatabricksClustersHook().list_clusters()
    assert proxy.paths() == ["/oidc/v1/token", "/api/2.1/clusters/list"]


def test_the_provider_sends_the_same_connection_through_the_same_proxy(
    emu: Emulator, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    use(monkeypatch, emu, password=emu.token, extra={"proxies": {"http": proxy.url}})
    DatabricksHook()._do_api_call(("GET", "2.1/clusters/list"), {})
    DatabricksClustersHook().list_clusters()
    assert proxy.paths() == ["/api/2.1/clusters/list", "/api/2.1/clusters/list"]


@pytest.mark.parametrize(
    ("proxies", "said"),
    [
        ("http://proxy:3128", "got a str"),
        ({"ftp": "http://proxy:3128"}, "got the key(s) ftp"),
        ({"http": ""}, "proxies.http is not a non-empty text"),
    ],
)
def test_a_bad_proxies_extra_is_refused_before_any_request(
    emu: Emulator, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, proxies: Any, said: str
) -> None:
    use(monkeypatch, emu, password=emu.token, extra={"proxies": proxies})
    with pytest.raises(ConnectionProblem, match="extra proxies") as refused:
        DatabricksClustersHook().list_clusters()
    assert said in str(refused.value)
    assert proxy.seen == [] and emu.request_log == []


@pytest.mark.parametrize("url", ["user:s3cret@proxy:3128", "ftp://user:s3cret@proxy:3128", "http://:3128"])
def test_a_proxy_that_is_not_an_http_url_is_refused_without_showing_it(
    emu: Emulator, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    # httpx refuses a URL without a scheme with the whole URL, password and all, in its message.
    use(monkeypatch, emu, password=emu.token, extra={"proxies": {"https": proxy.url, "http": url}})
    hook = DatabricksClustersHook()
    for call in (hook.list_clusters, lambda: asyncio.run(hook.alist_clusters())):
        with pytest.raises(ConnectionProblem, match=r"proxies\.http is not an http:// or https:// URL") as no:
            call()
        assert "s3cret" not in str(no.value) and "3128" not in str(no.value)
    assert proxy.seen == [] and emu.request_log == []
