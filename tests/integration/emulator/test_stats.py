"""``GET /emulator/stats``: requests served since start (never the admin ones), clusters and runs held."""

from __future__ import annotations

import requests

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api


def stats(api: Api) -> dict[str, int]:
    status, body = api.call("GET", "/emulator/stats")
    assert status == 200, body
    return dict(body)


def test_it_counts_api_and_token_requests_whatever_their_answer(emu: Emulator, api: Api) -> None:
    assert stats(api) == {"requests": 0, "clusters": 0, "runs": 0}
    cluster_id = api.create()
    api.get(cluster_id)
    assert api.call("GET", "/api/2.1/clusters/get", cluster_id="nope")[0] == 400
    assert api.call("GET", "/api/2.1/no/such/endpoint")[0] == 404
    emu.add_oauth_client("sp", "sp-secret")
    token = requests.post(
        f"{emu.url}/oidc/v1/token",
        data={"grant_type": "client_credentials", "client_id": "sp", "client_secret": "sp-secret"},
    )
    assert token.status_code == 200
    emu.add_fault("rate_limit", path="clusters/list", times=1)
    assert api.call("GET", "/api/2.1/clusters/list")[0] == 429
    assert requests.get(f"{emu.url}/api/2.1/clusters/list").status_code == 401  # no credential
    assert stats(api) == {"requests": 7, "clusters": 1, "runs": 0}


def test_admin_requests_are_not_counted(emu: Emulator, api: Api) -> None:
    api.clock()
    api.clock(advance_seconds=1)
    assert api.call("GET", "/emulator/requests")[0] == 200
    stats(api)
    assert stats(api)["requests"] == 0
    assert emu.stats() == stats(api)


def test_it_counts_the_clusters_and_runs_held_now(api: Api) -> None:
    first, second = api.create(), api.create()
    api.wait_for(first, "RUNNING")
    task = {"task_key": "t", "existing_cluster_id": first, "spark_python_task": {"python_file": "x.py"}}
    for _ in range(3):
        assert api.call("POST", "/api/2.1/jobs/runs/submit", {"tasks": [task]})[0] == 200
    assert api.call("POST", "/api/2.1/clusters/permanent-delete", {"cluster_id": second})[0] == 200
    assert {key: value for key, value in stats(api).items() if key != "requests"} == {
        "clusters": 1,
        "runs": 3,
    }
