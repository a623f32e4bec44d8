"""databricks-sdk, a client nobody here wrote, works against the emulator unchanged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, PermissionDenied, ResourceDoesNotExist
from databricks.sdk.service.compute import (
    AutoScale,
    AwsAttributes,
    AwsAvailability,
    EventType,
    InitScriptExecutionDetailsInitScriptExecutionStatus,
    InitScriptInfo,
    S3StorageInfo,
    State,
    WorkspaceStorageInfo,
)

from airflow_databricks_clusters.emulator import Emulator

#: How long an SDK wait may take: a generous bound for a start of 0.4 s on a loaded machine.
WAIT = timedelta(seconds=120)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A workspace in real time: the SDK's own waits (``create_and_wait``, ...) poll the wall clock."""
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, run_seconds=0.3) as emulator:
        yield emulator


def client(emu: Emulator, **kwargs: object) -> WorkspaceClient:
    options = {"host": emu.url, "token": emu.token, "auth_type": "pat", **kwargs}
    return WorkspaceClient(**options)  # type: ignore[arg-type]


def test_create_and_wait_get_list_events_delete(emu: Emulator) -> None:
    w = client(emu)
    cluster = w.clusters.create_and_wait(
        cluster_name="sdk",
        spark_version="15.4.x-scala2.12",
        node_type_id="r4.xlarge",
        autoscale=AutoScale(min_workers=1, max_workers=2),
        aws_attributes=AwsAttributes(availability=AwsAvailability.SPOT_WITH_FALLBACK, first_on_demand=1),
        timeout=WAIT,
    )
    assert cluster.state == State.RUNNING
    assert cluster.driver is not None and cluster.driver.node_aws_attributes is not None
    assert cluster.driver.node_aws_attributes.is_spot is False
    assert [e.node_aws_attributes.is_spot for e in cluster.executors or [] if e.node_aws_attributes] == [True]
    assert cluster.default_tags is not None and cluster.default_tags["ClusterId"] == cluster.cluster_id
    assert [c.cluster_id for c in w.clusters.list()] == [cluster.cluster_id]
    types = [e.type.value for e in w.clusters.events(cluster.cluster_id) if e.type]
    assert types[-1] == "CREATING" and "RUNNING" in types
    w.clusters.delete_and_wait(cluster.cluster_id, timeout=WAIT)
    terminated = w.clusters.get(cluster.cluster_id)
    assert terminated.state == State.TERMINATED
    assert terminated.termination_reason is not None
    assert terminated.termination_reason.code is not None
    assert terminated.termination_reason.code.value == "USER_REQUEST"
    w.clusters.permanent_delete(cluster.cluster_id)
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        w.clusters.get(cluster.cluster_id)


def test_list_and_events_follow_the_pages(emu: Emulator) -> None:
    w = client(emu)
    ids = {
        w.clusters.create(
            cluster_name=f"c{i}", spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=1
        ).cluster_id
        for i in range(3)
    }
    # The SDK asks for 100 per page; make it page by listing with a small page size.
    assert {c.cluster_id for c in w.clusters.list(page_size=1)} == ids
    cluster_id = sorted(ids)[0]
    for _ in range(3):
        w.clusters.wait_get_cluster_running(cluster_id, timeout=WAIT)
        w.clusters.restart(cluster_id)
    emu.clock.time_scale = 0  # no restart may end (two more events) while the pages are read
    events = list(w.clusters.events(cluster_id, limit=2))
    assert len(events) == len(emu.events(cluster_id)) > 2


def test_typed_errors(emu: Emulator) -> None:
    w = client(emu)
    with pytest.raises(ResourceDoesNotExist):
        w.clusters.get("0101-000000-nothere0")
    with pytest.raises(InvalidParameterValue, match="Invalid spark version"):
        w.clusters.create(cluster_name="x", spark_version="99.x", node_type_id="i3.xlarge", num_workers=1)
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        list(client(emu, token="wrong").clusters.list())


def test_rate_limit_is_ridden_out_after_retry_after(emu: Emulator) -> None:
    emu.add_fault("rate_limit", path="/clusters/list", times=2, retry_after=1)
    started = time.monotonic()
    assert list(client(emu).clusters.list()) == []
    waited = time.monotonic() - started
    assert waited >= 2.0  # two 429 answers, each asking for 1 s
    statuses = [r["status"] for r in emu.request_log if r["path"].endswith("/clusters/list")]
    assert statuses == [429, 429, 200]


def test_oauth_machine_to_machine(emu: Emulator) -> None:
    emu.add_oauth_client("sp-client", "sp-secret")
    w = WorkspaceClient(host=emu.url, client_id="sp-client", client_secret="sp-secret", auth_type="oauth-m2m")
    assert w.current_user.me().user_name == "sp-client"
    assert any(r["path"] == "/oidc/v1/token" and r["status"] == 200 for r in emu.request_log)


def test_oauth_wrong_secret_is_reported_as_oauth_reports_it(emu: Emulator) -> None:
    emu.add_oauth_client("sp-client", "sp-secret")
    # The SDK turns the token endpoint's {"error", "error_description"} into "error: description".
    with pytest.raises(ValueError, match="invalid_client: Client authentication failed"):
        w = WorkspaceClient(host=emu.url, client_id="sp-client", client_secret="wrong", auth_type="oauth-m2m")
        w.current_user.me()
    assert any(r["path"] == "/oidc/v1/token" and r["status"] == 401 for r in emu.request_log)


def test_init_script_events_parse_into_typed_details(emu: Emulator) -> None:
    w = client(emu)
    scripts = [
        InitScriptInfo(s3=S3StorageInfo(destination="s3://init-bucket/setup.sh", region="ap-southeast-1")),
        InitScriptInfo(workspace=WorkspaceStorageInfo(destination="/Shared/init/install-drivers.sh")),
    ]
    cluster = w.clusters.create_and_wait(
        cluster_name="with-init-scripts",
        spark_version="15.4.x-scala2.12",
        node_type_id="i3.xlarge",
        num_workers=1,
        init_scripts=scripts,
        timeout=WAIT,
    )
    kinds = [EventType.INIT_SCRIPTS_STARTED, EventType.INIT_SCRIPTS_FINISHED]
    finished, started = w.clusters.events(cluster.cluster_id, event_types=kinds)
    assert started.details is not None and started.details.init_scripts is not None
    assert started.details.init_scripts.cluster is not None
    assert [s.s3 or s.workspace for s in started.details.init_scripts.cluster] == [
        scripts[0].s3,
        scripts[1].workspace,
    ]
    assert finished.details is not None and finished.details.init_scripts is not None
    details = finished.details.init_scripts
    assert cluster.driver is not None and details.reported_for_node == cluster.driver.private_ip
    assert details.cluster is not None
    assert [d.status for d in details.cluster] == [
        InitScriptExecutionDetailsInitScriptExecutionStatus.SUCCEEDED
    ] * 2
    assert [d.execution_duration_seconds for d in details.cluster] == [0, 0]  # 0.4 s to start, all in all
    assert details.cluster[1].workspace == scripts[1].workspace
