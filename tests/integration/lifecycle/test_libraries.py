"""The create operator's ``libraries`` against the emulator's Libraries API: installed once the cluster is
RUNNING, the task done only when each is INSTALLED, a failed one failing the task by name (and leaking
nothing), sync, deferred and after a retry; only a wait that installs libraries reads their statuses.

The sync cases run the operator as a task does (fields rendered, then ``execute``); the deferred and retry
cases run real DAG runs (dag.test()). The emulator runs in real time, with installs of half a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.errors import LibrariesFailed
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator
from tests.integration.lifecycle.pipelines import (
    CLUSTER,
    cluster_of_an_earlier_try,
    dag_id_for,
    only_cluster,
    run_pipeline,
    states,
)
from tests.integration.lifecycle.test_bad_input import context

pytestmark = pytest.mark.usefixtures("airflow_db")

PYPI = {"pypi": {"package": "simplejson==3.19.2"}}
MAVEN = {"maven": {"coordinates": "org.jsoup:jsoup:1.7.2"}}
WHL = {"whl": "/Volumes/main/default/libs/etl-1.0-py3-none-any.whl"}
STATUS_PATH = "/api/2.0/libraries/cluster-status"
INSTALL_PATH = "/api/2.0/libraries/install"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(start_seconds=1.0, terminate_seconds=0.3, library_seconds=0.5) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        yield emu


def create_task(**fields: Any) -> DatabricksCreateClusterOperator:
    with DAG("libraries", schedule=None):
        return DatabricksCreateClusterOperator(
            task_id="create_cluster",
            deferrable=False,
            polling_interval=0.2,
            timeout=120,
            **{**CLUSTER, **fields},
        )


def run(operator: DatabricksCreateClusterOperator) -> Any:
    task_context = context()
    operator.render_template_fields(task_context)
    return operator.execute(task_context)


def requests_to(emu: Emulator, path: str) -> list[dict[str, Any]]:
    return [r for r in emu.request_log if r["path"] == path]


def statuses(cluster_id: str) -> dict[str, str]:
    listed = DatabricksClustersHook().library_statuses(cluster_id)
    return {next(iter(s["library"])): s["status"] for s in listed}


def test_sync_the_task_returns_once_every_library_is_installed(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    cluster_id = run(create_task(libraries=[PYPI, MAVEN, WHL]))
    assert statuses(cluster_id) == {"pypi": "INSTALLED", "maven": "INSTALLED", "whl": "INSTALLED"}
    # A cluster this try created has nothing installed: no status read before the one install.
    paths = [r["path"] for r in emulator.request_log]
    assert paths.count(INSTALL_PATH) == 1 and STATUS_PATH not in paths[: paths.index(INSTALL_PATH)]
    out = capfd.readouterr().out
    assert (
        f"Installing 3 libraries on cluster {cluster_id}: pypi:simplejson==3.19.2, "
        "maven:org.jsoup:jsoup:1.7.2, whl:/Volumes/main/default/libs/etl-1.0-py3-none-any.whl"
    ) in out
    assert f"Cluster {cluster_id}: library pypi:simplejson==3.19.2 PENDING -> " in out
    assert f"Cluster {cluster_id}: all 3 libraries INSTALLED after " in out


def test_sync_a_failed_library_fails_the_task_naming_it_and_terminates_the_cluster(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator.set_scenario("library_failure", match="jsoup")
    with pytest.raises(
        LibrariesFailed, match=r"maven:org.jsoup:jsoup:1.7.2 is FAILED: .*unresolved dependency"
    ):
        run(create_task(libraries=[PYPI, MAVEN]))
    cluster = only_cluster(emulator)
    assert cluster["state"] in {"TERMINATING", "TERMINATED"}
    out = capfd.readouterr().out
    assert f"Cluster {cluster['cluster_id']}: library maven:org.jsoup:jsoup:1.7.2 is FAILED: " in out
    assert "Terminating cluster" in out


def test_a_bad_library_fails_the_task_before_any_call(emulator: Emulator) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"libraries\[0\]\.pypi\.pakage: .*did you mean 'package'"):
        run(create_task(libraries=[{"pypi": {"pakage": "simplejson"}}]))
    assert not emulator.request_log


def test_deferred_a_failed_library_fails_the_dag_run_and_leaks_nothing(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    # The sync case is the operator's own test above; a DAG run's teardown then finds nothing to do.
    emulator.set_scenario("library_failure", match="simplejson")
    dag_run = run_pipeline(
        "library_fails", deferrable=True, downstream="check_running", create={"libraries": [PYPI, WHL]}
    )
    assert states(dag_run)["create_cluster"] == "failed"
    cluster = only_cluster(emulator)
    assert cluster["state"] in {"TERMINATING", "TERMINATED"}
    assert "No matching distribution found for simplejson==3.19.2" in capfd.readouterr().out


def test_deferred_the_task_returns_once_every_library_is_installed(emulator: Emulator) -> None:
    dag_run = run_pipeline(
        "libraries_deferred", deferrable=True, downstream="check_running", create={"libraries": [PYPI, MAVEN]}
    )
    assert dag_run.state == "success", states(dag_run)
    cluster_id = only_cluster(emulator)["cluster_id"]
    # The wait for RUNNING read no library status; the one install came first.
    paths = [r["path"] for r in emulator.request_log]
    assert paths.count(INSTALL_PATH) == 1 and STATUS_PATH not in paths[: paths.index(INSTALL_PATH)]
    assert STATUS_PATH in paths
    assert emulator.clusters[cluster_id]["state"] in {"TERMINATING", "TERMINATED"}  # the teardown ran


def test_a_retry_installs_only_what_the_cluster_lacks(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    # The earlier try's cluster was terminated by its cleanup with one library on it, which the workspace
    # installs again when the cluster starts; the retry adds only the other.
    run_after = datetime(2026, 12, 7, 7, 0, tzinfo=timezone.utc)
    dag_id = dag_id_for("libraries_retry")
    earlier = cluster_of_an_earlier_try(dag_id, run_after, terminated=True)
    DatabricksClustersHook().install_libraries(earlier, [PYPI])
    dag_run = run_pipeline(
        "libraries_retry",
        deferrable=True,
        downstream="check_running",
        create={"libraries": [PYPI, MAVEN]},
        run_after=run_after,
        dag_id=dag_id,
    )
    assert dag_run.state == "success", states(dag_run)
    assert list(emulator.clusters) == [earlier]
    assert len(requests_to(emulator, INSTALL_PATH)) == 2  # the earlier try's, then the retry's
    out = capfd.readouterr().out
    assert f"Cluster {earlier} already has 1 of the 2 libraries" in out
    assert f"Installing 1 library on cluster {earlier}: maven:org.jsoup:jsoup:1.7.2" in out
    assert f"Cluster {earlier}: all 2 libraries INSTALLED after " in out


def test_only_the_waits_that_install_libraries_read_their_statuses(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger

    asked: list[str] = []
    read = DatabricksClustersHook.alibrary_statuses

    async def recorded(self: DatabricksClustersHook, cluster_id: str) -> list[dict[str, Any]]:
        asked.append(cluster_id)
        return await read(self, cluster_id)

    monkeypatch.setattr(DatabricksClustersHook, "alibrary_statuses", recorded)

    hook = DatabricksClustersHook()
    plain = [hook.create_cluster({**CLUSTER_SPEC, "cluster_name": f"plain-{n}"}) for n in range(3)]
    with_libraries = hook.create_cluster({**CLUSTER_SPEC, "cluster_name": "with-libraries"})

    def trigger(cluster_id: str, libraries: list[dict[str, Any]] | None = None) -> Any:
        return DatabricksClusterStateTrigger(
            cluster_id=cluster_id,
            databricks_conn_id="databricks_default",
            target_states=["RUNNING"],
            end_time=time.time() + 120,  # a bound for a loaded machine, not an expectation
            polling_interval=0.2,
            libraries=libraries,
        )

    async def run_all() -> list[Any]:
        async def first_event(t: Any) -> Any:
            async for event in t.run():
                return event.payload

        waits = [trigger(c) for c in plain]
        # Installed while PENDING: the workspace installs it once the cluster is up.
        hook.install_libraries(with_libraries, [WHL])
        waits.append(trigger(with_libraries, [WHL]))
        return await asyncio.gather(*(first_event(t) for t in waits))

    events = asyncio.run(run_all())
    assert [e["status"] for e in events] == ["success"] * 4
    assert asked and set(asked) == {with_libraries}


CLUSTER_SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
