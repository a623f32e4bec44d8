"""The Clusters page's API in process, against a real emulator over HTTP and a real auth manager.

The app is ``fleet.page.create_app`` as the plugin mounts it; callers authenticate with JWTs the auth
manager minted, as the UI's session does. The task instance states come from a table given to the app
(``lookups``), so that each test can say what Airflow knows; the metadata-database query the API server
uses instead is ``test_task_instance_states.py``'s, and the system tests run the whole page in a real
Airflow.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.fleet.reader import FleetReader
from airflow_databricks_clusters.fleet.sweep_policy import Lookup, RunStatus, TaskInstanceRef

SECRET = "s3cr3t-registry-password"


class Clock:
    """The page cache's clock, moved by the test (no test here waits on real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def auth_manager(airflow_db: None) -> Iterator[Any]:
    """The test auth manager; token checks read the metadata database (revoked tokens)."""
    env = {
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.integration.fleet.dag_scoped_auth.DagScopedAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reader:viewer,editor:user,stranger:user",
        "AIRFLOW__API_AUTH__JWT_SECRET": "a-test-secret-of-at-least-thirty-two-bytes-long-000",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    from airflow.api_fastapi.app import create_auth_manager

    manager = create_auth_manager()
    yield manager
    from airflow.api_fastapi.app import _AuthManagerState

    _AuthManagerState.instance = None
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def bearer(manager: Any, name: str) -> dict[str, str]:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    role = {"reader": "viewer", "editor": "user", "stranger": "user"}[name]
    return {
        "Authorization": f"Bearer {manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))}"
    }


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(start_seconds=2, time_scale=0) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        yield emu


def create(emu: Emulator, dag_id: str | None, run_id: str = "manual__1", **extra: Any) -> str:
    tags = {"team": "data"}
    if dag_id:
        tags |= {"airflow_dag_id": dag_id, "airflow_task_id": "create_cluster", "airflow_run_id": run_id,
                 "airflow_map_index": "-1"}  # fmt: skip
    spec = {"cluster_name": f"c-{dag_id}-{run_id}", "spark_version": "15.4.x-scala2.12",
            "node_type_id": "r5d.xlarge", "num_workers": 1, "custom_tags": tags, **extra}  # fmt: skip
    answer = requests.post(
        f"{emu.url}/api/2.0/clusters/create", headers={"Authorization": f"Bearer {emu.token}"}, json=spec
    )
    answer.raise_for_status()
    return str(answer.json()["cluster_id"])


def page(
    lookups: dict[TaskInstanceRef, Lookup] | None = None, clock: Clock | None = None
) -> tuple[Any, FleetReader]:
    from airflow_databricks_clusters.fleet.page import create_app

    reader = FleetReader(["databricks_default"], max_age_seconds=15, clock=clock or Clock())
    table = lookups or {}
    app = create_app(reader, lambda refs: {ref: table[ref] for ref in refs if ref in table})
    return TestClient(app), reader


def table(client: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    """One page of the table once every workspace's read is complete (a first read publishes its live
    clusters before it lists the terminated ones)."""
    deadline = time.monotonic() + 60
    while True:
        answer = client.get("/api/clusters", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if all(w["complete"] for w in body["workspaces"]):
            return body
        assert time.monotonic() < deadline, f"the workspace read never completed: {body['workspaces']}"
        time.sleep(0.1)


def rows(client: Any, headers: dict[str, str], **params: Any) -> dict[str, dict[str, Any]]:
    return {row["cluster_id"]: row for row in table(client, headers, **params)["clusters"]}


@pytest.mark.parametrize("multi_team", [False, True], ids=["one team", "multi-team"])
def test_a_user_sees_only_the_clusters_of_dags_they_may_read(
    auth_manager: Any, emulator: Emulator, multi_team: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With teams on, the page asks the auth manager per team (the DAGs' teams read from the database).
    monkeypatch.setenv("AIRFLOW__CORE__MULTI_TEAM", str(multi_team))
    a = create(emulator, "dag_a")
    b = create(emulator, "dag_b")
    create(emulator, None)  # no task instance tags: not this plugin's
    client, _ = page()
    seen = rows(client, bearer(auth_manager, "reader"))
    assert set(seen) == {a}
    assert seen[a]["dag_id"] == "dag_a" and seen[a]["run_id"] == "manual__1"
    assert seen[a]["task_id"] == "create_cluster" and seen[a]["state"] == "PENDING"
    assert seen[a]["can_terminate"] is False
    assert rows(client, bearer(auth_manager, "editor"))[a]["can_terminate"] is True
    assert set(rows(client, bearer(auth_manager, "stranger"))) == {b}


def test_without_a_token_nothing_is_shown(auth_manager: Any, emulator: Emulator) -> None:
    create(emulator, "dag_a")
    client, _ = page()
    assert client.get("/api/clusters").status_code == 401
    assert client.post("/api/clusters/databricks_default/x/terminate", json={}).status_code == 401


def test_terminate_needs_edit_permission_on_the_dag(auth_manager: Any, emulator: Emulator) -> None:
    a = create(emulator, "dag_a")
    client, _ = page()
    url = f"/api/clusters/databricks_default/{a}/terminate"
    refused = client.post(url, json={}, headers=bearer(auth_manager, "reader"))
    assert refused.status_code == 403 and "dag_a" in refused.json()["detail"]
    hidden = client.post(url, json={}, headers=bearer(auth_manager, "stranger"))
    assert hidden.status_code == 404
    assert emulator.clusters[a]["state"] == "PENDING"
    done = client.post(url, json={}, headers=bearer(auth_manager, "editor"))
    assert done.status_code == 200 and done.json() == {"cluster_id": a, "state": "TERMINATING"}
    assert emulator.clusters[a]["state"] in ("TERMINATING", "TERMINATED")
    # The page reads the workspace again after a terminate, whatever its cache says.
    assert rows(client, bearer(auth_manager, "editor"))[a]["state"] in ("TERMINATING", "TERMINATED")


def test_terminate_refuses_what_a_cross_site_form_could_send(auth_manager: Any, emulator: Emulator) -> None:
    a = create(emulator, "dag_a")
    client, _ = page()
    answer = client.post(
        f"/api/clusters/databricks_default/{a}/terminate",
        content="x=1",
        headers={**bearer(auth_manager, "editor"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 415
    assert emulator.clusters[a]["state"] == "PENDING"


def test_terminate_refuses_a_cluster_that_is_not_the_plugins(auth_manager: Any, emulator: Emulator) -> None:
    untagged = create(emulator, None)
    client, _ = page()
    headers = bearer(auth_manager, "editor")
    assert (
        client.post(
            f"/api/clusters/databricks_default/{untagged}/terminate", json={}, headers=headers
        ).status_code
        == 404
    )
    assert client.post("/api/clusters/other_conn/x/terminate", json={}, headers=headers).status_code == 404
    assert (
        client.post(
            "/api/clusters/databricks_default/0000-nope/terminate", json={}, headers=headers
        ).status_code
        == 404
    )
    assert emulator.clusters[untagged]["state"] == "PENDING"


def test_many_page_loads_share_one_workspace_read(auth_manager: Any, emulator: Emulator) -> None:
    create(emulator, "dag_a")
    clock = Clock()
    client, reader = page(clock=clock)
    headers = bearer(auth_manager, "reader")
    rows(client, headers)
    served = emulator.stats()["requests"]
    for _ in range(20):
        rows(client, headers)
    assert reader.reads == 1
    assert emulator.stats()["requests"] == served
    clock.now += 16  # past cache_seconds: the next load reads the workspace again
    rows(client, headers)
    assert reader.reads == 2


def test_concurrent_page_loads_make_one_read_and_a_terminate_is_never_hidden_by_an_older_read(
    auth_manager: Any, emulator: Emulator
) -> None:
    a = create(emulator, "dag_a")
    # Each list call takes a real second, so the loads below overlap the read under way.
    emulator.add_fault("delay", path="clusters/list", delay=1.0)
    client, reader = page()
    headers = bearer(auth_manager, "editor")
    start = threading.Barrier(8)
    answers: list[dict[str, dict[str, Any]]] = []

    def load() -> None:
        start.wait()
        answers.append(rows(client, headers))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 8 and all(a in answer for answer in answers)
    assert reader.reads == 1

    # A read that began before a terminate is read again, not kept: the page never shows it live.
    reading = threading.Thread(target=lambda: reader.snapshot("databricks_default"))
    reader.invalidate("databricks_default")
    reading.start()
    done = client.post(f"/api/clusters/databricks_default/{a}/terminate", json={}, headers=headers)
    assert done.status_code == 200
    reading.join(timeout=120)
    assert rows(client, headers)[a]["state"] in ("TERMINATING", "TERMINATED")


def test_orphaned_clusters_are_the_ones_the_sweep_would_terminate(
    auth_manager: Any, emulator: Emulator
) -> None:
    failed = create(emulator, "dag_a", "run_failed")
    running = create(emulator, "dag_a", "run_running")
    finished = create(emulator, "dag_a", "run_done")
    lookups = {
        TaskInstanceRef("dag_a", "create_cluster", "run_failed", -1): Lookup.of_task(
            "failed", RunStatus.FINISHED
        ),
        TaskInstanceRef("dag_a", "create_cluster", "run_running", -1): Lookup.of_task(
            "success", RunStatus.ACTIVE
        ),
        TaskInstanceRef("dag_a", "create_cluster", "run_done", -1): Lookup.of_task(
            "success", RunStatus.FINISHED
        ),
    }
    client, _ = page(lookups)
    seen = rows(client, bearer(auth_manager, "reader"))
    assert seen[failed]["orphaned"] is True and "failed" in seen[failed]["verdict"]
    assert seen[running]["orphaned"] is False
    assert seen[finished]["orphaned"] is True
    assert seen[failed]["task_state"] == "failed"


def test_no_secret_reaches_the_browser(auth_manager: Any, emulator: Emulator) -> None:
    a = create(
        emulator,
        "dag_a",
        docker_image={"url": "repo/img:1", "basic_auth": {"username": "u", "password": SECRET}},
        spark_env_vars={"DB_PASSWORD": SECRET},
    )
    client, _ = page()
    answer = client.get("/api/clusters", headers=bearer(auth_manager, "editor"))
    assert a in answer.text
    assert SECRET not in answer.text
    assert emulator.token not in answer.text
    assert SECRET not in client.get("/", headers=bearer(auth_manager, "editor")).text


def test_a_workspace_that_cannot_be_read_is_shown_as_such(auth_manager: Any, emulator: Emulator) -> None:
    create(emulator, "dag_a")
    emulator.add_fault("status", path="clusters/list", status=403)
    client, _ = page()
    answer = client.get("/api/clusters", headers=bearer(auth_manager, "reader")).json()
    assert answer["clusters"] == []
    (workspace,) = answer["workspaces"]
    assert workspace["conn_id"] == "databricks_default"
    assert "PermissionDenied" in workspace["error"]
    assert emulator.token not in workspace["error"]


# -- at a fleet's size: a read costs the list, a page is one page, a row's events are read when opened ------


def fleet(emu: Emulator, live: int, ended: int, dag_ids: tuple[str, ...] = ("dag_a", "dag_b")) -> list[str]:
    """``live`` + ``ended`` clusters of this plugin (made in process: only the page's requests are HTTP)."""
    made = []
    for n in range(live + ended):
        dag_id = dag_ids[n % len(dag_ids)]
        tags = {"airflow_dag_id": dag_id, "airflow_task_id": "create_cluster", "airflow_run_id": f"run_{n}",
                "airflow_map_index": "-1"}  # fmt: skip
        spec = {"cluster_name": f"fleet-{n:04d}", "spark_version": "15.4.x-scala2.12",
                "node_type_id": "r5d.xlarge", "num_workers": 1, "custom_tags": tags}  # fmt: skip
        made.append(str(emu.workspace.clusters_create(spec)["cluster_id"]))
    for cluster_id in made[live:]:
        emu.workspace.clusters_delete({"cluster_id": cluster_id})
    emu.advance(600)
    return made


def requests_to(emu: Emulator, since: int, path: str) -> int:
    return sum(1 for r in emu.request_log[since:] if r["path"].endswith(path))


def test_a_read_costs_the_lists_pages_not_an_events_call_per_cluster(
    auth_manager: Any, emulator: Emulator
) -> None:
    made = fleet(emulator, live=120, ended=130, dag_ids=("dag_a",))
    client, reader = page()
    before = len(emulator.request_log)
    body = table(client, bearer(auth_manager, "editor"), per_page=25)
    # 250 clusters at 100 a page: 2 pages of live ones, 2 of terminated ones, and who the connection is.
    assert requests_to(emulator, before, "clusters/list") == 4
    assert requests_to(emulator, before, "scim/v2/Me") == 1
    assert requests_to(emulator, before, "clusters/events") == 0
    assert len(emulator.request_log) - before == 5 and reader.reads == 1
    assert body["counts"] == {"clusters": 250, "live": 120, "orphaned": 0}
    assert (body["matching"], body["pages"], len(body["clusters"])) == (250, 10, 25)
    # Live first, then the most recently started; the page shows what the list says of each.
    shown = body["clusters"]
    assert all(row["live"] for row in shown) and shown[0]["cluster_id"] in made[:120]
    assert shown[0]["workers_on_spot"] is not None and "nodes_lost" not in shown[0]


def test_the_page_filters_sorts_and_pages_across_the_whole_fleet(
    auth_manager: Any, emulator: Emulator
) -> None:
    made = fleet(emulator, live=30, ended=70)
    orphan_ref = TaskInstanceRef("dag_a", "create_cluster", "run_4", -1)
    ended_ref = TaskInstanceRef("dag_a", "create_cluster", "run_50", -1)
    asked: list[set[TaskInstanceRef]] = []
    table_of = {
        orphan_ref: Lookup.of_task("failed", RunStatus.FINISHED),
        ended_ref: Lookup.of_task("success", RunStatus.FINISHED),
    }

    def lookups(refs: Any) -> dict[TaskInstanceRef, Lookup]:
        asked.append(set(refs))
        return {ref: table_of[ref] for ref in refs if ref in table_of}

    from airflow_databricks_clusters.fleet.page import create_app

    reader = FleetReader(["databricks_default"], max_age_seconds=15, clock=Clock())
    client = TestClient(create_app(reader, lookups))
    headers = bearer(auth_manager, "editor")

    only = table(client, headers, orphaned="true")
    assert [row["cluster_id"] for row in only["clusters"]] == [made[4]] and only["counts"]["orphaned"] == 1
    # The orphan rule needs the live clusters' task instances only; an ended row's is read for its page.
    assert all(len(refs) == 30 for refs in asked[::2])
    ended = table(client, headers, state="TERMINATED", dag_id="dag_a", sort="cluster", per_page=10, page=2)
    assert ended["matching"] == 35 and ended["page"] == 2
    names = [row["cluster_name"] for row in ended["clusters"]]
    assert names == sorted(names) and len(names) == 10
    assert all(row["dag_id"] == "dag_a" and row["state"] == "TERMINATED" for row in ended["clusters"])
    assert len(asked[-1]) == 10  # the page's ended rows
    with_run_50 = table(client, headers, state="TERMINATED", sort="run", order="desc", per_page=100)
    by_run = {row["run_id"]: row for row in with_run_50["clusters"]}
    assert by_run["run_50"]["task_state"] == "success" and by_run["run_50"]["orphaned"] is False
    # A user sees, and counts, only the DAGs they may read.
    assert only["counts"] == {"clusters": 50, "live": 15, "orphaned": 1}
    assert table(client, bearer(auth_manager, "stranger"))["dag_ids"] == ["dag_b"]

    refused = client.get("/api/clusters", headers=headers, params={"per_page": "5000", "sortt": "dag"})
    assert refused.status_code == 400
    assert "per_page: got '5000'" in refused.text and "sortt: got 'dag'" in refused.text


def test_an_opened_row_reads_its_events_once_and_shows_no_secret(
    auth_manager: Any, emulator: Emulator
) -> None:
    live = create(
        emulator,
        "dag_a",
        docker_image={"url": "repo/img:1", "basic_auth": {"username": "u", "password": SECRET}},
    )
    ended = create(emulator, "dag_a", "run_2")
    emulator.workspace.clusters_delete({"cluster_id": ended})
    emulator.advance(600)
    client, _ = page()
    headers = bearer(auth_manager, "editor")
    table(client, headers)
    before = len(emulator.request_log)
    opened = client.get(f"/api/clusters/databricks_default/{live}", headers=headers)
    assert opened.status_code == 200, opened.text
    detail = opened.json()
    assert detail["cluster_id"] == live and detail["events_read"] >= 1
    assert "CREATING" in [event["type"] for event in detail["last_events"]]
    assert SECRET not in opened.text and emulator.token not in opened.text
    assert len(emulator.request_log) - before == 1  # its events; the row itself came from the snapshot
    for _ in range(2):  # a terminated cluster's events no longer change: read once, then kept
        answer = client.get(f"/api/clusters/databricks_default/{ended}", headers=headers)
        assert answer.status_code == 200 and answer.json()["state"] == "TERMINATED"
    assert len(emulator.request_log) - before == 2
    # A row the user may not read is one that does not exist.
    hidden = client.get(f"/api/clusters/databricks_default/{live}", headers=bearer(auth_manager, "stranger"))
    assert hidden.status_code == 404
    assert client.get("/api/clusters/databricks_default/0000-nope", headers=headers).status_code == 404


def test_opened_rows_read_events_a_few_at_a_time(auth_manager: Any, emulator: Emulator) -> None:
    from airflow_databricks_clusters.fleet import reader as reader_module
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    made = fleet(emulator, live=12, ended=0)
    emulator.add_fault("delay", path="clusters/events", delay=0.3)
    at_once = {"now": 0, "most": 0}
    lock = threading.Lock()

    class CountingHook(DatabricksClustersHook):
        """The real hook, counting the events calls it has under way."""

        def get_events(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            with lock:
                at_once["now"] += 1
                at_once["most"] = max(at_once["most"], at_once["now"])
            try:
                return super().get_events(*args, **kwargs)
            finally:
                with lock:
                    at_once["now"] -= 1

    reader = FleetReader(["databricks_default"], clock=Clock(), hook_factory=CountingHook)
    snapshot = reader.wait_complete("databricks_default", 60)
    assert snapshot is not None
    threads = [
        threading.Thread(target=reader.events, args=("databricks_default", snapshot.cluster(cluster_id)))
        for cluster_id in made
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert requests_to(emulator, 0, "clusters/events") == 12
    assert at_once["most"] <= reader_module.EVENT_READS_AT_ONCE


def test_the_live_clusters_show_before_the_terminated_ones_are_listed(emulator: Emulator) -> None:
    from airflow_databricks_clusters.fleet.reader import AT_REST
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    live, ended = fleet(emulator, live=1, ended=1)
    gate = threading.Event()

    class GatedHook(DatabricksClustersHook):
        """The real hook, whose list of the clusters at rest waits for the test to open ``gate``."""

        def list_clusters(self, *, states: Any = None, tags: Any = None) -> list[dict[str, Any]]:
            if states == AT_REST:
                assert gate.wait(timeout=120)
            return super().list_clusters(states=states, tags=tags)

    clock = Clock()
    reader = FleetReader(["databricks_default"], clock=clock, hook_factory=GatedHook)
    first = reader.snapshot("databricks_default")
    assert not first.complete and [c["cluster_id"] for c in first.clusters] == [live]
    gate.set()
    done = reader.wait_complete("databricks_default", 60)
    assert done is not None and {c["cluster_id"] for c in done.clusters} == {live, ended}

    # Stale: the next request starts a read and is answered at once; while it lists the terminated
    # clusters, the previous read's are shown beside the new live ones.
    gate.clear()
    clock.now += 16
    stale = reader.snapshot("databricks_default")
    assert {c["cluster_id"] for c in stale.clusters} == {live, ended} and reader.reads == 2
    deadline = time.monotonic() + 60
    while (partial := reader.snapshot("databricks_default")).complete:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert {c["cluster_id"] for c in partial.clusters} == {live, ended}
    gate.set()
    assert reader.wait_complete("databricks_default", 60) is not None and reader.reads == 2


def test_a_terminating_clusters_events_are_read_again_once_their_copy_is_old(emulator: Emulator) -> None:
    (cluster_id,) = fleet(emulator, live=1, ended=0)
    clock = Clock()
    reader = FleetReader(["databricks_default"], clock=clock)
    running = reader.wait_complete("databricks_default", 60)
    assert running is not None
    reader.events("databricks_default", running.cluster(cluster_id))
    emulator.workspace.clusters_delete({"cluster_id": cluster_id})  # TERMINATING: the clock is stopped
    reader.invalidate("databricks_default")
    clock.now += 16
    terminating = reader.wait_complete("databricks_default", 60)
    assert terminating is not None and terminating.cluster(cluster_id)["state"] == "TERMINATING"
    before = requests_to(emulator, 0, "clusters/events")
    events = reader.events("databricks_default", terminating.cluster(cluster_id))
    # Still changing: its copy from when it ran is not kept for good.
    assert requests_to(emulator, 0, "clusters/events") == before + 1
    assert events[0]["type"] == "TERMINATING"
