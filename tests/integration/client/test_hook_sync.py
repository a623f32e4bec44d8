"""DatabricksClustersHook (requests) against the emulator: every call, paging, typed errors, every fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.client.retry import RetryPolicy
from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.errors import (
    ClusterNotFound,
    InvalidParameter,
    InvalidState,
    PermissionDenied,
    RateLimited,
    UnknownOutcome,
)
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from tests.integration.client.conftest import SPEC, RecordingSleep, advance_until

SEED = Path(__file__).resolve().parents[3] / "dags" / "clusters" / "dataengineeringe2e.json"


@pytest.mark.usefixtures("manual_clock")  # each state asserted holds until the test advances the clock
def test_cluster_lifecycle_calls(hook: DatabricksClustersHook, emu: Emulator) -> None:
    cluster_id = hook.create_cluster(SPEC)
    assert hook.cluster_url(cluster_id) == f"{emu.url}/#setting/clusters/{cluster_id}/configuration"
    advance_until(hook, emu, cluster_id, "RUNNING")
    hook.resize_cluster(cluster_id, num_workers=3)
    assert hook.get_cluster(cluster_id)["state"] == "RESIZING"
    advance_until(hook, emu, cluster_id, "RUNNING")
    hook.restart_cluster(cluster_id)
    assert hook.get_cluster(cluster_id)["state"] == "RESTARTING"
    advance_until(hook, emu, cluster_id, "RUNNING")
    hook.edit_cluster({**SPEC, "cluster_id": cluster_id, "num_workers": 2})
    advance_until(hook, emu, cluster_id, "RUNNING")
    assert hook.get_cluster(cluster_id)["num_workers"] == 2
    with pytest.raises(InvalidState, match="unexpected state Running"):
        hook.start_cluster(cluster_id)
    hook.terminate_cluster(cluster_id)
    advance_until(hook, emu, cluster_id, "TERMINATED")
    hook.terminate_cluster(cluster_id)  # a no-op on a terminated cluster
    hook.start_cluster(cluster_id)
    assert hook.get_cluster(cluster_id)["state"] == "PENDING"
    hook.permanent_delete_cluster(cluster_id)
    with pytest.raises(ClusterNotFound):
        hook.get_cluster(cluster_id)


def test_list_pages_and_filters_by_state_and_tags(
    hook: DatabricksClustersHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_databricks_clusters.hooks.LIST_PAGE_SIZE", 2)
    ids = [hook.create_cluster({**SPEC, "custom_tags": {"n": str(i % 2)}}) for i in range(5)]
    assert sorted(c["cluster_id"] for c in hook.list_clusters()) == sorted(ids)
    assert {c["cluster_id"] for c in hook.list_clusters(tags={"n": "1"})} == {ids[1], ids[3]}
    hook.terminate_cluster(ids[0])
    assert {c["cluster_id"] for c in hook.list_clusters(states=["TERMINATING", "TERMINATED"])} == {ids[0]}


def test_events_follow_next_page_up_to_the_limit(
    hook: DatabricksClustersHook, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_databricks_clusters.hooks.EVENTS_PAGE_SIZE", 2)
    cluster_id = hook.create_cluster(SPEC)
    advance_until(hook, emu, cluster_id, "RUNNING")
    hook.terminate_cluster(cluster_id)
    events = hook.get_events(cluster_id, order="ASC")
    assert [e["type"] for e in events] == ["CREATING", "DRIVER_HEALTHY", "RUNNING", "TERMINATING"]
    assert len(hook.get_events(cluster_id, limit=3)) == 3
    assert [e["type"] for e in hook.get_events(cluster_id, event_types=["RUNNING"])] == ["RUNNING"]


def test_workspace_offer_and_connection_test(hook: DatabricksClustersHook, emu: Emulator) -> None:
    assert "15.4.x-scala2.12" in {v["key"] for v in hook.spark_versions()}
    assert "r4.xlarge" in {n["node_type_id"] for n in hook.node_types()}
    assert "ap-southeast-1c" in hook.zones()["zones"]
    assert hook.instance_profiles()[0]["instance_profile_arn"].endswith("dataengineeringe2e-role")
    assert hook.instance_pools() and hook.cluster_policies()
    assert hook.test_connection() == (True, f"Connected to {emu.url} as emulator@example.com")


def test_typed_errors(hook: DatabricksClustersHook, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ClusterNotFound, match="does not exist"):
        hook.get_cluster("0101-000000-nothere0")
    with pytest.raises(InvalidParameter, match="Invalid spark version"):
        hook.create_cluster({**SPEC, "spark_version": "0.1"})
    bad = emu.connection()
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps({**bad, "password": "wrong"}))
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        DatabricksClustersHook().list_clusters()
    ok, message = DatabricksClustersHook().test_connection()
    assert not ok and "Invalid access token" in message and "wrong" not in message


def test_a_429_storm_is_ridden_out_waiting_retry_after(
    hook: DatabricksClustersHook, emu: Emulator, sleeps: RecordingSleep
) -> None:
    emu.add_fault("rate_limit", path="clusters/list", times=4, retry_after=3)
    assert hook.list_clusters() == []
    assert sleeps.waits == [3, 3, 3, 3]


def test_rate_limit_beyond_the_deadline_is_rate_limited(emu: Emulator, sleeps: RecordingSleep) -> None:
    emu.add_fault("rate_limit", path="clusters/list", retry_after=30)
    hook = DatabricksClustersHook(retry_policy=RetryPolicy(deadline_seconds=60), sleep=sleeps)
    with pytest.raises(RateLimited):
        hook.list_clusters()
    assert sleeps.waits == [30, 30]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(
    hook: DatabricksClustersHook, emu: Emulator, sleeps: RecordingSleep, status: int
) -> None:
    emu.add_fault("status", status=status, path="clusters/list", times=2)
    assert hook.list_clusters() == []
    assert len(sleeps.waits) == 2


def test_slow_answers_and_dropped_connections_are_retried(emu: Emulator, sleeps: RecordingSleep) -> None:
    # The slow answer comes three times the client's timeout late, so it cannot beat it. A retry more
    # (a healthy answer slower than 1 s on a loaded machine) is no failure of what is tested here.
    hook = DatabricksClustersHook(
        timeout_seconds=1, retry_policy=RetryPolicy(deadline_seconds=60, base_delay=0.05), sleep=sleeps
    )
    emu.add_fault("delay", delay=3, path="clusters/list", times=1)
    emu.add_fault("drop_before", path="clusters/list", times=1)
    assert hook.list_clusters() == []
    assert len(sleeps.waits) >= 2


def test_a_create_dropped_after_handling_is_an_unknown_outcome_and_one_cluster(
    hook: DatabricksClustersHook, emu: Emulator
) -> None:
    emu.add_fault("drop_after", path="clusters/create", times=1)
    with pytest.raises(UnknownOutcome, match=r"POST /api/2\.1/clusters/create"):
        hook.create_cluster(SPEC)
    assert len(emu.clusters) == 1
    assert [r["path"] for r in emu.request_log].count("/api/2.1/clusters/create") == 1


def test_a_create_answered_503_is_sent_again(hook: DatabricksClustersHook, emu: Emulator) -> None:
    emu.add_fault("status", status=503, path="clusters/create", times=1)
    hook.create_cluster(SPEC)
    assert len(emu.clusters) == 1


def test_oauth_m2m_token_is_fetched_once_and_cached(emu: Emulator, service_principal: dict) -> None:
    hook = DatabricksClustersHook()
    assert hook.current_user()["userName"] == "sp"
    hook.list_clusters()
    assert [r["path"] for r in emu.request_log].count("/oidc/v1/token") == 1


def test_the_seed_cluster_json_builds_and_creates_once_its_retired_runtime_is_replaced(
    hook: DatabricksClustersHook, emu: Emulator
) -> None:
    account: dict[str, Any] = {
        "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/dataengineeringe2e-role",
        "docker_image": "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest",
    }
    # The file's own runtime, 7.0, is valid JSON the builder accepts, and retired: the workspace refuses it.
    with pytest.raises(InvalidParameter, match=r"Invalid spark version 7\.0\.x-scala2\.12\."):
        hook.create_cluster(build_cluster_spec(cluster_json=str(SEED), **account))
    assert emu.clusters == {}
    spec = build_cluster_spec(cluster_json=str(SEED), spark_version="17.3.x-scala2.13", **account)
    cluster = advance_until(hook, emu, hook.create_cluster(spec), "RUNNING")
    assert cluster["spark_version"] == "17.3.x-scala2.13"
    assert cluster["autoscale"] == {"min_workers": 1, "max_workers": 2}
    assert cluster["aws_attributes"]["availability"] == "SPOT_WITH_FALLBACK"


def test_the_oauth_token_request_rides_out_faults_like_any_call(
    emu: Emulator, sleeps: RecordingSleep, service_principal: dict
) -> None:
    emu.add_fault("status", status=503, path="/oidc/v1/token", times=1)
    emu.add_fault("drop_before", path="/oidc/v1/token", times=1)
    hook = DatabricksClustersHook(
        retry_policy=RetryPolicy(deadline_seconds=60, base_delay=0.05), sleep=sleeps
    )
    assert hook.current_user()["userName"] == "sp"
    assert [r["status"] for r in emu.request_log if r["path"] == "/oidc/v1/token"] == [503, None, 200]
    assert len(sleeps.waits) == 2
