"""The Libraries API on the wire: install, statuses as an install progresses on the workspace's clock,
restarts, uninstall, the ``library_failure`` scenario, refusals, fast-forward and the state file.

Every emulator here runs on a stopped clock (``time_scale=0``): the tests move time with ``emu.advance``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import SPEC, Api

LIBRARY_SECONDS = 4.0
PYPI = {"pypi": {"package": "simplejson==3.19.2"}}
MAVEN = {"maven": {"coordinates": "org.jsoup:jsoup:1.7.2"}}
WHL = {"whl": "/Volumes/main/default/libs/etl-1.0-py3-none-any.whl"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(
        start_seconds=2, terminate_seconds=1, library_seconds=LIBRARY_SECONDS, time_scale=0
    ) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def shared() -> Iterator[Api]:
    """One workspace for the tests that only read refusals: nothing they do changes what another sees."""
    with Emulator(time_scale=0) as emulator:
        yield Api(emulator)


def _running(api: Api) -> str:
    cluster_id = api.create()
    api.emu.advance(2)
    assert api.get(cluster_id)["state"] == "RUNNING"
    return cluster_id


def _install(api: Api, cluster_id: str, *libraries: dict[str, Any], path: str = "install") -> None:
    status, body = api.call(
        "POST", f"/api/2.0/libraries/{path}", {"cluster_id": cluster_id, "libraries": list(libraries)}
    )
    assert (status, body) == (200, {})


def _statuses(api: Api, cluster_id: str) -> list[dict[str, Any]]:
    status, body = api.call("GET", "/api/2.0/libraries/cluster-status", cluster_id=cluster_id)
    assert status == 200, body
    assert body["cluster_id"] == cluster_id
    return list(body.get("library_statuses", []))


def _states(api: Api, cluster_id: str) -> list[str]:
    return [s["status"] for s in _statuses(api, cluster_id)]


def test_an_install_moves_through_its_states_while_the_cluster_runs(api: Api) -> None:
    cluster_id = _running(api)
    _install(api, cluster_id, PYPI, WHL)
    assert _states(api, cluster_id) == ["PENDING", "PENDING"]
    api.emu.advance(LIBRARY_SECONDS * 0.3)
    assert _states(api, cluster_id) == ["RESOLVING", "INSTALLING"]  # a wheel has nothing to resolve
    api.emu.advance(LIBRARY_SECONDS * 0.3)
    assert _states(api, cluster_id) == ["INSTALLING", "INSTALLING"]
    api.emu.advance(LIBRARY_SECONDS * 0.5)
    statuses = _statuses(api, cluster_id)
    assert statuses == [
        {"library": PYPI, "status": "INSTALLED", "is_library_for_all_clusters": False},
        {"library": WHL, "status": "INSTALLED", "is_library_for_all_clusters": False},
    ]


def test_libraries_wait_for_a_terminated_cluster_and_install_again_after_a_restart(api: Api) -> None:
    cluster_id = api.create()
    api.emu.advance(2)
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    api.emu.advance(1)
    _install(api, cluster_id, MAVEN)
    api.emu.advance(LIBRARY_SECONDS * 2)
    assert _states(api, cluster_id) == ["PENDING"]  # nothing installs on a terminated cluster
    api.call("POST", "/api/2.1/clusters/start", {"cluster_id": cluster_id})
    api.emu.advance(2)  # RUNNING now: the install begins
    assert _states(api, cluster_id) == ["PENDING"]
    api.emu.advance(LIBRARY_SECONDS)
    assert _states(api, cluster_id) == ["INSTALLED"]
    api.call("POST", "/api/2.1/clusters/restart", {"cluster_id": cluster_id})
    assert _states(api, cluster_id) == ["PENDING"]
    api.emu.advance(2 + LIBRARY_SECONDS * 0.3)
    assert _states(api, cluster_id) == ["RESOLVING"]  # installing again from the restart
    api.emu.advance(LIBRARY_SECONDS)
    assert _states(api, cluster_id) == ["INSTALLED"]


def test_uninstall_marks_a_library_until_the_next_restart(api: Api) -> None:
    cluster_id = _running(api)
    _install(api, cluster_id, PYPI, MAVEN)
    api.emu.advance(LIBRARY_SECONDS)
    _install(api, cluster_id, PYPI, path="uninstall")
    _install(api, cluster_id, {"jar": "s3://bucket/never-installed.jar"}, path="uninstall")  # ignored
    statuses = _statuses(api, cluster_id)
    # Those staying first, those marked for uninstall last.
    assert [(s["library"], s["status"]) for s in statuses] == [
        (MAVEN, "INSTALLED"),
        (PYPI, "UNINSTALL_ON_RESTART"),
    ]
    api.call("POST", "/api/2.1/clusters/restart", {"cluster_id": cluster_id})
    api.emu.advance(2)
    assert [s["library"] for s in _statuses(api, cluster_id)] == [MAVEN]


def test_the_same_library_twice_is_one_library(api: Api) -> None:
    cluster_id = _running(api)
    _install(api, cluster_id, PYPI)
    api.emu.advance(LIBRARY_SECONDS)
    _install(api, cluster_id, PYPI, {"pypi": {"package": "simplejson==3.19.2", "repo": None}})
    assert _states(api, cluster_id) == ["INSTALLED"]
    _install(api, cluster_id, PYPI, path="uninstall")
    _install(api, cluster_id, PYPI)  # asked for again before the restart: it stays
    assert _states(api, cluster_id) == ["INSTALLED"]


def test_library_failure_fails_the_matching_library_with_a_pip_or_maven_message(api: Api) -> None:
    api.emu.set_scenario("library_failure", match="simplejson")
    api.emu.set_scenario("library_failure", match="jsoup", times=1)
    cluster_id = _running(api)
    _install(api, cluster_id, PYPI, MAVEN, WHL)
    api.emu.advance(LIBRARY_SECONDS)
    pypi, maven, whl = _statuses(api, cluster_id)
    assert pypi["status"] == "FAILED"
    assert "ERROR: No matching distribution found for simplejson==3.19.2" in pypi["messages"][0]
    assert f"driver node of cluster {cluster_id}" in pypi["messages"][0]
    assert maven["status"] == "FAILED"
    assert maven["messages"] == [
        "Library resolution failed. Cause: java.lang.RuntimeException: unresolved dependency: "
        "org.jsoup:jsoup:1.7.2: not found"
    ]
    assert whl["status"] == "INSTALLED" and "messages" not in whl
    assert [s["name"] for s in api.emu.workspace.scenarios().values()] == ["library_failure"]


def test_library_failure_options_are_checked(shared: Api) -> None:
    api = shared
    status, body = api.call("POST", "/emulator/scenarios", {"name": "library_failure", "match": 3})
    assert status == 400 and "match" in body["message"]
    status, body = api.call("POST", "/emulator/scenarios", {"name": "library_failure", "package": "x"})
    assert status == 400 and "package" in body["message"]
    status, body = api.call(
        "POST", "/emulator/scenarios", {"name": "library_failure", "message": "boom", "cluster_id": "none"}
    )
    assert status == 200, body


@pytest.mark.parametrize(
    ("libraries", "status", "code", "names"),
    [
        (None, 400, "INVALID_PARAMETER_VALUE", "libraries"),
        ([], 400, "INVALID_PARAMETER_VALUE", "libraries"),
        ("x.jar", 400, "MALFORMED_REQUEST", "libraries"),
        ([{}], 400, "INVALID_PARAMETER_VALUE", "libraries[0] must set exactly one of"),
        ([{"jar": "a.jar", "whl": "b.whl"}], 400, "INVALID_PARAMETER_VALUE", "it sets jar, whl"),
        ([{"pypi": {}}], 400, "INVALID_PARAMETER_VALUE", "libraries[0].pypi.package"),
        ([{"pypi": {"package": "x", "version": "1"}}], 400, "MALFORMED_REQUEST", "libraries[0].pypi.version"),
        ([{"maven": {"coordinates": "jsoup"}}], 400, "INVALID_PARAMETER_VALUE", "coordinates"),
        ([{"cran": {"package": 3}}], 400, "MALFORMED_REQUEST", "libraries[0].cran.package"),
        ([PYPI, {"wheel": "x.whl"}], 400, "MALFORMED_REQUEST", "libraries[1].wheel"),
    ],
)
def test_bad_libraries_are_refused_naming_the_field(
    shared: Api, libraries: Any, status: int, code: str, names: str
) -> None:
    api = shared
    cluster_id = api.create()
    answer_status, body = api.call(
        "POST", "/api/2.0/libraries/install", {"cluster_id": cluster_id, "libraries": libraries}
    )
    assert (answer_status, body["error_code"]) == (status, code)
    assert names in body["message"]


def test_an_unknown_cluster_is_the_workspace_error(shared: Api) -> None:
    api = shared
    for method, path, body in [
        ("POST", "install", {"cluster_id": "nope", "libraries": [PYPI]}),
        ("POST", "uninstall", {"cluster_id": "nope", "libraries": [PYPI]}),
        ("GET", "cluster-status", None),
    ]:
        params = {"cluster_id": "nope"} if method == "GET" else {}
        status, answer = api.call(method, f"/api/2.0/libraries/{path}", body, **params)
        assert (status, answer) == (
            400,
            {"error_code": "INVALID_PARAMETER_VALUE", "message": "Cluster nope does not exist"},
        )
    status, answer = api.call("POST", "/api/2.0/libraries/install", {"libraries": [PYPI]})
    assert (status, answer["message"]) == (400, "Missing required field: cluster_id")


def test_all_cluster_statuses_and_a_permanently_deleted_cluster(api: Api) -> None:
    first, second, bare = _running(api), _running(api), _running(api)
    _install(api, first, PYPI)
    _install(api, second, MAVEN)
    status, body = api.call("GET", "/api/2.0/libraries/all-cluster-statuses")
    assert status == 200
    assert {s["cluster_id"] for s in body["statuses"]} == {first, second}  # none for a cluster without
    assert _statuses(api, bare) == []
    api.call("POST", "/api/2.1/clusters/permanent-delete", {"cluster_id": first})
    status, body = api.call("GET", "/api/2.0/libraries/all-cluster-statuses")
    assert [s["cluster_id"] for s in body["statuses"]] == [second]
    status, body = api.call("GET", "/api/2.0/libraries/cluster-status", cluster_id=first)
    assert (status, body["message"]) == (400, f"Cluster {first} does not exist")


def test_fast_forward_sees_a_new_cluster_s_libraries_settle(api: Api) -> None:
    cluster_id = api.create()
    _install(api, cluster_id, PYPI, MAVEN)
    api.emu.fast_forward = True
    assert _states(api, cluster_id) == ["INSTALLED", "INSTALLED"]
    assert api.emu.clusters[cluster_id]["state"] == "RUNNING"


def test_libraries_are_saved_with_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    options: dict[str, Any] = {"start_seconds": 2, "library_seconds": LIBRARY_SECONDS, "time_scale": 0}
    with Emulator(state_file=state, **options) as emu:
        api = Api(emu)
        cluster_id = api.create(**SPEC)
        emu.advance(2)
        _install(api, cluster_id, PYPI, MAVEN)
        _install(api, cluster_id, MAVEN, path="uninstall")
    with Emulator(state_file=state, **options) as emu:
        api = Api(emu)
        assert _states(api, cluster_id) == ["PENDING", "UNINSTALL_ON_RESTART"]
        emu.advance(LIBRARY_SECONDS)
        assert _states(api, cluster_id) == ["INSTALLED", "UNINSTALL_ON_RESTART"]


def _submit(api: Api, cluster_id: str, *libraries: dict[str, Any]) -> int:
    task = {
        "task_key": "etl",
        "existing_cluster_id": cluster_id,
        "spark_python_task": {"python_file": "/Workspace/etl.py"},
        "libraries": list(libraries),
    }
    status, body = api.call("POST", "/api/2.1/jobs/runs/submit", {"run_name": "libs", "tasks": [task]})
    assert status == 200, body
    return int(body["run_id"])


def _run(api: Api, run_id: int) -> dict[str, Any]:
    status, body = api.call("GET", "/api/2.1/jobs/runs/get", run_id=run_id)
    assert status == 200, body
    return dict(body)


def test_a_task_s_libraries_install_on_its_cluster_before_it_runs(api: Api) -> None:
    cluster_id = _running(api)
    run_id = _submit(api, cluster_id, PYPI, WHL)
    assert _states(api, cluster_id) == ["PENDING", "PENDING"]  # asked for on the task's cluster
    api.emu.advance(LIBRARY_SECONDS * 0.9)
    assert _run(api, run_id)["state"]["life_cycle_state"] == "PENDING"  # still installing
    api.emu.advance(LIBRARY_SECONDS * 0.2)
    assert _states(api, cluster_id) == ["INSTALLED", "INSTALLED"]
    assert _run(api, run_id)["state"]["life_cycle_state"] == "RUNNING"
    api.emu.advance(1)  # run_seconds
    run = _run(api, run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    assert run["tasks"][0]["libraries"] == [PYPI, WHL]
    # It ran from when its libraries were installed.
    assert run["tasks"][0]["end_time"] - run["start_time"] == pytest.approx(
        (LIBRARY_SECONDS + 1) * 1000, abs=2
    )


def test_a_run_whose_library_fails_ends_failed_naming_the_library(api: Api) -> None:
    api.emu.set_scenario("library_failure", match="simplejson")
    cluster_id = api.create()  # the run waits for it to start, then for its libraries
    run_id = _submit(api, cluster_id, PYPI)
    api.emu.advance(2 + LIBRARY_SECONDS)
    state = _run(api, run_id)["state"]
    assert (state["life_cycle_state"], state["result_state"]) == ("INTERNAL_ERROR", "FAILED")
    assert state["state_message"].startswith(
        "Library installation failed for library due to user error for "
        'pypi {\n package: "simplejson==3.19.2"\n}\n Error messages:\n'
        "Library installation attempted on the driver node of cluster "
    )


def test_fast_forward_sees_a_run_through_its_libraries(api: Api) -> None:
    cluster_id = api.create()
    run_id = _submit(api, cluster_id, MAVEN)
    api.emu.fast_forward = True
    assert _run(api, run_id)["state"]["result_state"] == "SUCCESS"
    assert _states(api, cluster_id) == ["INSTALLED"]


def test_a_job_cluster_s_task_installs_its_libraries_there(api: Api) -> None:
    spec = {k: v for k, v in SPEC.items() if k != "cluster_name"}
    task = {
        "task_key": "etl",
        "new_cluster": spec,
        "spark_python_task": {"python_file": "/Workspace/etl.py"},
        "libraries": [WHL],
    }
    status, body = api.call("POST", "/api/2.1/jobs/runs/submit", {"tasks": [task]})
    assert status == 200, body
    run = _run(api, int(body["run_id"]))
    cluster_id = run["tasks"][0]["cluster_instance"]["cluster_id"]
    assert _states(api, cluster_id) == ["PENDING"]
    api.emu.advance(2 + LIBRARY_SECONDS)
    assert _states(api, cluster_id) == ["INSTALLED"]
    api.emu.advance(1)
    assert _run(api, int(body["run_id"]))["state"]["result_state"] == "SUCCESS"
