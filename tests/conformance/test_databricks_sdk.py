"""databricks-sdk, a client nobody here wrote, run unchanged against the emulator as a user runs it.

Each test makes the SDK's documented calls (``WorkspaceClient(host=..., token=..., auth_type="pat")``)
and checks what it hands back, which is what a user's code would see from a real workspace.

Two clocks (``conftest.py``): ``live_emu`` runs in real time with sub-second transitions, only for the
SDK's own ``*_and_wait`` calls, which poll the wall clock; everything else runs on ``emu``'s stopped
clock and moves emulated time itself (``advance_until``), so no test depends on how fast the machine is.
A paging test bounds the requests it allows (``at_most``): a server that keeps answering "another page"
fails the test at once instead of looping for good.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.credentials_provider import CredentialsProvider, CredentialsStrategy
from databricks.sdk.errors import (
    DatabricksError,
    InvalidParameterValue,
    InvalidState,
    PermissionDenied,
    ResourceDoesNotExist,
    Unauthenticated,
)
from databricks.sdk.service.compute import (
    AutoScale,
    AwsAttributes,
    AwsAvailability,
    ClusterDetails,
    ClusterEvent,
    ClusterLogConf,
    ClustersAPI,
    ClusterSize,
    DockerBasicAuth,
    DockerImage,
    EventType,
    GetEventsOrder,
    InitScriptExecutionDetailsInitScriptExecutionStatus,
    InitScriptInfo,
    ListClustersFilterBy,
    ListClustersSortBy,
    ListClustersSortByDirection,
    ListClustersSortByField,
    S3StorageInfo,
    State,
    WorkspaceStorageInfo,
)
from databricks.sdk.service.jobs import (
    Run,
    RunLifeCycleState,
    RunResultState,
    RunType,
    SparkPythonTask,
    SubmitTask,
)

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.validation import KNOWN_KEYS

#: How long an SDK wait may take: a generous bound for a start of 0.4 s on a loaded machine.
WAIT = timedelta(seconds=120)
RUNTIME = "15.4.x-scala2.12"
NODE = "i3.xlarge"
#: The cluster policy the emulated workspace offers (``policies/clusters/list``).
POLICY_ID = "E0123456789ABCDE"
#: Emulated seconds ``advance_until`` lets pass before it gives up.
WITHIN = 60.0
STEP = 0.05

T = TypeVar("T")


@pytest.fixture(autouse=True)
def no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads ``DATABRICKS_*`` variables on top of what it is given: a developer's own workspace
    settings must not leak into a test (nor a test of another client's, e.g. the legacy CLI's)."""
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


def client(emu: Emulator, **kwargs: Any) -> WorkspaceClient:
    """A client as a user makes one with a personal access token (``kwargs`` override)."""
    options: dict[str, Any] = {"host": emu.url, "token": emu.token, "auth_type": "pat", **kwargs}
    return WorkspaceClient(**options)


def requests_to(emu: Emulator, path: str) -> int:
    """How many requests to an API path (``/clusters/list``) the emulator has answered."""
    return sum(1 for r in emu.request_log if r["path"].endswith(path))


@contextmanager
def at_most(emu: Emulator, path: str, requests: int) -> Iterator[None]:
    """Allow at most ``requests`` requests to ``path`` in the block: the next one is answered 400, which
    the SDK raises at once, so a paging loop ends the test in a few requests instead of never."""
    before = requests_to(emu, path)
    guard = emu.add_fault("status", path=path, nth=requests + 1, status=400)
    try:
        yield
    except DatabricksError:
        sent = requests_to(emu, path) - before
        if sent > requests:
            pytest.fail(f"the SDK sent more than {requests} requests to {path}: the paging never ends")
        raise
    finally:
        guard.times = 0  # spent: later requests to the path are answered as usual


