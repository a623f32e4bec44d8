"""One pooled connection per hook, sync and async, and a kept-alive connection the server dropped is
reopened without failing the call (the emulator's server, like many, closes idle connections after 5 s:
exactly one polling interval)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from airflow_databricks_clusters.client.retry import RetryPolicy
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from tests.integration.client.listeners import RecordingServer

CLUSTER = "0101-000000-listener"


def serve(monkeypatch: pytest.MonkeyPatch, *, drop_reused: bool) -> RecordingServer:
    server = RecordingServer(drop_reused=drop_reused)
    conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": server.port, "schema": "http",
            "password": "dapi-reuse"}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    return server


@pytest.fixture
def keeping(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingServer]:
    with serve(monkeypatch, drop_reused=False) as server:
        yield server


@pytest.fixture
def dropping(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingServer]:
    with serve(monkeypatch, drop_reused=True) as server:
        yield server


def hook() -> DatabricksClustersHook:
    return DatabricksClustersHook(
        retry_policy=RetryPolicy(deadline_seconds=60, base_delay=0.05, max_delay=0.2)
    )


def test_a_hook_sends_every_call_on_one_connection(keeping: RecordingServer) -> None:
    sync = hook()
    assert [sync.get_cluster(CLUSTER)["state"] for _ in range(5)] == ["RUNNING"] * 5
    sync.close()

    async def five() -> list[str]:
        async with hook() as ahook:
            return [(await ahook.aget_cluster(CLUSTER))["state"] for _ in range(5)]

    assert asyncio.run(five()) == ["RUNNING"] * 5
    assert len(keeping.connections_so_far()) == 2  # one per client
    assert len(keeping.requests) == 10


def test_a_connection_dropped_while_kept_alive_is_reopened_without_failing_the_call(
    dropping: RecordingServer,
) -> None:
    sync = hook()
    assert [sync.get_cluster(CLUSTER)["state"] for _ in range(3)] == ["RUNNING"] * 3

    async def three() -> list[str]:
        async with hook() as ahook:
            return [(await ahook.aget_cluster(CLUSTER))["state"] for _ in range(3)]

    assert asyncio.run(three()) == ["RUNNING"] * 3
    # Each client: its first call answered, then every reused connection dropped and a new one opened.
    assert len(dropping.connections_so_far()) == 6
