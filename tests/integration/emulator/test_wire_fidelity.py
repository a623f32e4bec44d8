"""What a workspace answers on the wire, asked the way real clients ask: parameters of a GET in a JSON body
(the official provider's async hook), task run ids (its failed-task error), paging tokens (databricks-sdk),
Jobs 2.0 (the legacy CLI), and the address a client called (page URLs)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

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


@pytest.mark.parametrize("params", [{"page_size": -1}, {"page_size": "x"}, {"page_token": "not-a-token"}])
def test_clusters_list_refuses_what_is_out_of_range(api: Api, params: dict[str, Any]) -> None:
    api.create()
    status, answer = api.call("GET", "/api/2.1/clusters/list", **params)
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE", answer


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


def test_no_credentials_is_not_a_bad_token(emu: Emulator) -> None:
    assert requests.get(f"{emu.url}/api/2.1/clusters/list", timeout=10).status_code == 401
