"""Error bodies as Databricks sends them, and every transport fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import SPEC, Api


@pytest.mark.parametrize(
    ("change", "status", "code", "message"),
    [
        ({"spark_version": None}, 400, "INVALID_PARAMETER_VALUE", "Missing required field: spark_version"),
        ({"spark_version": "1.0.x"}, 400, "INVALID_PARAMETER_VALUE", "Invalid spark version 1.0.x."),
        (
            {"autoscale": {"min_workers": 1, "max_workers": 2}},
            400,
            "INVALID_PARAMETER_VALUE",
            "num_workers or autoscale",
        ),
        ({"num_workers": None}, 400, "INVALID_PARAMETER_VALUE", "Missing required field: size"),
        (
            {"custom_tags": "x"},
            400,
            "MALFORMED_REQUEST",
            "Expected an object for field custom_tags, found STRING",
        ),
        ({"aws_attributes": {"availability": "CHEAP"}}, 400, "INVALID_PARAMETER_VALUE", "availability"),
        ({"aws_attributes": {"spot_bid_price_percent": 0}}, 400, "INVALID_PARAMETER_VALUE", "spot_bid_price"),
        ({"autotermination_minutes": 5}, 400, "INVALID_PARAMETER_VALUE", "between 10 and 10000"),
        ({"custom_tags": {f"k{i}": "v" for i in range(46)}}, 400, "INVALID_PARAMETER_VALUE", "maximum of 45"),
        ({"node_type_id": "z9.huge"}, 400, "INVALID_PARAMETER_VALUE", "Node type z9.huge is not supported"),
        ({"aws_attributes": {"zone_id": "us-east-1a"}}, 400, "INVALID_PARAMETER_VALUE", "Invalid zone_id"),
        (
            {"aws_attributes": {"instance_profile_arn": "arn:aws:iam::999999999999:instance-profile/x"}},
            400,
            "INVALID_PARAMETER_VALUE",
            "not registered",
        ),
        # A key the API does not have, at any depth: the request object cannot be parsed (issue 21).
        (
            {"aws_attributes": {"availabilty": "SPOT"}},
            400,
            "MALFORMED_REQUEST",
            "Could not parse request object: Unknown field aws_attributes.availabilty",
        ),
        ({"autotermination_minute": 30}, 400, "MALFORMED_REQUEST", "Unknown field autotermination_minute"),
        (
            {"num_workers": None, "autoscale": {"min_workers": 1, "max_workers": 2, "max": 3}},
            400,
            "MALFORMED_REQUEST",
            "Unknown field autoscale.max",
        ),
        (
            {"docker_image": {"url": "r/i:1", "basic_auth": {"username": "u", "password": "p", "user": "u"}}},
            400,
            "MALFORMED_REQUEST",
            "Unknown field docker_image.basic_auth.user",
        ),
        (
            {
                "init_scripts": [
                    {"s3": {"destination": "s3://b/ok.sh", "region": "ap-southeast-1"}},
                    {"s3": {"destnation": "s3://b/i.sh", "region": "ap-southeast-1"}},
                ]
            },
            400,
            "MALFORMED_REQUEST",
            "Unknown field init_scripts[1].s3.destnation",
        ),
        (
            {"init_scripts": [{"ftp": {"destination": "ftp://x/i.sh"}}]},
            400,
            "MALFORMED_REQUEST",
            "Unknown field init_scripts[0].ftp",
        ),
        (
            {"cluster_log_conf": {"volumes": {"destination": "/Volumes/c/s/v", "region": "x"}}},
            400,
            "MALFORMED_REQUEST",
            "Unknown field cluster_log_conf.volumes.region",
        ),
    ],
)
def test_create_refusals(api: Api, change: dict, status: int, code: str, message: str) -> None:
    body = {**SPEC, **change}
    answer_status, answer = api.call(
        "POST", "/api/2.1/clusters/create", {k: v for k, v in body.items() if v is not None}
    )
    assert answer_status == status
    assert answer["error_code"] == code
    assert message in answer["message"]


def test_newer_create_fields_are_taken_and_shown_back(api: Api) -> None:
    # Fields the plugin does not model but the API has (databricks-sdk's create sends them): a workspace
    # takes them and keeps them in the cluster's spec.
    newer = {
        "kind": "CLASSIC_PREVIEW",
        "is_single_node": False,
        "use_ml_runtime": False,
        "worker_node_type_flexibility": {"alternate_node_type_ids": ["i3.2xlarge"]},
        "remote_disk_throughput": 250,
        "total_initial_remote_disk_size": 100,
        "workload_type": {"clients": {"jobs": True, "notebooks": False}},
    }
    cluster = api.get(api.create(**newer))
    assert {name: cluster["spec"][name] for name in newer} == newer


def test_an_unknown_field_is_refused_on_edit_too(api: Api) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    status, answer = api.call(
        "POST", "/api/2.1/clusters/edit", {**SPEC, "cluster_id": cluster_id, "num_worker": 3}
    )
    assert (status, answer["error_code"]) == (400, "MALFORMED_REQUEST")
    assert answer["message"] == "Could not parse request object: Unknown field num_worker"


def test_state_refusals_and_unknown_cluster(api: Api) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    assert api.call("POST", "/api/2.0/clusters/start", {"cluster_id": cluster_id}) == (
        400,
        {"error_code": "INVALID_STATE", "message": f"Cluster {cluster_id} is in unexpected state Running."},
    )
    assert api.call("GET", "/api/2.1/clusters/get", cluster_id="0101-000000-nothere0") == (
        400,
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "Cluster 0101-000000-nothere0 does not exist"},
    )
    assert api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id}) == (200, {})
    api.wait_for(cluster_id, "TERMINATED")
    assert api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id}) == (200, {})
    assert (
        api.call("POST", "/api/2.1/clusters/resize", {"cluster_id": cluster_id, "num_workers": 3})[0] == 400
    )
    assert api.call("POST", "/api/2.1/clusters/start", {"cluster_id": cluster_id}) == (200, {})
    assert api.get(cluster_id)["state"] == "PENDING"  # start moves to PENDING before it answers


def test_bad_token(emu: Emulator) -> None:
    response = requests.get(f"{emu.url}/api/2.1/clusters/list", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 403
    assert response.json() == {"error_code": 403, "message": "Invalid access token."}
    assert response.headers["X-Databricks-Reason-Phrase"] == "Invalid access token."


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}], ids=["none", "basic"])
def test_no_credential_is_401(emu: Emulator, headers: dict[str, str]) -> None:
    response = requests.get(f"{emu.url}/api/2.1/clusters/list", headers=headers)
    message = "Credential was not sent or was of an unsupported type for this API."
    assert response.status_code == 401
    assert response.json() == {"error_code": 401, "message": message}
    assert response.headers["X-Databricks-Reason-Phrase"] == message


@pytest.mark.parametrize(
    ("form", "auth", "status", "body"),
    [
        (
            {"grant_type": "client_credentials", "scope": "all-apis"},
            ("sp-client", "wrong"),
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
        ),
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            None,
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
        ),
        (
            {"grant_type": "password", "scope": "all-apis"},
            ("sp-client", "sp-secret"),
            400,
            {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type password"},
        ),
        (
            {"scope": "all-apis"},
            ("sp-client", "sp-secret"),
            400,
            {"error": "invalid_request", "error_description": "Missing required parameter: grant_type"},
        ),
    ],
)
def test_token_endpoint_errors_are_oauth_shaped(
    emu: Emulator, form: dict, auth: tuple[str, str] | None, status: int, body: dict
) -> None:
    emu.add_oauth_client("sp-client", "sp-secret")
    response = requests.post(f"{emu.url}/oidc/v1/token", data=form, auth=auth, timeout=10)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == body


def test_token_endpoint_refuses_a_malformed_basic_header(emu: Emulator) -> None:
    response = requests.post(
        f"{emu.url}/oidc/v1/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic not*base64"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_rate_limit_on_the_nth_call(emu: Emulator, api: Api) -> None:
    emu.add_fault("rate_limit", path="clusters/list", nth=2, retry_after=7)
    assert api.call("GET", "/api/2.1/clusters/list")[0] == 200
    response = api.session.get(f"{emu.url}/api/2.1/clusters/list")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert api.call("GET", "/api/2.1/clusters/list")[0] == 200


@pytest.mark.parametrize(("status", "code"), [(500, "INTERNAL_ERROR"), (503, "TEMPORARILY_UNAVAILABLE")])
def test_server_errors(emu: Emulator, api: Api, status: int, code: str) -> None:
    emu.add_fault("status", status=status, path="clusters/get", times=1)
    assert api.call("GET", "/api/2.1/clusters/get", cluster_id="x")[1]["error_code"] == code


def test_rate_is_seeded_and_repeatable(emu: Emulator, api: Api) -> None:
    emu.add_fault("status", status=500, path="clusters/list", rate=0.5, seed=3)
    first = [api.call("GET", "/api/2.1/clusters/list")[0] for _ in range(10)]
    emu.clear_faults()
    emu.add_fault("status", status=500, path="clusters/list", rate=0.5, seed=3)
    assert [api.call("GET", "/api/2.1/clusters/list")[0] for _ in range(10)] == first
    assert 0 < first.count(500) < 10


def test_drop_before_handling_loses_nothing(emu: Emulator, api: Api) -> None:
    emu.add_fault("drop_before", path="clusters/create", times=1)
    with pytest.raises(requests.ConnectionError):
        api.call("POST", "/api/2.1/clusters/create", SPEC)
    assert emu.clusters == {}


def test_drop_after_handling_creates_the_cluster(emu: Emulator, api: Api) -> None:
    emu.add_fault("drop_after", path="clusters/create", times=1)
    with pytest.raises(requests.ConnectionError):
        api.call("POST", "/api/2.1/clusters/create", SPEC)
    assert len(emu.clusters) == 1


def test_slow_answer(emu: Emulator, api: Api) -> None:
    # Ten times the client's timeout: the answer cannot beat it, however slow the machine.
    emu.add_fault("delay", delay=3.0, path="clusters/list", times=1)
    with pytest.raises(requests.Timeout):
        api.session.get(f"{emu.url}/api/2.1/clusters/list", timeout=0.3)


def test_faults_through_the_admin_endpoint(emu: Emulator, api: Api) -> None:
    status, body = api.call(
        "POST", "/emulator/faults", {"kind": "status", "status": 502, "path": "clusters/list"}
    )
    assert status == 200 and body["fault"]["status"] == 502
    assert api.call("GET", "/api/2.1/clusters/list")[1]["error_code"] == "BAD_GATEWAY"
    assert api.call("DELETE", "/emulator/faults") == (200, {})
    requests_seen = api.call("GET", "/emulator/requests")[1]["requests"]
    assert any(r["status"] == 502 and r["fault"] == "status" for r in requests_seen)
    assert all("Bearer" not in str(r) for r in requests_seen)


def test_a_registry_password_is_never_answered_back(tmp_path: Path) -> None:
    # Not by get, nor by the EDITED event's attributes, nor in the saved state.
    state = tmp_path / "workspace.json"
    with Emulator(start_seconds=0.2, state_file=state, time_scale=0) as emu:
        quick = Api(emu)
        image = {"url": "repo/etl:1", "basic_auth": {"username": "AWS", "password": "s3cr3t-registry-pw"}}
        cluster_id = quick.create(docker_image=image)
        quick.wait_for(cluster_id, "RUNNING")
        status, _ = quick.call("POST", "/api/2.1/clusters/edit", {**SPEC, "cluster_id": cluster_id,
                                                                  "docker_image": image})  # fmt: skip
        assert status == 200
        seen = [
            quick.get(cluster_id),
            quick.call("POST", "/api/2.1/clusters/events", {"cluster_id": cluster_id}),
        ]
    assert "s3cr3t-registry-pw" not in str(seen) + state.read_text()
    assert "EDITED" in str(seen[1]) and seen[0]["docker_image"]["basic_auth"] == {"username": "AWS"}


def test_event_times_must_be_numbers(api: Api) -> None:
    cluster_id = api.create()
    status, body = api.call("POST", "/api/2.1/clusters/events", {"cluster_id": cluster_id, "start_time": "x"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "start_time" in body["message"]
