"""The Jobs API on the wire: saved jobs (create, get, list, reset, update, delete), their runs (run-now,
runs/list by job, runs/delete), each API version's shape, and the state file.

One emulator serves the tests that only read and write job definitions (each makes its own jobs, named
for the test); tests that run jobs get their own on a stopped clock (``emu``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import SPEC, Api

RUNTIME = SPEC["spark_version"]
NEW_CLUSTER = {"spark_version": RUNTIME, "node_type_id": "i3.xlarge", "num_workers": 1}


@pytest.fixture(scope="module")
def shared() -> Iterator[Api]:
    """One workspace for the tests that do not run anything."""
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, run_seconds=0.3, time_scale=0) as emulator:
        yield Api(emulator)


def python_task(key: str = "etl", **compute: Any) -> dict[str, Any]:
    return {
        "task_key": key,
        "spark_python_task": {"python_file": "dbfs:/jobs/etl.py", "parameters": ["--day", "1"]},
        **(compute or {"existing_cluster_id": "0101-000000-abcdefgh"}),
    }


def create(api: Api, version: str = "2.2", **settings: Any) -> int:
    status, body = api.call("POST", f"/api/{version}/jobs/create", {"tasks": [python_task()], **settings})
    assert status == 200, body
    return int(body["job_id"])


def get(api: Api, job_id: int, version: str = "2.2") -> dict[str, Any]:
    status, body = api.call("GET", f"/api/{version}/jobs/get", job_id=job_id)
    assert status == 200, body
    return dict(body)


def refused(api: Api, path: str, body: Any) -> str:
    """The message of a 400 INVALID_PARAMETER_VALUE or MALFORMED_REQUEST answer."""
    status, answer = api.call("POST", path, body)
    assert status == 400, answer
    assert answer["error_code"] in ("INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST"), answer
    return str(answer["message"])


def test_create_then_get_has_the_settings_and_the_services_defaults(shared: Api) -> None:
    job_id = create(shared, name="nightly", tags={"team": "data"}, max_concurrent_runs="3")
    job = get(shared, job_id)
    assert job["job_id"] == job_id and job["creator_user_name"] and job["created_time"] > 0
    settings = job["settings"]
    assert settings["name"] == "nightly" and settings["tags"] == {"team": "data"}
    # A number as a string (the official provider sends every number so) is read as the number.
    assert settings["max_concurrent_runs"] == 3 and settings["timeout_seconds"] == 0
    assert settings["format"] == "MULTI_TASK" and settings["tasks"][0]["task_key"] == "etl"
    assert get(shared, create(shared))["settings"]["name"] == "Untitled"


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
def test_an_unknown_job_is_the_services_400_on_every_call(shared: Api, version: str) -> None:
    status, body = shared.call("GET", f"/api/{version}/jobs/get", job_id=404404)
    assert (status, body) == (
        400,
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 404404 does not exist."},
    )
    for path in ("jobs/reset", "jobs/delete", "jobs/run-now"):
        extra = {"new_settings": {"name": "x"}} if path == "jobs/reset" else {}
        status, body = shared.call("POST", f"/api/{version}/{path}", {"job_id": 404404, **extra})
        assert (status, body["message"]) == (400, "Job 404404 does not exist."), path


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"tasks": [{"spark_python_task": {"python_file": "a.py"}}]}, "tasks[0].task_key"),
        ({"tasks": [python_task("a"), python_task("a")]}, "tasks[1].task_key 'a'"),
        ({"tasks": [python_task("bad key")]}, "tasks[0].task_key 'bad key'"),
        ({"tasks": [{"task_key": "a", "existing_cluster_id": "c"}]}, "a task sets exactly one of"),
        (
            {"tasks": [{**python_task("a"), "notebook_task": {"notebook_path": "/n"}}]},
            "spark_python_task and notebook_task are given",
        ),
        ({"tasks": [python_task("a", job_cluster_key="missing")]}, "tasks[0].job_cluster_key 'missing'"),
        (
            {"tasks": [python_task("a", existing_cluster_id="c", new_cluster=NEW_CLUSTER)]},
            "existing_cluster_id and new_cluster",
        ),
        ({"tasks": [python_task("a", new_cluster={"num_workers": 1})]}, "tasks[0].new_cluster: Missing"),
        ({"job_clusters": [{"job_cluster_key": "c"}]}, "job_clusters[0].new_cluster"),
        (
            {"job_clusters": [{"job_cluster_key": "c", "new_cluster": NEW_CLUSTER}] * 2},
            "job_clusters[1].job_cluster_key 'c'",
        ),
        ({"tasks": [{**python_task("a"), "depends_on": [{"task_key": "b"}]}]}, "depends_on[0].task_key 'b'"),
        ({"max_concurrent_runs": 1001}, "max_concurrent_runs 1001: must be from 0 to 1000"),
        ({"timeout_seconds": -1}, "timeout_seconds -1"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"tags": {f"t{i}": "v" for i in range(26)}}, "tags: at most 25"),
        ({"tags": {"team": 1}}, "field tags.team"),
        ({"parameters": [{"name": "day"}]}, "parameters[0].default"),
        (
            {"parameters": [{"name": "d", "default": "1"}, {"name": "d", "default": "2"}]},
            "parameters[1].name",
        ),
        ({"tasks": "etl"}, "field tasks, found STRING"),
        ({"tasks": [{**python_task("a"), "libraries": [{"pypi": {}}]}]}, "tasks[0].libraries[0].pypi"),
        ({"tasks": [{**python_task("a"), "libraries": [{"whl": "a.whl", "jar": "b.jar"}]}]}, "libraries[0]"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(shared: Api, settings: dict[str, Any], named: str) -> None:
    body = {"name": "bad", "tasks": [python_task()], **settings}
    assert named in refused(shared, "/api/2.2/jobs/create", body)


def test_tasks_on_job_clusters_and_new_clusters_are_accepted(shared: Api) -> None:
    job_id = create(
        shared,
        job_clusters=[{"job_cluster_key": "shared", "new_cluster": NEW_CLUSTER}],
        tasks=[
            python_task("a", job_cluster_key="shared"),
            {**python_task("b", new_cluster=NEW_CLUSTER), "depends_on": [{"task_key": "a"}]},
        ],
    )
    assert [t["task_key"] for t in get(shared, job_id)["settings"]["tasks"]] == ["a", "b"]


def test_reset_replaces_every_setting(shared: Api) -> None:
    job_id = create(shared, name="to-reset", tags={"old": "1"}, max_concurrent_runs=4)
    new = {"name": "was-reset", "tasks": [python_task("other")]}
    assert shared.call("POST", "/api/2.2/jobs/reset", {"job_id": job_id, "new_settings": new}) == (200, {})
    settings = get(shared, job_id)["settings"]
    assert settings["name"] == "was-reset" and "tags" not in settings and settings["max_concurrent_runs"] == 1
    assert [t["task_key"] for t in settings["tasks"]] == ["other"]
    assert "new_settings" in refused(shared, "/api/2.2/jobs/reset", {"job_id": job_id})
    bad = {"job_id": job_id, "new_settings": {"tasks": [python_task("x"), python_task("x")]}}
    assert "new_settings.tasks[1].task_key" in refused(shared, "/api/2.2/jobs/reset", bad)


def test_update_merges_tasks_by_key_and_removes_fields(shared: Api) -> None:
    job_id = create(
        shared,
        name="to-update",
        tags={"a": "1"},
        schedule={"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
        tasks=[python_task("a"), python_task("b")],
    )
    changed = {**python_task("b"), "spark_python_task": {"python_file": "dbfs:/jobs/new.py"}}
    body = {
        "job_id": job_id,
        "new_settings": {"tags": {"b": "2"}, "tasks": [changed, python_task("c")]},
        "fields_to_remove": ["schedule", "tasks/a"],
    }
    assert shared.call("POST", "/api/2.2/jobs/update", body) == (200, {})
    settings = get(shared, job_id)["settings"]
    assert settings["name"] == "to-update" and settings["tags"] == {"b": "2"} and "schedule" not in settings
    assert [t["task_key"] for t in settings["tasks"]] == ["b", "c"]
    assert settings["tasks"][0]["spark_python_task"] == {"python_file": "dbfs:/jobs/new.py"}
    message = refused(shared, "/api/2.2/jobs/update", {"job_id": job_id, "fields_to_remove": ["tasks/zz"]})
    assert "fields_to_remove[0] 'tasks/zz'" in message
    # Jobs 2.0 had no update.
    assert shared.call("POST", "/api/2.0/jobs/update", body)[0] == 404


def test_delete_removes_the_job(shared: Api) -> None:
    job_id = create(shared, name="to-delete")
    assert shared.call("POST", "/api/2.1/jobs/delete", {"job_id": job_id}) == (200, {})
    assert shared.call("GET", "/api/2.2/jobs/get", job_id=job_id)[0] == 400
    assert shared.call("GET", "/api/2.2/jobs/list", name="to-delete")[1].get("jobs") is None


def test_list_filters_by_exact_name_in_any_case_and_pages_newest_first(shared: Api) -> None:
    ids = [create(shared, name="Paged Job") for _ in range(5)]
    create(shared, name="Paged Job 2")
    status, first = shared.call("GET", "/api/2.2/jobs/list", name="paged job", limit=2)
    assert status == 200, first
    assert [j["job_id"] for j in first["jobs"]] == ids[::-1][:2] and "has_more" not in first
    assert "tasks" not in first["jobs"][0]["settings"]
    seen = [j["job_id"] for j in first["jobs"]]
    token = first["next_page_token"]
    while token:
        _, page = shared.call("GET", "/api/2.2/jobs/list", name="paged job", limit=2, page_token=token)
        seen += [j["job_id"] for j in page["jobs"]]
        token = page.get("next_page_token")
    assert seen == ids[::-1]
    _, by_offset = shared.call("GET", "/api/2.1/jobs/list", name="Paged Job", limit=2, offset=4)
    assert [j["job_id"] for j in by_offset["jobs"]] == [ids[0]] and by_offset["has_more"] is False
    _, expanded = shared.call("GET", "/api/2.2/jobs/list", name="Paged Job", expand_tasks="true")
    assert expanded["jobs"][0]["settings"]["tasks"][0]["task_key"] == "etl"
    assert expanded["jobs"][0]["has_more"] is False


@pytest.mark.parametrize(("version", "most"), [("2.1", 25), ("2.2", 100)])
def test_list_limit_is_the_versions_maximum(shared: Api, version: str, most: int) -> None:
    assert shared.call("GET", f"/api/{version}/jobs/list", limit=most)[0] == 200
    status, body = shared.call("GET", f"/api/{version}/jobs/list", limit=most + 1)
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert f"must be from 1 to {most}" in body["message"]
    status, body = shared.call("GET", f"/api/{version}/jobs/list", page_token="garbage")
    assert status == 400 and "page_token" in body["message"]


def test_jobs_2_0_keeps_the_single_task_form(shared: Api) -> None:
    legacy = {
        "name": "legacy-2.0",
        "existing_cluster_id": "0101-000000-abcdefgh",
        "notebook_task": {"notebook_path": "/Shared/etl"},
        "max_retries": 1,
    }
    status, body = shared.call("POST", "/api/2.0/jobs/create", legacy)
    assert status == 200, body
    old = get(shared, body["job_id"], "2.0")["settings"]
    assert old["notebook_task"] == {"notebook_path": "/Shared/etl"} and "tasks" not in old
    assert old["existing_cluster_id"] == "0101-000000-abcdefgh" and old["format"] == "SINGLE_TASK"
    new = get(shared, body["job_id"], "2.1")["settings"]
    assert new["tasks"][0]["notebook_task"] == {"notebook_path": "/Shared/etl"}
    assert new["tasks"][0]["max_retries"] == 1
    _, listed = shared.call("GET", "/api/2.0/jobs/list")
    assert "next_page_token" not in listed and "has_more" not in listed
    assert any(j["job_id"] == body["job_id"] for j in listed["jobs"])


def test_2_2_get_pages_a_jobs_long_arrays(shared: Api) -> None:
    tasks = [python_task(f"t{i:03}") for i in range(150)]
    job_id = create(shared, name="long", tasks=tasks)
    first = get(shared, job_id)
    assert len(first["settings"]["tasks"]) == 100 and first["next_page_token"]
    status, second = shared.call(
        "GET", "/api/2.2/jobs/get", job_id=job_id, page_token=first["next_page_token"]
    )
    assert status == 200 and second["settings"]["tasks"][0]["task_key"] == "t100"
    assert len(second["settings"]["tasks"]) == 50 and "next_page_token" not in second
    assert len(get(shared, job_id, "2.1")["settings"]["tasks"]) == 150
    _, listed = shared.call("GET", "/api/2.2/jobs/list", name="long", expand_tasks=True)
    assert listed["jobs"][0]["has_more"] is True and len(listed["jobs"][0]["settings"]["tasks"]) == 100


def test_jobs_are_kept_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state, time_scale=0) as first:
        api = Api(first)
        kept = create(api, name="kept")
        removed = create(api, name="removed")
        api.call("POST", "/api/2.2/jobs/delete", {"job_id": removed})
    with Emulator(state_file=state, time_scale=0) as second:
        api = Api(second)
        assert get(api, kept)["settings"]["name"] == "kept"
        assert api.call("GET", "/api/2.2/jobs/get", job_id=removed)[0] == 400
        # Ids are never given again, even a deleted job's.
        assert create(api, name="new") > removed


def test_a_task_with_no_compute_gets_the_workspaces_answer(shared: Api) -> None:
    task = {"task_key": "a", "spark_python_task": {"python_file": "a.py"}}
    message = refused(shared, "/api/2.2/jobs/create", {"tasks": [task]})
    assert message == "Either new_cluster or existing_cluster_id must be specified."


# -- runs of a job ----------------------------------------------------------------------------------------


def run_now(api: Api, job_id: int, version: str = "2.2", **body: Any) -> int:
    status, answer = api.call("POST", f"/api/{version}/jobs/run-now", {"job_id": job_id, **body})
    assert status == 200, answer
    assert answer["number_in_job"] == answer["run_id"]
    return int(answer["run_id"])


def run(api: Api, run_id: int) -> dict[str, Any]:
    status, body = api.call("GET", "/api/2.2/jobs/runs/get", run_id=run_id)
    assert status == 200, body
    return dict(body)


def wait_ended(api: Api, run_id: int, within: float = 60.0) -> dict[str, Any]:
    waited = 0.0
    while (answer := run(api, run_id))["state"]["life_cycle_state"] not in ("TERMINATED", "INTERNAL_ERROR"):
        assert waited < within, answer["state"]
        api.emu.advance(0.05)
        waited += 0.05
    return answer


def test_run_now_runs_the_jobs_tasks_as_a_job_run(api: Api) -> None:
    cluster_id = api.create()
    job_id = create(
        api,
        name="runs",
        job_clusters=[{"job_cluster_key": "small", "new_cluster": NEW_CLUSTER}],
        tasks=[
            python_task("a", existing_cluster_id=cluster_id),
            {**python_task("b", job_cluster_key="small"), "depends_on": [{"task_key": "a"}]},
        ],
        parameters=[{"name": "day", "default": "1"}, {"name": "env", "default": "dev"}],
    )
    run_id = run_now(api, job_id, job_parameters={"day": "7"})
    answer = wait_ended(api, run_id)
    assert answer["run_type"] == "JOB_RUN" and answer["job_id"] == job_id and answer["run_name"] == "runs"
    assert answer["state"]["result_state"] == "SUCCESS", answer["state"]
    assert answer["job_parameters"] == [
        {"name": "day", "default": "1", "value": "7"},
        {"name": "env", "default": "dev"},
    ]
    assert all(task["job_id"] == job_id for task in answer["tasks"])
    # The job cluster was the run's own, and it ended with the run.
    job_cluster = answer["tasks"][1]["cluster_instance"]["cluster_id"]
    assert job_cluster != cluster_id
    api.emu.advance(5)
    assert api.get(job_cluster)["state"] == "TERMINATED"
    _, listed = api.call("GET", "/api/2.2/jobs/runs/list", job_id=job_id)
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    assert listed["runs"][0]["run_type"] == "JOB_RUN" and listed["runs"][0]["number_in_job"] == run_id


def test_run_now_applies_legacy_parameters_to_the_tasks_of_their_kind(api: Api) -> None:
    notebook = {"task_key": "n", "existing_cluster_id": "c", "notebook_task": {"notebook_path": "/n"}}
    job_id = create(api, name="legacy-params", tasks=[python_task("p"), notebook])
    run_id = run_now(api, job_id, "2.1", python_params=["--x"], notebook_params={"a": "b"})
    tasks = {t["task_key"]: t for t in run(api, run_id)["tasks"]}
    assert tasks["p"]["spark_python_task"]["parameters"] == ["--x"]
    assert tasks["n"]["notebook_task"]["base_parameters"] == {"a": "b"}
    assert run(api, run_id)["overriding_parameters"] == {
        "python_params": ["--x"],
        "notebook_params": {"a": "b"},
    }
    both = {"job_id": job_id, "python_params": ["--x"], "job_parameters": {"a": "b"}}
    assert "python_params cannot be used with job parameters" in refused(api, "/api/2.2/jobs/run-now", both)
    bad = {"job_id": job_id, "notebook_params": {"a": 1}}
    assert "field notebook_params.a" in refused(api, "/api/2.2/jobs/run-now", bad)


def test_a_run_beyond_max_concurrent_runs_is_skipped_without_queueing(api: Api) -> None:
    cluster_id = api.create()
    # Jobs 2.1 makes a job that does not queue (2.2 queues by default).
    job_id = create(api, "2.1", name="one-at-a-time", tasks=[python_task(existing_cluster_id=cluster_id)])
    assert "queue" not in get(api, job_id)["settings"]
    first = run_now(api, job_id)
    second = run_now(api, job_id)
    skipped = run(api, second)
    assert skipped["state"] == {
        "life_cycle_state": "SKIPPED",
        "state_message": "Skipping this run because the limit of 1 maximum concurrent runs has been reached.",
        "user_cancelled_or_timedout": False,
    }
    assert wait_ended(api, first)["state"]["result_state"] == "SUCCESS"
    # Once the first has ended, the job runs again.
    assert wait_ended(api, run_now(api, job_id))["state"]["result_state"] == "SUCCESS"


def test_a_2_2_job_queues_runs_beyond_max_concurrent_runs(api: Api) -> None:
    cluster_id = api.create()
    job_id = create(api, name="queued", tasks=[python_task(existing_cluster_id=cluster_id)])
    assert get(api, job_id)["settings"]["queue"] == {"enabled": True}
    first, second, third = run_now(api, job_id), run_now(api, job_id), run_now(api, job_id)
    assert run(api, second)["state"]["life_cycle_state"] == "QUEUED"
    assert run(api, third)["state"]["life_cycle_state"] == "QUEUED"
    ended = wait_ended(api, first)
    # The second starts when the first ends, and only then; the third waits for the second.
    assert run(api, third)["state"]["life_cycle_state"] == "QUEUED"
    started = wait_ended(api, second)
    assert started["state"]["result_state"] == "SUCCESS"
    assert started["tasks"][0]["start_time"] >= ended["end_time"]
    assert wait_ended(api, third)["tasks"][0]["start_time"] >= started["end_time"]
    # A queued run that is cancelled never starts.
    busy, waiting = run_now(api, job_id), run_now(api, job_id)
    assert api.call("POST", "/api/2.2/jobs/runs/cancel", {"run_id": waiting}) == (200, {})
    wait_ended(api, busy)
    assert run(api, waiting)["state"]["result_state"] == "CANCELED"
    assert run(api, waiting)["tasks"][0]["cluster_instance"] == {"cluster_id": cluster_id}
    # Queueing turned off by update: beyond the limit is skipped again.
    body = {"job_id": job_id, "new_settings": {"queue": {"enabled": False}}}
    assert api.call("POST", "/api/2.2/jobs/update", body) == (200, {})
    running = run_now(api, job_id)
    assert run(api, run_now(api, job_id))["state"]["life_cycle_state"] == "SKIPPED"
    # Deleting a job cancels its queued runs.
    api.call("POST", "/api/2.2/jobs/update", {"job_id": job_id, "new_settings": {"queue": {"enabled": True}}})
    queued = run_now(api, job_id)
    assert api.call("POST", "/api/2.2/jobs/delete", {"job_id": job_id}) == (200, {})
    wait_ended(api, running)
    assert run(api, queued)["state"]["result_state"] == "CANCELED"


def test_an_idempotency_token_answers_the_run_it_started(api: Api) -> None:
    job_id = create(api, name="idempotent", max_concurrent_runs=5)
    first = run_now(api, job_id, idempotency_token="nightly-2026-12-07")
    assert run_now(api, job_id, idempotency_token="nightly-2026-12-07") == first
    assert run_now(api, job_id, idempotency_token="nightly-2026-12-08") != first
    assert "idempotency_token" in refused(
        api, "/api/2.2/jobs/run-now", {"job_id": job_id, "idempotency_token": "x" * 65}
    )


def test_runs_delete_refuses_an_active_run_and_deletes_an_ended_one(api: Api) -> None:
    cluster_id = api.create()
    job_id = create(api, name="deleting", tasks=[python_task(existing_cluster_id=cluster_id)])
    run_id = run_now(api, job_id, idempotency_token="once")
    status, body = api.call("POST", "/api/2.2/jobs/runs/delete", {"run_id": run_id})
    assert (status, body["error_code"]) == (400, "INVALID_STATE") and str(run_id) in body["message"]
    wait_ended(api, run_id)
    assert api.call("POST", "/api/2.0/jobs/runs/delete", {"run_id": run_id}) == (200, {})
    assert api.call("GET", "/api/2.2/jobs/runs/get", run_id=run_id)[1] == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": f"Run {run_id} does not exist.",
    }
    assert "was deleted" in refused(
        api, "/api/2.2/jobs/run-now", {"job_id": job_id, "idempotency_token": "once"}
    )


def test_active_runs_queues_and_tokens_are_kept_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    options: dict[str, Any] = {"state_file": state, "time_scale": 0, "start_seconds": 0.4, "run_seconds": 0.3}
    with Emulator(**options) as first:
        api = Api(first)
        job_id = create(api, name="kept-running", tasks=[python_task(existing_cluster_id=api.create())])
        running = run_now(api, job_id, idempotency_token="t")
        waiting = run_now(api, job_id)
    with Emulator(**options) as second:
        api = Api(second)
        assert run_now(api, job_id, idempotency_token="t") == running
        assert run(api, waiting)["state"]["life_cycle_state"] == "QUEUED"
        assert wait_ended(api, waiting)["state"]["result_state"] == "SUCCESS"
        assert run(api, running)["state"]["result_state"] == "SUCCESS"


def test_cancel_all_cancels_the_jobs_active_runs(api: Api) -> None:
    cluster_id = api.create()
    job_id = create(
        api, name="cancel-all", max_concurrent_runs=2, tasks=[python_task(existing_cluster_id=cluster_id)]
    )
    runs = [run_now(api, job_id), run_now(api, job_id)]
    assert api.call("POST", "/api/2.2/jobs/runs/cancel-all", {"job_id": job_id}) == (200, {})
    for run_id in runs:
        assert run(api, run_id)["state"]["result_state"] == "CANCELED"
    # Nothing is running now: the job runs again at once.
    assert run(api, run_now(api, job_id))["state"]["life_cycle_state"] != "SKIPPED"
    assert "job_id" in refused(api, "/api/2.1/jobs/runs/cancel-all", {})


def test_a_queued_run_installs_its_tasks_libraries_when_it_starts(api: Api) -> None:
    """A queued run starts as a launched one does: its tasks' libraries are asked for on their cluster, and
    one that fails fails the task naming it."""
    cluster_id = api.create()
    api.emu.set_scenario("library_failure", match="no-such-package")
    task = {
        **python_task(existing_cluster_id=cluster_id),
        "libraries": [{"pypi": {"package": "no-such-package"}}],
    }
    job_id = create(api, name="queued-libraries", tasks=[task])
    first, second = run_now(api, job_id), run_now(api, job_id)
    assert run(api, second)["state"]["life_cycle_state"] == "QUEUED"
    assert wait_ended(api, first)["state"]["result_state"] == "FAILED"
    ended = wait_ended(api, second)
    assert ended["state"]["result_state"] == "FAILED"
    assert "no-such-package" in ended["state"]["state_message"], ended["state"]


def make_policy(api: Api, rules: dict[str, Any]) -> str:
    body = {"name": f"jobs-policy-{len(api.emu.workspace.policies.list({})['policies'])}",
            "definition": json.dumps(rules)}  # fmt: skip
    status, answer = api.call("POST", "/api/2.0/policies/clusters/create", body)
    assert status == 200, answer
    return str(answer["policy_id"])


def test_a_jobs_clusters_are_checked_at_create_with_their_policys_rules(shared: Api) -> None:
    policy_id = make_policy(
        shared,
        {"spark_version": {"type": "fixed", "value": RUNTIME},
         "node_type_id": {"type": "allowlist", "values": ["i3.xlarge"]}},
    )  # fmt: skip
    leaves_it = {"node_type_id": "i3.xlarge", "num_workers": 1, "policy_id": policy_id}
    create(shared, name="policy-fixed", tasks=[python_task(new_cluster=leaves_it)])
    outside = {**leaves_it, "node_type_id": "r5d.xlarge"}
    body = {"name": "policy-refused", "job_clusters": [{"job_cluster_key": "k", "new_cluster": outside}],
            "tasks": [python_task(job_cluster_key="k")]}  # fmt: skip
    assert "node_type_id" in refused(shared, "/api/2.2/jobs/create", body)


def test_a_queued_run_whose_job_cluster_is_now_refused_ends_and_makes_nothing(api: Api) -> None:
    """The job's policy changed while a run waited in the queue: the run ends as a workspace ends a run whose
    cluster it cannot create (reading it never fails), and no cluster is made."""
    policy_id = make_policy(api, {"node_type_id": {"type": "allowlist", "values": ["i3.xlarge"]}})
    cluster = {**NEW_CLUSTER, "policy_id": policy_id}
    job_id = create(
        api,
        name="queued-refused",
        job_clusters=[
            {"job_cluster_key": "a", "new_cluster": cluster},
            {"job_cluster_key": "b", "new_cluster": cluster},
        ],
        tasks=[python_task("x", job_cluster_key="a"), python_task("y", job_cluster_key="b")],
    )
    first, second = run_now(api, job_id), run_now(api, job_id)
    assert run(api, second)["state"]["life_cycle_state"] == "QUEUED"
    rules = json.dumps({"node_type_id": {"type": "allowlist", "values": ["i3.2xlarge"]}})
    edit = {"policy_id": policy_id, "name": "narrowed", "definition": rules}
    assert api.call("POST", "/api/2.0/policies/clusters/edit", edit) == (200, {})
    made = api.emu.workspace.cluster_count()
    assert wait_ended(api, first)["state"]["result_state"] == "SUCCESS"
    ended = wait_ended(api, second)
    assert ended["state"]["life_cycle_state"] == "INTERNAL_ERROR", ended["state"]
    assert ended["state"]["result_state"] == "FAILED"
    assert "Cluster validation error" in ended["state"]["state_message"]
    assert "node_type_id" in ended["state"]["state_message"]
    assert api.emu.workspace.cluster_count() == made
