"""Fast-forward over HTTP: a read of one cluster or run finds it where it is going, on a stopped clock
(``emu`` has ``time_scale=0``), so nothing here depends on how fast the machine is."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.cli import _parser
from tests.integration.emulator.conftest import Api


@pytest.fixture
def ff(emu: Emulator) -> Emulator:
    emu.fast_forward = True
    return emu


def submit(api: Api, cluster_id: str) -> dict[str, Any]:
    status, body = api.call(
        "POST",
        "/api/2.1/jobs/runs/submit",
        {
            "run_name": "r",
            "existing_cluster_id": cluster_id,
            "spark_python_task": {"python_file": "dbfs:/a.py"},
        },
    )
    assert status == 200, body
    return dict(body)


def test_off_by_default_a_new_cluster_reads_pending_on_a_stopped_clock(emu: Emulator, api: Api) -> None:
    assert Emulator().fast_forward is False
    assert api.get(api.create())["state"] == "PENDING"


def test_a_new_cluster_reads_running_at_its_first_get_stamped_when_it_was_due(ff: Emulator, api: Api) -> None:
    before = ff.clock.now()
    cluster_id = api.create()

    cluster = api.get(cluster_id)

    assert cluster["state"] == "RUNNING"
    running = [e for e in ff.events(cluster_id) if e["type"] == "RUNNING"]
    assert running[0]["timestamp"] / 1000 == pytest.approx(before + 0.4, abs=0.01)  # start_seconds=0.4
    assert ff.clock.now() == pytest.approx(before + 0.4, abs=0.01)  # moved as far as needed, no further


def test_events_read_fast_forwards_too_and_lists_do_not(ff: Emulator, api: Api) -> None:
    cluster_id = api.create()
    status, listed = api.call("GET", "/api/2.1/clusters/list")
    assert status == 200
    assert [c["state"] for c in listed["clusters"]] == ["PENDING"]

    status, body = api.call("POST", "/api/2.1/clusters/events", {"cluster_id": cluster_id})

    assert status == 200
    assert "RUNNING" in [e["type"] for e in body["events"]]


def test_a_terminating_cluster_reads_terminated(ff: Emulator, api: Api) -> None:
    cluster_id = api.create()
    api.get(cluster_id)
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})

    cluster = api.get(cluster_id)

    assert cluster["state"] == "TERMINATED"
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"


def test_a_failed_start_reads_terminated_with_its_reason(ff: Emulator, api: Api) -> None:
    ff.set_scenario("spot_capacity_failure")

    cluster = api.get(api.create(aws_attributes={"availability": "SPOT"}))

    assert cluster["state"] == "TERMINATED"
    assert cluster["termination_reason"]["code"] == "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"


def test_pending_for_good_stays_pending_and_pending_for_a_while_is_jumped(ff: Emulator, api: Api) -> None:
    ff.set_scenario("stuck_pending", cluster_name="forever")
    ff.set_scenario("stuck_pending", cluster_name="a-while", seconds=600)
    before = ff.clock.now()

    assert api.get(api.create(cluster_name="forever"))["state"] == "PENDING"
    assert ff.clock.now() == before
    assert api.get(api.create(cluster_name="a-while"))["state"] == "RUNNING"
    assert ff.clock.now() >= before + 600


def test_a_resting_cluster_is_not_moved_into_its_autotermination(ff: Emulator, api: Api) -> None:
    cluster_id = api.create(autotermination_minutes=10)
    assert api.get(cluster_id)["state"] == "RUNNING"
    at = ff.clock.now()

    for _ in range(3):
        assert api.get(cluster_id)["state"] == "RUNNING"

    assert ff.clock.now() == at


def test_a_run_reads_ended_at_its_first_get_and_its_task_output_too(ff: Emulator, api: Api) -> None:
    cluster_id = api.create()
    run = submit(api, cluster_id)

    status, body = api.call("GET", "/api/2.1/jobs/runs/get", run_id=run["run_id"])

    assert status == 200
    assert body["state"]["life_cycle_state"] == "TERMINATED"
    assert body["state"]["result_state"] == "SUCCESS"

    second = submit(api, cluster_id)
    task_run_id = api.call("GET", "/api/2.1/jobs/runs/get", run_id=second["run_id"])[1]["tasks"][0]["run_id"]
    status, output = api.call("GET", "/api/2.1/jobs/runs/get-output", run_id=task_run_id)
    assert status == 200
    assert output["metadata"]["state"]["result_state"] == "SUCCESS"


def test_a_run_on_a_cluster_that_fails_to_start_reads_failed(ff: Emulator, api: Api) -> None:
    ff.set_scenario("docker_image_pull_failure")
    cluster_id = api.create(docker_image={"url": "example.com/etl:1"})

    status, body = api.call("GET", "/api/2.1/jobs/runs/get", run_id=submit(api, cluster_id)["run_id"])

    assert status == 200
    assert body["state"]["result_state"] == "FAILED"
    assert "DOCKER_IMAGE_PULL_FAILURE" in body["state"]["state_message"]


def test_unknown_ids_are_answered_as_without_it(ff: Emulator, api: Api) -> None:
    status, body = api.call("GET", "/api/2.1/clusters/get", cluster_id="0000-000000-nothere0")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = api.call("GET", "/api/2.1/jobs/runs/get", run_id=424242)
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_the_command_takes_it_as_a_flag() -> None:
    assert _parser().parse_args(["emulator", "--fast-forward"]).fast_forward is True
    assert _parser().parse_args(["emulator"]).fast_forward is False


def test_a_queued_job_run_is_read_where_it_is_going(ff: Emulator, api: Api) -> None:
    """A run waiting in its job's queue starts when the run ahead of it ends: read, it has run to its end."""
    cluster_id = api.create()
    task = {
        "task_key": "t",
        "existing_cluster_id": cluster_id,
        "spark_python_task": {"python_file": "dbfs:/a.py"},
    }
    status, job = api.call("POST", "/api/2.2/jobs/create", {"name": "ff-queue", "tasks": [task]})
    assert status == 200, job
    run_ids = [
        api.call("POST", "/api/2.2/jobs/run-now", {"job_id": job["job_id"]})[1]["run_id"] for _ in "ab"
    ]
    status, second = api.call("GET", "/api/2.2/jobs/runs/get", run_id=run_ids[1])
    assert status == 200, second
    assert second["state"]["life_cycle_state"] == "TERMINATED", second["state"]
    assert second["state"]["result_state"] == "SUCCESS"
