"""The async calls a trigger uses (httpx), against the emulator, under the same retry policy."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.errors import ClusterNotFound, PermissionDenied
from airflow_databricks_clusters.hooks import TOKENS, DatabricksClustersHook
from tests.integration.client.conftest import SPEC


@pytest.mark.usefixtures("manual_clock")  # PENDING until the end, however slow the machine
def test_get_list_events_terminate(hook: DatabricksClustersHook, emu: Emulator) -> None:
    cluster_id = hook.create_cluster({**SPEC, "custom_tags": {"team": "a"}})

    async def scenario() -> None:
        assert (await hook.aget_cluster(cluster_id))["state"] == "PENDING"
        assert [c["cluster_id"] for c in await hook.alist_clusters(tags={"team": "a"})] == [cluster_id]
        assert await hook.alist_clusters(tags={"team": "b"}) == []
        assert await hook.alist_clusters(states=["RUNNING"]) == []
        await hook.aterminate_cluster(cluster_id)
        events = await hook.aget_events(cluster_id, order="ASC")
        assert [e["type"] for e in events] == ["CREATING", "TERMINATING"]
        with pytest.raises(ClusterNotFound):
            await hook.aget_cluster("0101-000000-nothere0")

    asyncio.run(scenario())


def test_async_calls_ride_out_rate_limits_and_drops(hook: DatabricksClustersHook, emu: Emulator) -> None:
    cluster_id = hook.create_cluster(SPEC)
    emu.add_fault("rate_limit", path="clusters/get", times=2, retry_after=0)
    emu.add_fault("drop_before", path="clusters/get", times=1)
    assert asyncio.run(hook.aget_cluster(cluster_id))["cluster_id"] == cluster_id
    statuses = [r["status"] for r in emu.request_log if r["path"].endswith("clusters/get")]
    assert statuses == [429, 429, None, 200]


def test_async_oauth_and_bad_credentials(
    emu: Emulator, service_principal: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = DatabricksClustersHook()

    async def twice() -> None:
        await hook.alist_clusters()
        await hook.alist_clusters()

    asyncio.run(twice())
    assert [r["path"] for r in emu.request_log].count("/oidc/v1/token") == 1
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps({**service_principal, "password": "wrong"})
    )
    with pytest.raises(PermissionDenied, match="invalid_client: Client authentication failed"):
        asyncio.run(DatabricksClustersHook().alist_clusters())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_minted_oauth_token_is_masked_in_every_log_line(
    emu: Emulator, service_principal: dict, mode: str
) -> None:
    # The masker is the one Airflow's task and triggerer logs go through.
    from airflow.sdk.log import redact

    hook = DatabricksClustersHook()
    if mode == "sync":
        hook.list_clusters()
    else:
        asyncio.run(hook.alist_clusters())
    token = TOKENS.get(hook._token_key(hook.settings), time.monotonic())
    assert token is not None
    assert redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"


def test_hooks_of_one_process_share_the_oauth_token(emu: Emulator, service_principal: dict) -> None:
    DatabricksClustersHook().list_clusters()

    async def three_hooks() -> None:
        for _ in range(3):
            async with DatabricksClustersHook() as hook:
                await hook.alist_clusters()

    asyncio.run(three_hooks())
    assert [r["path"] for r in emu.request_log].count("/oidc/v1/token") == 1


def test_a_429_holds_back_every_request_of_the_process_for_its_retry_after(
    hook: DatabricksClustersHook, emu: Emulator
) -> None:
    cluster_id = hook.create_cluster(SPEC)
    emu.add_fault("rate_limit", path="clusters/get", times=1, retry_after=1)

    def limited() -> list[dict]:
        return [r for r in emu.request_log if r["status"] == 429]

    async def two_waits() -> None:
        first = asyncio.ensure_future(hook.aget_cluster(cluster_id))
        while not limited():
            await asyncio.sleep(0.01)
        # Another wait's call, on another hook, after the 429: it waits out the Retry-After as well.
        async with DatabricksClustersHook() as other:
            await other.alist_clusters()
        await first

    asyncio.run(two_waits())
    listed = [r for r in emu.request_log if r["path"].endswith("clusters/list")]
    assert listed[0]["time"] - limited()[0]["time"] >= 0.9


def test_waits_that_start_together_share_one_token_request(emu: Emulator, service_principal: dict) -> None:
    async def eight_at_once() -> None:
        hooks = [DatabricksClustersHook() for _ in range(8)]
        await asyncio.gather(*(h.alist_clusters() for h in hooks))
        for h in hooks:
            await h.aclose()

    asyncio.run(eight_at_once())
    assert [r["path"] for r in emu.request_log].count("/oidc/v1/token") == 1
