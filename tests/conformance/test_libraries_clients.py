"""Real clients of the Libraries API run unchanged against the emulator: databricks-sdk's
``w.libraries``, the official Airflow provider's ``DatabricksHook.install``/``uninstall``, and the legacy
databricks-cli 0.18's ``libraries`` commands. Emulated time is stopped; the tests move it.
"""

from __future__ import annotations

import os

import pytest
from airflow.providers.databricks.exceptions import DatabricksApiError
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service.compute import (
    Library,
    LibraryInstallStatus,
    MavenLibrary,
    PythonPyPiLibrary,
)

from airflow_databricks_clusters.emulator import Emulator
from tests.conformance.conftest import Api
from tests.conformance.test_legacy_cli import LegacyCli, cli, emu80, running_cluster

__all__ = ["cli", "emu80"]  # fixtures of the legacy CLI's module, used here

#: The conftest's ``emu`` runs libraries in its default ``library_seconds`` of 1.0 (emulated).
LIBRARY_SECONDS = 1.0
PYPI = {"pypi": {"package": "simplejson"}}
MAVEN = {"maven": {"coordinates": "org.jsoup:jsoup:1.7.2"}}


def running(api: Api) -> str:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    return cluster_id


@pytest.fixture
def sdk(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> WorkspaceClient:
    for name in list(os.environ):  # a developer's own workspace settings must not reach the SDK
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    return WorkspaceClient(host=emu.url, token=emu.token, auth_type="pat")


def test_databricks_sdk_installs_reads_and_uninstalls(sdk: WorkspaceClient, emu: Emulator, api: Api) -> None:
    cluster_id = running(api)
    emu.set_scenario("library_failure", match="jsoup")
    sdk.libraries.install(
        cluster_id,
        [
            Library(pypi=PythonPyPiLibrary(package="simplejson")),
            Library(maven=MavenLibrary(coordinates="org.jsoup:jsoup:1.7.2")),
        ],
    )
    assert [s.status for s in sdk.libraries.cluster_status(cluster_id)] == [LibraryInstallStatus.PENDING] * 2
    emu.advance(LIBRARY_SECONDS)
    pypi, maven = sdk.libraries.cluster_status(cluster_id)
    assert pypi.library == Library(pypi=PythonPyPiLibrary(package="simplejson"))
    assert (pypi.status, pypi.is_library_for_all_clusters) == (LibraryInstallStatus.INSTALLED, False)
    assert maven.status == LibraryInstallStatus.FAILED
    assert maven.messages and "unresolved dependency: org.jsoup:jsoup:1.7.2" in maven.messages[0]
    (every,) = sdk.libraries.all_cluster_statuses()
    assert every.cluster_id == cluster_id and len(every.library_statuses or []) == 2
    sdk.libraries.uninstall(cluster_id, [Library(pypi=PythonPyPiLibrary(package="simplejson"))])
    # Those staying first, those marked for uninstall last.
    assert [s.status for s in sdk.libraries.cluster_status(cluster_id)] == [
        LibraryInstallStatus.FAILED,
        LibraryInstallStatus.UNINSTALL_ON_RESTART,
    ]
    with pytest.raises(DatabricksError, match="Cluster nope does not exist"):
        sdk.libraries.install("nope", [Library(whl="/Volumes/a/b/c/x-1.0-py3-none-any.whl")])


def test_official_provider_hook_installs_and_uninstalls(
    emu: Emulator, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
    hook = DatabricksHook(retry_delay=0.1)
    cluster_id = running(api)
    hook.install({"cluster_id": cluster_id, "libraries": [PYPI, MAVEN]})
    emu.advance(LIBRARY_SECONDS)
    hook.uninstall({"cluster_id": cluster_id, "libraries": [MAVEN]})
    status, body = api.call("GET", "/api/2.0/libraries/cluster-status", cluster_id=cluster_id)
    assert status == 200, body
    assert [(s["library"], s["status"]) for s in body["library_statuses"]] == [
        (PYPI, "INSTALLED"),
        (MAVEN, "UNINSTALL_ON_RESTART"),
    ]
    with pytest.raises(DatabricksApiError, match="exactly one of"):
        hook.install({"cluster_id": cluster_id, "libraries": [{}]})


def test_legacy_cli_libraries_commands(cli: LegacyCli, emu80: Emulator) -> None:
    cluster_id = running_cluster(cli, emu80)
    cli.ok("libraries", "install", "--cluster-id", cluster_id, "--pypi-package", "simplejson")
    emu80.advance(LIBRARY_SECONDS)
    status = cli.json("libraries", "cluster-status", "--cluster-id", cluster_id)
    assert status == {
        "cluster_id": cluster_id,
        "library_statuses": [{"library": PYPI, "status": "INSTALLED", "is_library_for_all_clusters": False}],
    }
    assert cli.json("libraries", "list") == {"statuses": [status]}
    printed = cli.ok("libraries", "uninstall", "--cluster-id", cluster_id, "--all")
    assert "requires a cluster restart" in printed
    status = cli.json("libraries", "list", "--cluster-id", cluster_id)
    assert [s["status"] for s in status["library_statuses"]] == ["UNINSTALL_ON_RESTART"]
    error = cli.error("libraries", "install", "--cluster-id", "nope", "--jar", "s3://bucket/x.jar")
    assert error == {"error_code": "INVALID_PARAMETER_VALUE", "message": "Cluster nope does not exist"}
