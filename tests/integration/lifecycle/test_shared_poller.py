"""Many deferred waits in one event loop, as in one triggerer, share one poller per workspace.

The emulator's clock is stopped, so clusters stay where they are until a test moves it; the triggers
poll every 0.2 s of real time and the tests wait for conditions (requests seen, events received), never
for an amount of time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger
from airflow_databricks_clusters.wait import poller as shared_poller
from tests.integration.lifecycle.pipelines import CLUSTER

POLL = 0.2
#: Real seconds a condition may take to come true on a slow, busy machine.
PATIENCE = 120.0
UNKNOWN_ID = "0000-000000-unknown0"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(start_seconds=10, terminate_seconds=1) as emulator:
        emulator.clock.time_scale = 0
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
        yield emulator


def create(count: int) -> list[str]:
    hook = DatabricksClustersHook()
    return [hook.create_cluster(build_cluster_spec(**CLUSTER)) for _ in range(count)]


def trigger(cluster_id: str, targets: tuple[str, ...] = ("RUNNING",)) -> DatabricksClusterStateTrigger:
    return DatabricksClusterStateTrigger(
        cluster_id=cluster_id,
        databricks_conn_id="databricks_default",
        target_states=targets,
        end_time=time.time() + 3600,
        polling_interval=POLL,
    )


async def first_event(one: DatabricksClusterStateTrigger) -> dict[str, Any]:
    async for event in one.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def reads(emu: Emulator, endpoint: str) -> int:
    return sum(1 for r in emu.request_log if r["path"].endswith(endpoint))


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"not within {PATIENCE} s: {what}"
        await asyncio.sleep(0.05)


def run_waits(
    emu: Emulator, triggers: list[DatabricksClusterStateTrigger], act: Callable[[], None]
) -> list[Any]:
    """Run the triggers in one loop; once the shared poller has read their clusters twice, ``act``
    (move the clock, terminate a cluster, ...) in a thread, as another process would."""

    async def scenario() -> list[Any]:
        tasks = [asyncio.ensure_future(first_event(t)) for t in triggers]
        await until(lambda: reads(emu, "clusters/list") >= 2, "two list rounds")
        await asyncio.to_thread(act)
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), PATIENCE)
        # Once the last wait has left, its poller stops and no other is left behind.
        await until(lambda: not shared_poller._pollers_of_loop(), "the poller stopped")
        return results

    return asyncio.run(scenario())


def test_thirty_waits_read_their_clusters_with_one_list_request_per_round(emu: Emulator) -> None:
    ids = create(30)
    events = run_waits(emu, [trigger(c) for c in ids], lambda: emu.advance(10))
    assert [e["status"] for e in events] == ["success"] * 30
    assert {e["cluster_id"] for e in events} == set(ids)
    # Every read of every wait came from the live-cluster list: one page holds all thirty.
    assert reads(emu, "clusters/get") == 0
    lists = [r for r in emu.request_log if r["path"].endswith("clusters/list")]
    assert all(r["status"] == 200 for r in lists)


def test_a_cluster_that_leaves_the_live_list_is_read_alone_and_fails_its_wait_only(emu: Emulator) -> None:
    ids = create(4)
    events = run_waits(
        emu,
        [trigger(c) for c in ids],
        lambda: (DatabricksClustersHook().terminate_cluster(ids[0]), emu.advance(2), emu.advance(10)),
    )
    failed, *others = events
    assert failed["status"] == "failed", failed
    assert failed["state"] == "TERMINATED"
    assert failed["termination_reason"]["code"] == "USER_REQUEST"
    assert [e["type"] for e in failed["events"]][:1] == ["TERMINATING"]
    assert [e["status"] for e in others] == ["success"] * 3
    # TERMINATED is not among the listed states, so the terminated cluster was read with a get.
    assert reads(emu, "clusters/get") >= 1


def test_a_wait_for_termination_and_a_missing_cluster_share_the_rounds(emu: Emulator) -> None:
    ids = create(3)
    waits = [trigger(ids[0]), trigger(ids[1]), trigger(ids[2], ("TERMINATED",)), trigger(UNKNOWN_ID)]
    events = run_waits(
        emu, waits, lambda: (DatabricksClustersHook().terminate_cluster(ids[2]), emu.advance(10))
    )
    assert [e["status"] for e in events] == ["success", "success", "success", "gone"]
    assert events[2]["state"] == "TERMINATED"
    assert "does not exist" in events[3]["message"]


def test_a_list_round_that_fails_for_a_while_is_ridden_out(emu: Emulator) -> None:
    ids = create(3)

    def fail_then_start() -> None:
        emu.add_fault("status", path="clusters/list", status=503, times=2)
        emu.advance(10)

    events = run_waits(emu, [trigger(c) for c in ids], fail_then_start)
    assert [e["status"] for e in events] == ["success"] * 3
    assert [r["status"] for r in emu.request_log if r["path"].endswith("clusters/list")].count(503) == 2


def test_one_wait_alone_polls_its_cluster_with_a_get_as_before(emu: Emulator) -> None:
    (cluster_id,) = create(1)

    async def scenario() -> dict[str, Any]:
        task = asyncio.ensure_future(first_event(trigger(cluster_id)))
        await until(lambda: reads(emu, "clusters/get") >= 2, "two reads")
        await asyncio.to_thread(emu.advance, 10)
        return await asyncio.wait_for(task, PATIENCE)

    assert asyncio.run(scenario())["status"] == "success"
    assert reads(emu, "clusters/list") == 0


def test_a_slow_read_of_one_cluster_holds_back_no_other_wait(emu: Emulator) -> None:
    ids = create(3)
    DatabricksClustersHook().terminate_cluster(ids[2])
    emu.advance(2)  # ids[2] is TERMINATED: off the live list, read with a get of its own

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        # A wait that TERMINATED does not end: it stays, read alone every round.
        alone = trigger(ids[2])
        alone.failed_states = ["ERROR"]
        tasks = [asyncio.ensure_future(first_event(t)) for t in (trigger(ids[0]), trigger(ids[1]), alone)]
        await until(lambda: reads(emu, "clusters/get") >= 2, "two reads of the terminated cluster")
        # From now on every get is answered only after 30 s: the terminated cluster's reads crawl.
        emu.add_fault("delay", path="clusters/get", delay=30)
        await asyncio.to_thread(emu.advance, 10)
        events = await asyncio.wait_for(asyncio.gather(*tasks[:2]), PATIENCE)
        slow_reads_answered = [r for r in emu.request_log if r["fault"] == "delay"]
        tasks[2].cancel()
        await asyncio.gather(tasks[2], return_exceptions=True)
        return events, len(slow_reads_answered)

    events, slow_reads_answered = asyncio.run(scenario())
    assert [e["status"] for e in events] == ["success", "success"]
    # The other two waits had their events before any slow read was answered.
    assert slow_reads_answered == 0


def test_an_unreadable_list_is_read_around_with_gets(emu: Emulator) -> None:
    ids = create(3)

    def unreadable_then_start() -> None:
        emu.add_fault("malformed", path="clusters/list", body="<html>proxy error</html>", times=1)
        emu.advance(10)

    events = run_waits(emu, [trigger(c) for c in ids], unreadable_then_start)
    assert [e["status"] for e in events] == ["success"] * 3
    assert reads(emu, "clusters/get") >= 3


def test_the_poller_reads_its_connection_again_and_keeps_the_old_one_if_it_cannot(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_poller, "CONNECTION_TTL_SECONDS", 0.0)
    ids = create(3)

    def connection_gone_then_start() -> None:
        monkeypatch.delenv("AIRFLOW_CONN_DATABRICKS_DEFAULT")
        emu.advance(10)

    events = run_waits(emu, [trigger(c) for c in ids], connection_gone_then_start)
    assert [e["status"] for e in events] == ["success"] * 3


def test_a_wait_on_a_stopped_poller_fails_at_once_and_the_next_wait_gets_a_new_one(emu: Emulator) -> None:
    (cluster_id,) = create(1)

    async def scenario() -> tuple[str, str]:
        async with shared_poller.watch("databricks_default", cluster_id, POLL) as stranded:
            first = await stranded.read(0)
            poller = shared_poller._pollers_of_loop()["databricks_default"]
            assert poller._task is not None
            poller._task.cancel()
            await asyncio.gather(poller._task, return_exceptions=True)
            with pytest.raises(RuntimeError, match="poller of connection databricks_default has stopped"):
                await asyncio.wait_for(stranded.read(0), PATIENCE)
        async with shared_poller.watch("databricks_default", cluster_id, POLL) as fresh:
            second = await asyncio.wait_for(fresh.read(0), PATIENCE)
        assert isinstance(first, dict) and isinstance(second, dict)
        return first["state"], second["state"]

    assert asyncio.run(scenario()) == ("PENDING", "PENDING")


def test_waits_on_a_federated_connection_share_its_exchange_and_renew_it(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_databricks_clusters.testing.oidc_issuer import OidcIssuer
    from tests.integration.client import federation_tokens

    ids = create(10)  # with the emulator's token, before the connection turns federated
    issuer = OidcIssuer()
    emu.add_federation_policy(**issuer.policy("airflow-triggerer", service_principal="sp-app"))
    extra = {"federated_token_provider": federation_tokens.PATH, "client_id": "sp-app"}
    conn = {**emu.connection(), "password": None, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    with federation_tokens.supplying(issuer.token("airflow-triggerer", lifetime_seconds=7200)):
        # Past the workspace token's hour while the waits go on: the next round is refused 403, and the
        # poller's hook exchanges a new subject token once for all ten waits.
        events = run_waits(emu, [trigger(c) for c in ids], lambda: emu.advance(3601))
        assert len(federation_tokens.CALLS) == 2
    assert [e["status"] for e in events] == ["success"] * 10
    assert [r["status"] for r in emu.request_log if r["path"] == "/oidc/v1/token"] == [200, 200]
