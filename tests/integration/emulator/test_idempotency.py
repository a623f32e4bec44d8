"""``idempotency_token`` on clusters/create: while the cluster created with a token is not TERMINATED
(TERMINATING still holds it), a create with that token answers that cluster's id and makes nothing; once
it is TERMINATED, the token makes a new cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api


def test_the_same_token_answers_the_same_cluster_and_makes_nothing(emu: Emulator, api: Api) -> None:
    first = api.create(idempotency_token="nightly-2026-12-07")
    events = emu.events(first)
    again = api.create(idempotency_token="nightly-2026-12-07", cluster_name="another name")
    assert again == first
    assert emu.stats()["clusters"] == 1
    assert emu.events(first) == events  # no second CREATING
    api.wait_for(first, "RUNNING")
    assert api.create(idempotency_token="nightly-2026-12-07") == first  # RUNNING holds it
    other = api.create(idempotency_token="nightly-2026-12-08")
    assert other != first and emu.stats()["clusters"] == 2
    assert api.get(first)["cluster_name"] == "emu-test"  # the repeated create changed nothing


def test_the_token_is_never_shown(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(idempotency_token="secret-ish")
    cluster = api.get(cluster_id)
    assert "idempotency_token" not in cluster and "idempotency_token" not in cluster["spec"]
    assert "idempotency_token" not in emu.events(cluster_id)[0]["details"]["attributes"]
    status, listed = api.call("GET", "/api/2.1/clusters/list")
    assert status == 200 and "secret-ish" not in str(listed)


def test_a_terminating_cluster_still_holds_its_token_a_terminated_one_does_not(
    emu: Emulator, api: Api
) -> None:
    first = api.create(idempotency_token="t")
    api.wait_for(first, "RUNNING")
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": first})
    assert api.get(first)["state"] == "TERMINATING"
    assert api.create(idempotency_token="t") == first
    api.wait_for(first, "TERMINATED")
    second = api.create(idempotency_token="t")
    assert second != first
    assert api.create(idempotency_token="t") == second


def test_a_token_is_cleared_when_its_cluster_terminates_even_if_it_starts_again(
    emu: Emulator, api: Api
) -> None:
    first = api.create(idempotency_token="t")
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": first})
    api.wait_for(first, "TERMINATED")
    api.call("POST", "/api/2.1/clusters/start", {"cluster_id": first})
    assert api.get(first)["state"] == "PENDING"
    assert api.create(idempotency_token="t") != first


def test_a_start_that_fails_frees_its_token(emu: Emulator, api: Api) -> None:
    emu.set_scenario("docker_image_pull_failure", times=1)
    failed = api.create(idempotency_token="t", docker_image={"url": "repo/image:missing"})
    assert api.wait_for(failed, "TERMINATED")["termination_reason"]["code"] == "DOCKER_IMAGE_PULL_FAILURE"
    assert api.create(idempotency_token="t") != failed


@pytest.mark.parametrize("token", ["", "x" * 65, "é" * 65])
def test_a_token_outside_1_to_64_characters_is_refused(emu: Emulator, api: Api, token: str) -> None:
    status, answer = api.call("POST", "/api/2.1/clusters/create", {**_spec(), "idempotency_token": token})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "idempotency_token" in answer["message"] and "64" in answer["message"]
    assert emu.stats()["clusters"] == 0


def test_a_token_of_64_characters_is_taken(api: Api) -> None:
    token = "x" * 64
    assert api.create(idempotency_token=token) == api.create(idempotency_token=token)


def test_a_token_that_is_not_a_string_is_a_malformed_request(api: Api) -> None:
    status, answer = api.call("POST", "/api/2.1/clusters/create", {**_spec(), "idempotency_token": 7})
    assert (status, answer["error_code"]) == (400, "MALFORMED_REQUEST")
    assert "idempotency_token" in answer["message"]


def test_an_edit_neither_keeps_nor_shows_a_token(emu: Emulator, api: Api) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    status, _ = api.call(
        "POST", "/api/2.1/clusters/edit", {**_spec(), "cluster_id": cluster_id, "idempotency_token": "e"}
    )
    assert status == 200
    assert "idempotency_token" not in api.get(cluster_id)
    assert api.create(idempotency_token="e") != cluster_id


def test_the_token_survives_a_restart_of_the_emulator(tmp_path: Path) -> None:
    state = tmp_path / "workspace.json"
    with Emulator(state_file=state, time_scale=0) as emu:
        first = Api(emu).create(idempotency_token="t")
    with Emulator(state_file=state, time_scale=0) as emu:
        api = Api(emu)
        assert api.create(idempotency_token="t") == first
        api.call("POST", "/api/2.1/clusters/permanent-delete", {"cluster_id": first})
        assert api.create(idempotency_token="t") != first


def _spec() -> dict[str, object]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
