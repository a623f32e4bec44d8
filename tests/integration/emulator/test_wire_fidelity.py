"""What a workspace answers on the wire, asked the way real clients ask: parameters of a GET in a JSON body
(the official provider's async hook), task run ids (its failed-task error), paging tokens (databricks-sdk),
Jobs 2.0 (the legacy CLI), and the address a client called (page URLs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.auth import Auth
from airflow_databricks_clusters.emulator.faults import REQUEST_LOG_SIZE, Faults
from tests.integration.emulator.conftest import Api

TASK = {"spark_python_task": {"python_file": "s3://b/job.py"}}


def run_on(api: Api, cluster_id: str, *, tasks: int = 1) -> int:
    body = {
        "run_name": "r",
        "tasks": [{"task_key": f"t{i}", "existing_cluster_id": cluster_id, **TASK} for i in range(tasks)],
    }
    status, answer = api.call("POST", "/api/2.1/jobs/runs/submit", body)
    assert status == 200, answer
    return int(answer["run_id"])


def ended_run(api: Api, emu: Emulator, *, tasks: int = 1) -> dict[str, Any]:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    run_id = run_on(api, cluster_id, tasks=tasks)
    emu.advance(1)
    status, run = api.call("GET", "/api/2.1/jobs/runs/get", run_id=run_id)
    assert status == 200 and run["state"]["life_cycle_state"] == "TERMINATED", run
    return dict(run)


def test_get_parameters_may_come_as_a_json_body(api: Api, emu: Emulator) -> None:
    run = ended_run(api, emu)
    cluster_id = run["tasks"][0]["existing_cluster_id"]
    # What the official provider's async hook sends: a GET with the parameters as JSON.
    cluster = api.session.get(f"{emu.url}/api/2.1/clusters/get", json={"cluster_id": cluster_id})
    assert cluster.status_code == 200 and cluster.json()["cluster_id"] == cluster_id
    answer = api.session.get(f"{emu.url}/api/2.2/jobs/runs/get", json={"run_id": run["run_id"]})
    assert answer.status_code == 200 and answer.json()["run_id"] == run["run_id"]


def test_get_output_answers_a_task_run_id_with_its_error(api: Api, emu: Emulator) -> None:
    emu.set_scenario("run_failure", message="ZeroDivisionError: division by zero")
    run = ended_run(api, emu, tasks=2)
    task_ids = [task["run_id"] for task in run["tasks"]]
    assert len({*task_ids, run["run_id"]}) == 3  # a run and each task have their own id
    for version in ("2.1", "2.2"):
        status, output = api.call("GET", f"/api/{version}/jobs/runs/get-output", run_id=task_ids[1])
        assert status == 200, output
        assert output["error"] == "ZeroDivisionError: division by zero"
        assert output["metadata"]["run_id"] == task_ids[1] and output["metadata"]["task_key"] == "t1"
        # The run's own id is refused: its output is its tasks'.
        status, refused = api.call("GET", f"/api/{version}/jobs/runs/get-output", run_id=run["run_id"])
        assert status == 400 and refused["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "output of each individual task run" in refused["message"]


def test_jobs_2_0_answers_a_one_task_run_in_its_own_shape(api: Api, emu: Emulator) -> None:
    run = ended_run(api, emu)
    status, old = api.call("GET", "/api/2.0/jobs/runs/get", run_id=run["run_id"])
    assert status == 200, old
    assert "tasks" not in old
    assert old["task"] == TASK
    assert old["cluster_spec"] == {"existing_cluster_id": run["tasks"][0]["existing_cluster_id"]}
    assert old["cluster_instance"]["cluster_id"] == run["tasks"][0]["existing_cluster_id"]
    # 2.0 still answers get-output for the run's own id when it has one task.
    status, output = api.call("GET", "/api/2.0/jobs/runs/get-output", run_id=run["run_id"])
    assert status == 200 and output["metadata"]["run_id"] == run["run_id"], output


def test_run_page_url_is_on_the_address_the_client_called(api: Api, emu: Emulator) -> None:
    run = ended_run(api, emu)
    assert run["run_page_url"].startswith(f"{emu.url}/?o=")
    # A client on the scheme's default port names no port (Host: dbc.example): neither does the URL.
    answer = api.session.get(
        f"{emu.url}/api/2.1/jobs/runs/get", params={"run_id": run["run_id"]}, headers={"Host": "dbc.example"}
    ).json()
    assert (
        answer["run_page_url"]
        == f"http://dbc.example/?o=1234567890123456#job/{run['job_id']}/run/{run['run_id']}"
    )


def test_runs_list_pages_newest_first_and_filters(api: Api, emu: Emulator) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    ids = []
    for _ in range(5):
        ids.append(run_on(api, cluster_id))
        emu.advance(0.01)
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        status, page = api.call("GET", "/api/2.2/jobs/runs/list", **params)
        assert status == 200, page
        seen += [run["run_id"] for run in page["runs"]]
        assert all("tasks" not in run for run in page["runs"])  # tasks only with expand_tasks
        if not page.get("next_page_token"):
            assert page["has_more"] is False
            break
        params["page_token"] = page["next_page_token"]
    assert seen == ids[::-1]
    status, active = api.call("GET", "/api/2.1/jobs/runs/list", active_only="true", expand_tasks="true")
    assert [run["run_id"] for run in active["runs"]] == ids[::-1] and active["runs"][0]["tasks"]
    emu.advance(2)
    assert "runs" not in api.call("GET", "/api/2.1/jobs/runs/list", active_only="true")[1]
    status, old = api.call("GET", "/api/2.0/jobs/runs/list", offset=3, limit=2)
    assert [run["run_id"] for run in old["runs"]] == ids[1::-1] and old["has_more"] is False
    for bad in ({"limit": 26}, {"limit": -1}, {"active_only": "true", "completed_only": "true"}):
        assert api.call("GET", "/api/2.1/jobs/runs/list", **bad)[0] == 400, bad


def test_clusters_list_page_size_zero_is_the_default_page_and_ends(api: Api) -> None:
    made = {api.create() for _ in range(3)}
    status, page = api.call("GET", "/api/2.1/clusters/list", page_size=0)
    assert status == 200
    assert {c["cluster_id"] for c in page["clusters"]} == made and page["next_page_token"] == ""


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_clusters_list_pages_cover_every_cluster_once(api: Api, size: int) -> None:
    made = [api.create(cluster_name=f"c{i}") for i in range(5)]
    seen: list[str] = []
    params: dict[str, Any] = {"page_size": size, "sort_by.field": "CLUSTER_NAME", "sort_by.direction": "ASC"}
    for _ in range(10):
        status, page = api.call("GET", "/api/2.1/clusters/list", **params)
        assert status == 200, page
        seen += [c["cluster_id"] for c in page["clusters"]]
        if not page["next_page_token"]:
            break
        params["page_token"] = page["next_page_token"]
    assert seen == made


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": -1},
        {"page_size": 101},
        {"page_size": "x"},
        {"page_size": 2.5},
        {"page_token": "not-a-token"},
    ],
)
def test_clusters_list_refuses_what_is_out_of_range(api: Api, params: dict[str, Any]) -> None:
    api.create()
    status, answer = api.call("GET", "/api/2.1/clusters/list", **params)
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE", answer


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/2.1/clusters/list", '{"page_size": 1e999}'),
        ("GET", "/api/2.2/jobs/runs/list", '{"limit": 1e999}'),
        ("GET", "/api/2.2/jobs/runs/list", '{"offset": -1}'),
        ("POST", "/api/2.1/clusters/events", '{"cluster_id": "CID", "page_size": 1e999}'),
        ("POST", "/api/2.1/clusters/events", '{"cluster_id": "CID", "event_types": [{}]}'),
        ("POST", "/api/2.1/clusters/events", '{"cluster_id": "CID", "offset": -1}'),
    ],
)
def test_numbers_and_types_out_of_range_are_a_400_not_a_500(
    api: Api, emu: Emulator, method: str, path: str, body: str
) -> None:
    cluster_id = api.create()
    answer = api.session.request(method, emu.url + path, data=body.replace("CID", cluster_id))
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", answer.text
    status, run = api.call("GET", "/api/2.1/jobs/runs/get", run_id="1e999")
    assert status == 400 and "does not exist" in run["message"]


def test_a_token_of_another_list_is_refused(api: Api) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")  # events enough for a second page
    events = api.call("POST", "/api/2.1/clusters/events", {"cluster_id": cluster_id, "page_size": 1})[1]
    status, answer = api.call("GET", "/api/2.1/clusters/list", page_token=events["next_page_token"])
    assert status == 400 and "page_token" in answer["message"]


def test_pages_neither_repeat_nor_miss_what_changes_between_them(api: Api, emu: Emulator) -> None:
    # A token is a cursor, not an offset: a cluster removed between two pages makes the next page skip
    # nothing (an offset would now skip "b").
    clusters = [api.create(cluster_name=name) for name in ("a", "b", "c")]
    status, first = api.call(
        "GET", "/api/2.1/clusters/list", page_size=1, **{"sort_by.field": "CLUSTER_NAME"}
    )
    assert status == 200 and [c["cluster_name"] for c in first["clusters"]] == ["a"]
    api.call("POST", "/api/2.1/clusters/permanent-delete", {"cluster_id": clusters[0]})
    seen = [c["cluster_name"] for c in first["clusters"]]
    params: dict[str, Any] = {
        "page_size": 1,
        "page_token": first["next_page_token"],
        "sort_by.field": "CLUSTER_NAME",
    }
    while params["page_token"]:
        page = api.call("GET", "/api/2.1/clusters/list", **params)[1]
        seen += [c["cluster_name"] for c in page["clusters"]]
        params["page_token"] = page["next_page_token"]
    assert seen == ["a", "b", "c"]
    # Runs, newest first: a run submitted between two pages does not push one onto the next page again.
    for cluster_id in clusters[1:]:
        api.wait_for(cluster_id, "RUNNING")
    runs = [run_on(api, clusters[1]) for _ in range(3)]
    first = api.call("GET", "/api/2.2/jobs/runs/list", limit=2)[1]
    run_on(api, clusters[1])
    rest = api.call("GET", "/api/2.2/jobs/runs/list", limit=2, page_token=first["next_page_token"])[1]
    assert [r["run_id"] for r in first["runs"] + rest["runs"]] == runs[::-1]
    previous = api.call("GET", "/api/2.2/jobs/runs/list", limit=2, page_token=rest["prev_page_token"])[1]
    assert [r["run_id"] for r in previous["runs"]] == runs[:0:-1]


def test_a_state_file_of_the_previous_version_still_serves(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state, time_scale=0, start_seconds=1, run_seconds=1) as emu:
        api = Api(emu)
        cluster_id = api.create(num_workers=1)
        api.wait_for(cluster_id, "RUNNING")
        run_id = run_on(api, cluster_id)
    saved = json.loads(state.read_text())
    # What the previous version did not save: a node's size, and the tasks' own job id, times and cluster.
    for cluster in saved["workspace"]["clusters"].values():
        del cluster["_node_memory_mb"], cluster["_node_cores"]
    saved["runs"] = saved["runs"]["runs"]  # nor the next run id and the tokens beside them
    for run in saved["runs"].values():
        for task in run["tasks"]:
            for key in ("job_id", "start_time", "end_time", "cluster_instance"):
                del task[key]
    state.write_text(json.dumps(saved))
    with Emulator(state_file=state, time_scale=0, start_seconds=1, run_seconds=1) as emu:
        api = Api(emu)
        status, old = api.call("GET", "/api/2.0/jobs/runs/get", run_id=run_id)
        assert status == 200 and old["cluster_instance"] == {"cluster_id": cluster_id}, old
        memory = api.get(cluster_id)["cluster_memory_mb"]
        api.call("POST", "/api/2.1/clusters/resize", {"cluster_id": cluster_id, "num_workers": 3})
        assert api.wait_for(cluster_id, "RUNNING")["cluster_memory_mb"] == memory * 2


def test_clusters_list_filter_as_a_json_body(api: Api, emu: Emulator) -> None:
    running = api.create()
    emu.set_scenario("stuck_pending", cluster_name="held")
    api.create(cluster_name="held")
    api.wait_for(running, "RUNNING")
    answer = api.session.get(
        f"{emu.url}/api/2.1/clusters/list", json={"filter_by": {"cluster_states": ["RUNNING"]}}
    ).json()
    assert [c["cluster_id"] for c in answer["clusters"]] == [running]


def test_events_page_by_token_and_the_next_request(api: Api, emu: Emulator) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    for _ in range(3):
        assert api.call("POST", "/api/2.1/clusters/pin", {"cluster_id": cluster_id})[0] == 200
        assert api.call("POST", "/api/2.1/clusters/unpin", {"cluster_id": cluster_id})[0] == 200
    every = api.event_types(cluster_id)
    body: dict[str, Any] = {"cluster_id": cluster_id, "order": "ASC", "page_size": 3}
    by_token: list[str] = []
    by_next_page: list[str] = []
    request: dict[str, Any] | None = dict(body)
    while request is not None:  # what databricks-sdk follows: the next request itself
        status, page = api.call("POST", "/api/2.1/clusters/events", request)
        assert status == 200, page
        by_next_page += [e["type"] for e in page["events"]]
        request = page.get("next_page")
    while True:  # what the current API reference describes: the next page's token
        page = api.call("POST", "/api/2.1/clusters/events", body)[1]
        by_token += [e["type"] for e in page["events"]]
        if not page["next_page_token"]:
            break
        body["page_token"] = page["next_page_token"]
    assert by_token == by_next_page == every and len(every) == 9  # three pages


def test_events_refuse_an_unknown_event_type(api: Api) -> None:
    cluster_id = api.create()
    status, answer = api.call(
        "POST", "/api/2.1/clusters/events", {"cluster_id": cluster_id, "event_types": ["CREATING", "BOOTED"]}
    )
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "BOOTED" in answer["message"]


def test_after_a_resize_the_spec_shows_the_new_size(api: Api) -> None:
    cluster_id = api.create(num_workers=2)
    api.wait_for(cluster_id, "RUNNING")
    assert (
        api.call("POST", "/api/2.1/clusters/resize", {"cluster_id": cluster_id, "num_workers": 5})[0] == 200
    )
    cluster = api.wait_for(cluster_id, "RUNNING")
    assert cluster["num_workers"] == cluster["spec"]["num_workers"] == 5
    resize = {"cluster_id": cluster_id, "autoscale": {"min_workers": 1, "max_workers": 3}}
    assert api.call("POST", "/api/2.1/clusters/resize", resize)[0] == 200
    cluster = api.wait_for(cluster_id, "RUNNING")
    assert cluster["spec"]["autoscale"] == {"min_workers": 1, "max_workers": 3}
    assert "num_workers" not in cluster["spec"]


def test_the_request_log_keeps_only_the_newest() -> None:
    faults = Faults()
    for index in range(REQUEST_LOG_SIZE + 5):
        faults.log("GET", f"/api/2.1/clusters/get/{index}", 200)
    assert len(faults.request_log) == REQUEST_LOG_SIZE
    assert faults.request_log[-1]["path"].endswith(f"/{REQUEST_LOG_SIZE + 4}")


def test_expired_oauth_tokens_are_forgotten() -> None:
    now = [0.0]
    auth = Auth({}, oauth_clients={"sp": "secret"}, clock=lambda: now[0])
    for _ in range(50):
        auth.mint("sp", "secret", "client_credentials")
        now[0] += 600  # each lives an hour: at most seven are alive at once
    assert len(auth._minted) <= 7
