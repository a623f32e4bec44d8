"""The emulator's console page: what the "Databricks Cluster" link (``<host>/#setting/clusters/<id>/...``)
opens on the emulator, and the read-only data behind it.

Over HTTP to a real emulator on a stopped clock. A client that is not on loopback cannot be made over a
real socket here (every address this machine can call from is its own), so those tests call the
emulator's ASGI app in process with httpx's ASGI transport, which hands the app the client address a
server would: the app itself runs, nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import requests

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import SPEC, Api

DATA = "/emulator/console/clusters"
#: Every element id the browser test relies on.
ELEMENT_IDS = (
    "cluster-name",
    "cluster-id",
    "state",
    "termination-reason",
    "configuration",
    "events",
    "cluster-list",
)
REGISTRY_PASSWORD = "registry-pw-7f3a9c"
ENV_PASSWORD = "env-pw-51d0e2"
S3_SECRET = "s3-secret-c4b8a1"
SECRET_SPEC: dict[str, Any] = {
    "docker_image": {
        "url": "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1",
        "basic_auth": {"username": "AWS", "password": REGISTRY_PASSWORD},
    },
    "spark_env_vars": {"DB_PASSWORD": ENV_PASSWORD, "STAGE": "test"},
    "spark_conf": {"spark.hadoop.fs.s3a.secret.key": S3_SECRET, "spark.speculation": "true"},
}
SECRETS = (REGISTRY_PASSWORD, ENV_PASSWORD, S3_SECRET)


def console(emu: Emulator, path: str = "") -> requests.Response:
    """A console request as a browser sends it: no token."""
    return requests.get(f"{emu.url}{DATA}{path}", timeout=30)


def from_client(emu: Emulator, path: str, client: tuple[str, int], host: str = "127.0.0.1") -> httpx.Response:
    """``GET path`` from ``client`` (address, port), straight into the emulator's ASGI app."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=emu.app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
            return await http.get(path)

    return asyncio.run(call())


@pytest.mark.parametrize("path", ["/", "/?o=1234567890123456"])
def test_the_page_is_html_with_the_element_ids_and_needs_no_token(emu: Emulator, path: str) -> None:
    response = requests.get(emu.url + path, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for element_id in ELEMENT_IDS:
        assert f'id="{element_id}"' in response.text
    assert '<pre id="configuration">' in response.text
    assert "hashchange" in response.text and DATA in response.text
    # Nothing outside the page: no CDN (no internet here), and the policy allows nothing else to load.
    assert "http://" not in response.text and "https://" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_a_cluster_started_and_terminated_shows_its_state_workers_reason_and_events(
    emu: Emulator, api: Api
) -> None:
    cluster_id = api.create(**SECRET_SPEC)
    api.wait_for(cluster_id, "RUNNING")
    running = console(emu, f"/{cluster_id}").json()
    assert running["cluster"]["state"] == "RUNNING"
    assert running["cluster"]["termination_reason"] is None
    start = running["cluster"]["start_time"]
    assert running["cluster"]["uptime_seconds"] == (running["now"] - start) / 1000
    # SPOT_WITH_FALLBACK with first_on_demand 1: the driver on demand, both workers on spot.
    assert running["workers"] == {
        "num_workers": 2,
        "autoscale": None,
        "availability": "SPOT_WITH_FALLBACK",
        "first_on_demand": 1,
        "spot_bid_price_percent": 100,
        "driver_on_spot": False,
        "executors": 2,
        "executors_on_spot": 2,
        "executors_on_demand": 0,
    }

    assert api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})[0] == 200
    terminated = api.wait_for(cluster_id, "TERMINATED")
    response = console(emu, f"/{cluster_id}")
    assert response.status_code == 200
    view = response.json()
    cluster = view["cluster"]
    assert (cluster["cluster_id"], cluster["cluster_name"]) == (cluster_id, SPEC["cluster_name"])
    assert (cluster["state"], cluster["state_message"]) == ("TERMINATED", terminated["state_message"])
    assert cluster["termination_reason"] == terminated["termination_reason"]
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"
    assert cluster["termination_reason"]["type"] == "SUCCESS"
    assert cluster["uptime_seconds"] == (terminated["terminated_time"] - start) / 1000
    assert view["workers"]["executors"] is None  # no machines once terminated

    # Every event, newest first, as the API has them; the termination's carries its reason.
    assert [e["type"] for e in view["events"]] == list(reversed(api.event_types(cluster_id)))
    assert view["events_total"] == len(view["events"])
    stamps = [e["timestamp"] for e in view["events"]]
    assert stamps == sorted(stamps, reverse=True)
    (terminating,) = [e for e in view["events"] if e["type"] == "TERMINATING"]
    assert terminating["summary"].startswith("USER_REQUEST (SUCCESS)")
    (creating,) = [e for e in view["events"] if e["type"] == "CREATING"]
    assert "spec: see the configuration" in creating["summary"]

    # The configuration is the spec the workspace received, with every secret hidden.
    configuration = view["configuration"]
    assert configuration["cluster_name"] == SPEC["cluster_name"]
    assert configuration["num_workers"] == 2
    assert configuration["spark_env_vars"] == {"DB_PASSWORD": "***", "STAGE": "test"}
    assert configuration["spark_conf"] == {
        "spark.hadoop.fs.s3a.secret.key": "***",
        "spark.speculation": "true",
    }
    assert configuration["docker_image"]["url"] == SECRET_SPEC["docker_image"]["url"]
    assert configuration["docker_image"]["basic_auth"].get("password") in (None, "***")