def advance_until(emu: Emulator, read: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Move the stopped clock in small steps until ``done(read())``; fail past a minute of emulated time."""
    waited = 0.0
    while True:
        value = read()
        if done(value):
            return value
        assert waited < WITHIN, f"not done after {WITHIN} emulated seconds: {value}"
        emu.advance(STEP)
        waited += STEP


def running(emu: Emulator, w: WorkspaceClient, cluster_id: str) -> ClusterDetails:
    """The cluster once it is RUNNING, emulated time moved on until it is."""
    return advance_until(emu, lambda: w.clusters.get(cluster_id), lambda c: c.state == State.RUNNING)


def terminated(emu: Emulator, w: WorkspaceClient, cluster_id: str) -> ClusterDetails:
    return advance_until(emu, lambda: w.clusters.get(cluster_id), lambda c: c.state == State.TERMINATED)


def ended(emu: Emulator, w: WorkspaceClient, run_id: int) -> Run:
    """The run once it has ended, emulated time moved on until it has."""

    def is_over(run: Run) -> bool:
        assert run.state is not None
        return run.state.life_cycle_state in (RunLifeCycleState.TERMINATED, RunLifeCycleState.INTERNAL_ERROR)

    return advance_until(emu, lambda: w.jobs.get_run(run_id), is_over)


def known(*path: str) -> set[str]:
    """The fields the emulated workspace (and, by tests/unit/emulator/test_known_fields.py, the plugin)
    knows at ``path`` in a create body: ``known("init_scripts", "s3")``."""
    keys: Any = KNOWN_KEYS
    for part in path:
        keys = keys[part]
        keys = keys[0] if isinstance(keys, list) else keys
    return set(keys)


def test_every_field_this_sdk_can_send_in_a_create_or_edit_is_known() -> None:
    # Else the emulator refuses an SDK user's valid create, and the plugin a valid cluster_json. A failure
    # here after a databricks-sdk upgrade means the API grew a field: add it to both tables
    # (cluster_spec/fields.py, emulator/validation.py).
    for method in (ClustersAPI.create, ClustersAPI.edit):
        assert set(inspect.signature(method).parameters) - {"self", "cluster_id"} <= known()
    objects: dict[tuple[str, ...], type] = {
        ("aws_attributes",): AwsAttributes,
        ("autoscale",): AutoScale,
        ("docker_image",): DockerImage,
        ("docker_image", "basic_auth"): DockerBasicAuth,
        ("init_scripts",): InitScriptInfo,
        ("init_scripts", "s3"): S3StorageInfo,
        ("init_scripts", "workspace"): WorkspaceStorageInfo,
        ("cluster_log_conf",): ClusterLogConf,
        ("cluster_log_conf", "s3"): S3StorageInfo,
    }
    for path, sdk_class in objects.items():
        assert {field.name for field in dataclasses.fields(sdk_class)} <= known(*path), path


def test_an_unknown_field_comes_back_to_an_sdk_user_as_the_workspace_refused_it(emu: Emulator) -> None:
    w = client(emu)
    body = {"spark_version": RUNTIME, "node_type_id": NODE, "num_workers": 1, "autotermination_minute": 30}
    with pytest.raises(DatabricksError, match="Unknown field autotermination_minute") as caught:
        w.api_client.do("POST", "/api/2.1/clusters/create", body=body)
    assert caught.value.error_code == "MALFORMED_REQUEST"


def create(w: WorkspaceClient, name: str, **spec: Any) -> str:
    """Ask for a cluster without waiting for it (the SDK's ``create`` returns at once)."""
    options: dict[str, Any] = {"spark_version": RUNTIME, "node_type_id": NODE, "num_workers": 1, **spec}
    cluster_id = w.clusters.create(cluster_name=name, **options).cluster_id
    assert cluster_id is not None
    return cluster_id


def running_cluster(w: WorkspaceClient, name: str) -> str:
    """A new cluster, once the SDK's own wait has seen it RUNNING (``live_emu`` only)."""
    cluster = w.clusters.create_and_wait(
        cluster_name=name, spark_version=RUNTIME, node_type_id=NODE, num_workers=1, timeout=WAIT
    )
    assert cluster.state == State.RUNNING and cluster.cluster_id is not None
    return cluster.cluster_id


def python_task(cluster_id: str, key: str = "main") -> SubmitTask:
    return SubmitTask(
        task_key=key,
        existing_cluster_id=cluster_id,
        spark_python_task=SparkPythonTask(python_file="dbfs:/jobs/etl.py"),
    )


def event_key(event: ClusterEvent) -> tuple[int, str]:
    assert event.timestamp is not None and event.type is not None
    return event.timestamp, event.type.value


def emulator_events(emu: Emulator, cluster_id: str) -> list[tuple[int, str]]:
    """Every event the emulator holds for the cluster, oldest first, as ``event_key`` gives them."""
    return [(e["timestamp"], e["type"]) for e in emu.events(cluster_id)]


# -- clusters: the SDK's waits --------------------------------------------------------------------------


def test_create_and_wait_get_list_events_delete(live_emu: Emulator) -> None:
    w = client(live_emu)
    cluster = w.clusters.create_and_wait(
        cluster_name="sdk",
        spark_version=RUNTIME,
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
    gone = w.clusters.get(cluster.cluster_id)
    assert gone.state == State.TERMINATED
    assert gone.termination_reason is not None and gone.termination_reason.code is not None
    assert gone.termination_reason.code.value == "USER_REQUEST"
    w.clusters.permanent_delete(cluster.cluster_id)
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        w.clusters.get(cluster.cluster_id)
    assert list(w.clusters.list()) == []


def test_edit_and_wait_restarts_the_cluster_with_the_new_spec(live_emu: Emulator) -> None:
    w = client(live_emu)
    cluster_id = running_cluster(w, "to-edit")
    edited = w.clusters.edit_and_wait(
        cluster_id=cluster_id,
        cluster_name="edited",
        spark_version=RUNTIME,
        node_type_id=NODE,
        num_workers=2,
        custom_tags={"team": "data"},
        timeout=WAIT,
    )
    assert edited.state == State.RUNNING
    assert (edited.cluster_name, edited.num_workers, edited.custom_tags) == ("edited", 2, {"team": "data"})
    assert edited.spec is not None and edited.spec.num_workers == 2
    [event] = w.clusters.events(cluster_id, event_types=[EventType.EDITED])
    assert event.details is not None
    before, after = event.details.previous_attributes, event.details.attributes
    assert before is not None and after is not None
    assert (before.cluster_name, after.cluster_name) == ("to-edit", "edited")
    # The size is not an attribute: an edit event carries it apart, before and after.
    assert event.details.previous_cluster_size == ClusterSize(num_workers=1)
    assert event.details.cluster_size == ClusterSize(num_workers=2)
    # A running cluster that is edited restarts to take the new spec.
    assert len(list(w.clusters.events(cluster_id, event_types=[EventType.RESTARTING]))) == 1


def test_resize_and_wait_shows_the_new_size_in_the_spec_too(live_emu: Emulator) -> None:
    w = client(live_emu)
    cluster_id = running_cluster(w, "to-resize")
    resized = w.clusters.resize_and_wait(cluster_id, num_workers=3, timeout=WAIT)
    assert resized.state == State.RUNNING and resized.num_workers == 3
    assert resized.spec is not None and resized.spec.num_workers == 3
    [event] = w.clusters.events(cluster_id, event_types=[EventType.RESIZING])
    assert event.details is not None and event.details.target_num_workers == 3

    one_to_four = AutoScale(min_workers=1, max_workers=4)
    autoscaled = w.clusters.resize_and_wait(cluster_id, autoscale=one_to_four, timeout=WAIT)
    assert autoscaled.autoscale == one_to_four
    assert autoscaled.spec is not None and autoscaled.spec.autoscale == one_to_four
    assert autoscaled.spec.num_workers is None  # a size is num_workers or autoscale, never both


def test_restart_and_wait(live_emu: Emulator) -> None:
    w = client(live_emu)
    cluster_id = running_cluster(w, "to-restart")
    restarted = w.clusters.restart_and_wait(cluster_id, timeout=WAIT)
    assert restarted.state == State.RUNNING
    types = [e.type for e in w.clusters.events(cluster_id, order=GetEventsOrder.ASC)]
    assert EventType.RESTARTING in types
    assert EventType.RUNNING in types[types.index(EventType.RESTARTING) :]


def test_start_and_wait_and_ensure_cluster_is_running(live_emu: Emulator) -> None:
    w = client(live_emu)
    cluster_id = running_cluster(w, "to-start")
    w.clusters.delete_and_wait(cluster_id, timeout=WAIT)
    started = w.clusters.start_and_wait(cluster_id, timeout=WAIT)
    assert started.state == State.RUNNING and started.termination_reason is None
    assert requests_to(live_emu, "/clusters/start") == 1

    w.clusters.ensure_cluster_is_running(cluster_id)  # running already: nothing to do
    assert requests_to(live_emu, "/clusters/start") == 1

    w.clusters.delete_and_wait(cluster_id, timeout=WAIT)
    w.clusters.ensure_cluster_is_running(cluster_id)  # terminated: started, and waited for
    assert w.clusters.get(cluster_id).state == State.RUNNING
    assert requests_to(live_emu, "/clusters/start") == 2


def test_init_script_events_parse_into_typed_details(live_emu: Emulator) -> None:
    w = client(live_emu)
    scripts = [
        InitScriptInfo(s3=S3StorageInfo(destination="s3://init-bucket/setup.sh", region="ap-southeast-1")),
        InitScriptInfo(workspace=WorkspaceStorageInfo(destination="/Shared/init/install-drivers.sh")),
    ]
    cluster = w.clusters.create_and_wait(
        cluster_name="with-init-scripts",
        spark_version=RUNTIME,
        node_type_id=NODE,
        num_workers=1,
        init_scripts=scripts,
        timeout=WAIT,
    )
    kinds = [EventType.INIT_SCRIPTS_STARTED, EventType.INIT_SCRIPTS_FINISHED]
    finished, started = w.clusters.events(str(cluster.cluster_id), event_types=kinds)
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


# -- clusters: states without waiting, list, pin --------------------------------------------------------


def test_edit_of_a_terminated_cluster_keeps_it_terminated(emu: Emulator) -> None:
    w = client(emu)
    cluster_id = create(w, "idle")
    running(emu, w, cluster_id)
    w.clusters.delete(cluster_id)
    terminated(emu, w, cluster_id)
    w.clusters.edit(cluster_id=cluster_id, spark_version=RUNTIME, node_type_id=NODE, num_workers=4)
    cluster = w.clusters.get(cluster_id)
    assert (cluster.state, cluster.num_workers) == (State.TERMINATED, 4)


def test_list_filters_by_state_pin_and_policy(emu: Emulator) -> None:
    w = client(emu)
    plain, pinned, with_policy, deleted = (
        create(w, "plain"),
        create(w, "pinned"),
        create(w, "with-policy", policy_id=POLICY_ID),
        create(w, "deleted"),
    )
    for cluster_id in (plain, pinned, with_policy, deleted):
        running(emu, w, cluster_id)
    w.clusters.delete(deleted)
    terminated(emu, w, deleted)
    w.clusters.pin(pinned)

    def ids(**filters: Any) -> set[str | None]:
        return {c.cluster_id for c in w.clusters.list(filter_by=ListClustersFilterBy(**filters))}

    assert ids(cluster_states=[State.RUNNING]) == {plain, pinned, with_policy}
    assert ids(cluster_states=[State.TERMINATED]) == {deleted}
    assert ids(cluster_states=[State.RUNNING, State.TERMINATED]) == {plain, pinned, with_policy, deleted}
    assert ids(cluster_states=[State.PENDING]) == set()
    assert ids(is_pinned=True) == {pinned}
    assert ids(is_pinned=False) == {plain, with_policy, deleted}
    assert ids(policy_id=POLICY_ID) == {with_policy}
    assert ids(cluster_states=[State.RUNNING], is_pinned=False) == {plain, with_policy}


def test_pin_and_unpin(emu: Emulator) -> None:
    w = client(emu)
    cluster_id = create(w, "to-pin")
    pinned = ListClustersFilterBy(is_pinned=True)
    w.clusters.pin(cluster_id)
    assert [c.cluster_id for c in w.clusters.list(filter_by=pinned)] == [cluster_id]
    emu.advance(1)  # the two events at two moments, so that newest first is one order
    w.clusters.unpin(cluster_id)
    assert list(w.clusters.list(filter_by=pinned)) == []
    kinds = [EventType.PINNED, EventType.UNPINNED]
    assert [e.type for e in w.clusters.events(cluster_id, event_types=kinds)] == kinds[::-1]


def test_list_sorts_by_name(emu: Emulator) -> None:
    w = client(emu)
    for name in ("beta", "gamma", "alpha"):
        create(w, name)
        emu.advance(1)  # each its own start_time, in another order than their names

    def names(field: ListClustersSortByField, direction: ListClustersSortByDirection) -> list[str | None]:
        sort = ListClustersSortBy(field=field, direction=direction)
        return [c.cluster_name for c in w.clusters.list(sort_by=sort)]

    by_name = ListClustersSortByField.CLUSTER_NAME
    assert names(by_name, ListClustersSortByDirection.ASC) == ["alpha", "beta", "gamma"]
    assert names(by_name, ListClustersSortByDirection.DESC) == ["gamma", "beta", "alpha"]
    # DEFAULT sorts by state, then pinned or not, then name: all three are PENDING and unpinned here.
    by_default = ListClustersSortByField.DEFAULT
    assert names(by_default, ListClustersSortByDirection.ASC) == ["alpha", "beta", "gamma"]


def test_list_follows_every_paging_style(emu: Emulator) -> None:
    w = client(emu)
    made = {create(w, f"c{i}") for i in range(5)}
    path = "/clusters/list"

    def listed(**kwargs: Any) -> list[str]:
        return [str(c.cluster_id) for c in w.clusters.list(**kwargs)]

    before = requests_to(emu, path)
    with at_most(emu, path, 1):
        assert sorted(listed()) == sorted(made)  # the SDK's default: the server's page size
    assert requests_to(emu, path) - before == 1

    before = requests_to(emu, path)
    with at_most(emu, path, 3):
        paged = listed(page_size=2)
    assert sorted(paged) == sorted(made)  # every cluster once, none twice
    assert requests_to(emu, path) - before == 3

    # page_size 0 asks for the server's default page: one page here, and no token after it.
    before = requests_to(emu, path)
    with at_most(emu, path, 1):
        assert sorted(listed(page_size=0)) == sorted(made)
    assert requests_to(emu, path) - before == 1

    # A caller may resume from a token a page gave it.
    first = w.api_client.do("GET", "/api/2.1/clusters/list", query={"page_size": 2})
    assert isinstance(first, dict) and first["next_page_token"]
    with at_most(emu, path, 2):
        rest = listed(page_size=2, page_token=first["next_page_token"])
    assert sorted([c["cluster_id"] for c in first["clusters"]] + rest) == sorted(made)

    with pytest.raises(InvalidParameterValue, match="page_size"):
        listed(page_size=-1)


# -- clusters: events -----------------------------------------------------------------------------------


@pytest.fixture
def restarted_cluster(emu: Emulator) -> str:
    """A cluster that started and restarted three times: well over a dozen events, in emulated time."""
    w = client(emu)
    cluster_id = create(w, "restarted")
    running(emu, w, cluster_id)
    for _ in range(3):
        emu.advance(1)
        w.clusters.restart(cluster_id)
        running(emu, w, cluster_id)
    return cluster_id


def test_events_follow_the_pages_in_every_paging_style(emu: Emulator, restarted_cluster: str) -> None:
    w = client(emu)
    path = "/clusters/events"
    every = emulator_events(emu, restarted_cluster)
    assert len(every) > 9  # more than three pages of three
    pages = -(-len(every) // 3)

    styles: list[dict[str, Any]] = [{"page_size": 3}, {"limit": 3}]
    for style in styles:  # the current style, and the deprecated one
        before = requests_to(emu, path)
        with at_most(emu, path, pages + 1):
            events = [event_key(e) for e in w.clusters.events(restarted_cluster, **style)]
        assert requests_to(emu, path) - before >= pages, style  # one page at a time
        assert sorted(events) == sorted(every), style  # every event once
        stamps = [stamp for stamp, _ in events]
        assert stamps == sorted(stamps, reverse=True), style  # newest first by default

    with at_most(emu, path, pages + 1):
        oldest_first = list(w.clusters.events(restarted_cluster, order=GetEventsOrder.ASC, page_size=3))
    assert [event_key(e) for e in oldest_first] == every


def test_events_filter_by_type_across_pages(emu: Emulator, restarted_cluster: str) -> None:
    w = client(emu)
    with at_most(emu, "/clusters/events", 2):
        restarts = list(w.clusters.events(restarted_cluster, event_types=[EventType.RESTARTING], page_size=2))
    assert [e.type for e in restarts] == [EventType.RESTARTING] * 3
    assert all(e.cluster_id == restarted_cluster for e in restarts)


def test_an_unknown_event_type_is_refused(emu: Emulator) -> None:
    w = client(emu)
    cluster_id = create(w, "events")
    # The SDK's events() only takes its own EventType members: a newer or mistyped name comes through
    # its generic call, as a user would send it, and must be refused rather than answered with nothing.
    body = {"cluster_id": cluster_id, "event_types": ["NOT_AN_EVENT_TYPE"]}
    with pytest.raises(InvalidParameterValue, match="NOT_AN_EVENT_TYPE"):
        w.api_client.do("POST", "/api/2.1/clusters/events", body=body)


# -- clusters: what the workspace offers ----------------------------------------------------------------


def test_what_the_sdk_selects_the_workspace_accepts(emu: Emulator) -> None:
    w = client(emu)
    offered = {v.key: str(v.name) for v in w.clusters.spark_versions().versions or []}
    lts = w.clusters.select_spark_version(long_term_support=True)
    assert "LTS" in offered[lts]
    assert "-photon-" in w.clusters.select_spark_version(long_term_support=True, photon=True)
    assert "-ml-" in w.clusters.select_spark_version(long_term_support=True, ml=True)

    node_types = {n.node_type_id: n for n in w.clusters.list_node_types().node_types or []}
    node = w.clusters.select_node_type(local_disk=True)
    chosen = node_types[node]
    assert not chosen.is_deprecated
    assert chosen.node_instance_type is not None and (chosen.node_instance_type.local_disks or 0) >= 1

    zones = w.clusters.list_zones()
    assert zones.zones and zones.default_zone in zones.zones
    zone = zones.zones[-1]

    cluster_id = w.clusters.create(
        cluster_name="selected",
        spark_version=lts,
        node_type_id=node,
        num_workers=1,
        aws_attributes=AwsAttributes(zone_id=zone),
    ).cluster_id
    cluster = running(emu, w, str(cluster_id))
    assert (cluster.spark_version, cluster.node_type_id) == (lts, node)
    assert cluster.aws_attributes is not None and cluster.aws_attributes.zone_id == zone


# -- jobs: one-time runs --------------------------------------------------------------------------------


def test_submit_and_wait_on_an_existing_cluster(live_emu: Emulator) -> None:
    w = client(live_emu)
    cluster_id = running_cluster(w, "for-runs")
    run = w.jobs.submit_and_wait(run_name="etl", tasks=[python_task(cluster_id)], timeout=WAIT)
    assert run.state is not None
    assert (run.state.life_cycle_state, run.state.result_state) == (
        RunLifeCycleState.TERMINATED,
        RunResultState.SUCCESS,
    )
    assert run.run_type == RunType.SUBMIT_RUN and run.run_name == "etl"
    assert run.run_page_url is not None and run.run_page_url.startswith(live_emu.url)
    [task] = run.tasks or []
    assert task.task_key == "main" and task.run_id is not None and task.run_id != run.run_id
    output = w.jobs.get_run_output(task.run_id)
    assert output.error is None
    assert output.metadata is not None and output.metadata.run_id == task.run_id


def test_a_failing_run_shows_its_task_error_in_the_task_output(emu: Emulator) -> None:
    w = client(emu)
    cluster_id = create(w, "for-a-failing-run")
    emu.set_scenario("run_failure", message="ZeroDivisionError: division by zero")
    run_id = w.jobs.submit(run_name="fails", tasks=[python_task(cluster_id)]).run_id
    assert run_id is not None
    run = ended(emu, w, run_id)
    # The SDK's own wait sees the end at its first look (nothing is left to wait for).
    assert w.jobs.wait_get_run_job_terminated_or_skipped(run_id, timeout=WAIT).state == run.state
    assert run.state is not None and run.state.result_state == RunResultState.FAILED
    [task] = run.tasks or []
    assert task.run_id is not None
    output = w.jobs.get_run_output(task.run_id)
    assert output.error is not None and "ZeroDivisionError: division by zero" in output.error
    assert output.error_trace is not None and "ZeroDivisionError" in output.error_trace


def test_cancel_run_and_wait(emu: Emulator) -> None:
    w = client(emu)
    cluster_id = create(w, "never-ready")  # the clock stands still: the run waits for its cluster
    run_id = w.jobs.submit(run_name="to-cancel", tasks=[python_task(cluster_id)]).run_id
    assert run_id is not None
    pending = w.jobs.get_run(run_id)
    assert pending.state is not None and pending.state.life_cycle_state == RunLifeCycleState.PENDING
    cancelled = w.jobs.cancel_run_and_wait(run_id, timeout=WAIT)
    assert cancelled.state is not None
    assert (cancelled.state.life_cycle_state, cancelled.state.result_state) == (
        RunLifeCycleState.TERMINATED,
        RunResultState.CANCELED,
    )
    assert cancelled.state.user_cancelled_or_timedout is True


def test_list_runs_filters_and_pages(emu: Emulator) -> None:
    w = client(emu)
    cluster_id = create(w, "for-many-runs")
    running(emu, w, cluster_id)
    finished: list[int] = []
    for name in ("first", "second"):
        run_id = w.jobs.submit(run_name=name, tasks=[python_task(cluster_id)]).run_id
        assert run_id is not None
        ended(emu, w, run_id)
        finished.append(run_id)
        emu.advance(1)  # each run its own start_time
    active = w.jobs.submit(run_name="third", tasks=[python_task(cluster_id)]).run_id  # the clock stands still
    first, second = (w.jobs.get_run(run_id) for run_id in finished)
    newest_first = [active, *finished[::-1]]

    def listed(**filters: Any) -> list[int | None]:
        return [r.run_id for r in w.jobs.list_runs(**filters)]

    assert listed() == newest_first
    path = "/jobs/runs/list"
    before = requests_to(emu, path)
    with at_most(emu, path, 2):
        assert listed(limit=2) == newest_first
    assert requests_to(emu, path) - before == 2
    assert listed(active_only=True) == [active]
    assert listed(completed_only=True) == finished[::-1]
    assert listed(run_type=RunType.SUBMIT_RUN) == newest_first
    assert listed(start_time_from=second.start_time) == [active, finished[1]]
    assert listed(start_time_to=second.start_time) == finished[::-1]
    assert listed(start_time_to=first.start_time) == [finished[0]]
    expanded = list(w.jobs.list_runs(expand_tasks=True))
    assert [[t.task_key for t in r.tasks or []] for r in expanded] == [["main"]] * 3


# -- errors and authentication --------------------------------------------------------------------------


class NoCredentials(CredentialsStrategy):
    """A client that sends no credentials at all (the SDK's own extension point for authentication)."""

    def auth_type(self) -> str:
        return "none"

    def __call__(self, cfg: Config) -> CredentialsProvider:
        return lambda: {}


def test_typed_errors(emu: Emulator) -> None:
    w = client(emu)
    with pytest.raises(ResourceDoesNotExist) as unknown:
        w.clusters.get("0101-000000-nothere0")
    assert unknown.value.error_code == "INVALID_PARAMETER_VALUE"  # a 400, which the SDK types as not found
    with pytest.raises(InvalidParameterValue, match="Invalid spark version"):
        w.clusters.create(cluster_name="x", spark_version="99.x", node_type_id=NODE, num_workers=1)
    pending = create(w, "pending")  # the clock stands still: PENDING for good
    with pytest.raises(InvalidState, match="unexpected state"):
        w.clusters.start(pending)
    with pytest.raises(ResourceDoesNotExist, match="Run 999999 does not exist"):
        w.jobs.get_run(999999)


def test_authentication_errors(emu: Emulator) -> None:
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        list(client(emu, token="wrong").clusters.list())
    nobody = WorkspaceClient(host=emu.url, credentials_strategy=NoCredentials())
    with pytest.raises(Unauthenticated, match="Credential was not sent"):
        list(nobody.clusters.list())
    assert [r["status"] for r in emu.request_log if r["path"].endswith("/clusters/list")] == [403, 401]


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
    cluster_id = create(w, "by-a-service-principal")
    assert w.clusters.get(cluster_id).creator_user_name == "sp-client"
    assert any(r["path"] == "/oidc/v1/token" and r["status"] == 200 for r in emu.request_log)


def test_oauth_wrong_secret_is_reported_as_oauth_reports_it(emu: Emulator) -> None:
    emu.add_oauth_client("sp-client", "sp-secret")
    # The SDK turns the token endpoint's {"error", "error_description"} into "error: description".
    with pytest.raises(ValueError, match="invalid_client: Client authentication failed"):
        w = WorkspaceClient(host=emu.url, client_id="sp-client", client_secret="wrong", auth_type="oauth-m2m")
        w.current_user.me()
    assert any(r["path"] == "/oidc/v1/token" and r["status"] == 401 for r in emu.request_log)