def test_no_secret_reaches_the_page_or_its_data(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(**SECRET_SPEC)
    api.wait_for(cluster_id, "RUNNING")
    edited = {**SPEC, **SECRET_SPEC, "cluster_id": cluster_id, "num_workers": 1}
    assert api.call("POST", "/api/2.1/clusters/edit", edited)[0] == 200  # an EDITED event, two specs
    api.wait_for(cluster_id, "RUNNING")
    assert api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})[0] == 200
    api.wait_for(cluster_id, "TERMINATED")
    answers = [
        requests.get(emu.url + "/", timeout=30),
        requests.get(f"{emu.url}/?o=1234567890123456", timeout=30),
        console(emu),
        console(emu, f"/{cluster_id}"),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200]
    assert "EDITED" in [e["type"] for e in answers[-1].json()["events"]]
    for answer in answers:
        for secret in SECRETS:
            assert secret not in answer.text


def test_without_a_cluster_the_list_links_every_cluster(emu: Emulator, api: Api) -> None:
    assert console(emu).json() == {"clusters": []}
    first = api.create(cluster_name="first")
    emu.advance(1)  # a later start: the list shows it first
    second = api.create(cluster_name="second")
    api.wait_for(second, "RUNNING")
    listed = console(emu).json()["clusters"]
    assert [(c["cluster_id"], c["cluster_name"], c["state"]) for c in listed] == [
        (second, "second", "RUNNING"),
        (first, "first", emu.clusters[first]["state"]),
    ]


def test_an_unknown_cluster_is_a_404_in_json(emu: Emulator) -> None:
    response = console(emu, "/0101-000000-nosuchid")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Cluster 0101-000000-nosuchid does not exist",
    }
    assert console(emu, "/").status_code == 404  # no id at all


@pytest.mark.parametrize("client", [("10.0.0.5", 1234), ("192.168.1.20", 5555), ("2001:db8::7", 443)])
def test_a_client_not_on_loopback_gets_a_403_for_the_data_but_the_page_itself(
    emu: Emulator, api: Api, client: tuple[str, int]
) -> None:
    cluster_id = api.create()
    for path in (DATA, f"{DATA}/{cluster_id}", f"{DATA}/0101-000000-nosuchid"):
        refused = from_client(emu, path, client)
        assert refused.status_code == 403, path
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
        assert "served on loopback only" in refused.json()["message"]
        assert cluster_id not in refused.text
    # The page holds no data; it tells such a visitor what the data endpoint said.
    assert from_client(emu, "/", client).status_code == 200


@pytest.mark.parametrize("client", [("127.0.0.1", 1), ("127.8.9.10", 1), ("::1", 1), ("::ffff:127.0.0.1", 1)])
def test_every_loopback_address_is_served(emu: Emulator, api: Api, client: tuple[str, int]) -> None:
    cluster_id = api.create()
    assert from_client(emu, f"{DATA}/{cluster_id}", client).status_code == 200
    assert from_client(emu, DATA, client, host="localhost:8765").status_code == 200


def test_a_loopback_client_naming_another_host_is_refused(emu: Emulator, api: Api) -> None:
    """A web page rebound to 127.0.0.1 in the browser's DNS still sends its own name as the host."""
    api.create()
    refused = from_client(emu, DATA, ("127.0.0.1", 1), host="attacker.example")
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "PERMISSION_DENIED"


def test_every_other_endpoint_keeps_its_auth(emu: Emulator) -> None:
    bare = requests.Session()
    for method, path in [
        ("GET", "/emulator/clusters"),
        ("GET", "/emulator/stats"),
        ("GET", "/emulator/console"),  # not the data path: an admin path like any other
        ("POST", DATA),  # the data is read-only: only GET is the console's
        ("GET", "/api/2.1/clusters/list"),
    ]:
        assert bare.request(method, emu.url + path, timeout=30).status_code == 401, (method, path)
        wrong = {"Authorization": "Bearer not-the-token"}
        assert bare.request(method, emu.url + path, headers=wrong, timeout=30).status_code == 403
    assert bare.post(emu.url + "/", timeout=30).status_code == 401  # only GET / is the page


def test_the_console_is_not_counted_not_logged_and_not_faulted(emu: Emulator, api: Api) -> None:
    cluster_id = api.create()
    before, log_before = emu.stats(), emu.request_log
    emu.add_fault("status", status=503)  # every request of the API
    for response in [
        requests.get(emu.url + "/", timeout=30),
        requests.get(f"{emu.url}/?o=1234567890123456", timeout=30),
        console(emu),
        console(emu, f"/{cluster_id}"),
        console(emu, "/0101-000000-nosuchid"),
        from_client(emu, DATA, ("10.0.0.5", 1234)),
    ]:
        assert response.status_code in (200, 403, 404)
    assert emu.stats() == before
    assert emu.request_log == log_before
    assert api.call("GET", "/api/2.1/clusters/get", cluster_id=cluster_id)[0] == 503  # the fault is on
    assert emu.stats()["requests"] == before["requests"] + 1


def test_the_data_is_json_and_never_cached(emu: Emulator, api: Api) -> None:
    cluster_id = api.create()
    response = console(emu, f"/{cluster_id}")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert json.loads(response.text)["cluster"]["state"] == "PENDING"
