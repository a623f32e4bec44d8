"""The emulator's clock over HTTP and in-process: stopped, advanced, sped up, resumed from a state file.

The ``emu`` fixture's clock is stopped (``time_scale=0``) and its clusters start in 0.4 emulated seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api


def event_times(emu: Emulator, cluster_id: str) -> dict[str, int]:
    """The timestamp (ms) of each event type of the cluster, its last one of each."""
    return {e["type"]: e["timestamp"] for e in emu.events(cluster_id)}


def test_a_cluster_stays_pending_on_a_stopped_clock_until_advanced_past_its_start(
    emu: Emulator, api: Api
) -> None:
    cluster_id = api.create()
    time.sleep(0.5)  # longer than the start takes: real time does not move a stopped clock
    assert api.get(cluster_id)["state"] == "PENDING"
    api.clock(advance_seconds=0.35)
    assert api.get(cluster_id)["state"] == "PENDING"
    api.clock(advance_seconds=0.1)
    assert api.get(cluster_id)["state"] == "RUNNING"
    times = event_times(emu, cluster_id)
    # Stamped when it was due, not when it was seen (to the millisecond, as the API counts).
    assert times["RUNNING"] - times["CREATING"] == pytest.approx(400, abs=1)


def test_the_clock_endpoint_reads_advances_and_rescales(emu: Emulator, api: Api) -> None:
    before = api.clock()
    assert before == {"now": emu.clock.now(), "time_scale": 0.0}
    after = api.clock(advance_seconds=90)
    assert after == {"now": pytest.approx(before["now"] + 90), "time_scale": 0.0}
    assert api.clock(time_scale=20)["time_scale"] == 20.0
    assert emu.clock.time_scale == 20.0
    both = api.clock(time_scale=0, advance_seconds=10)
    assert both["time_scale"] == 0.0 and both["now"] >= after["now"] + 10


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"advance_seconds": -1}, "Invalid advance_seconds -1: a number of seconds from 0"),
        ({"advance_seconds": "10"}, 'Invalid advance_seconds "10"'),
        ({"advance_seconds": True}, "Invalid advance_seconds true"),
        ({"advance_seconds": None}, "Invalid advance_seconds null"),
        ({"time_scale": -0.5}, "Invalid time_scale -0.5: a number from 0 (0 stops the clock"),
        ({"time_scale": "fast"}, 'Invalid time_scale "fast"'),
        ({"time_scale": 2, "advance_seconds": -3}, "Invalid advance_seconds -3"),
        ({"advance": 5}, "Unknown field advance: the clock takes advance_seconds and time_scale"),
        ({}, "Missing field: advance_seconds or time_scale"),
    ],
)
def test_bad_clock_values_are_refused_naming_the_field(
    emu: Emulator, api: Api, body: dict[str, Any], message: str
) -> None:
    before = emu.clock.now()
    status, answer = api.call("POST", "/emulator/clock", body)
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert message in answer["message"]
    # Nothing applied, not even the good half of a request.
    assert (emu.clock.now(), emu.clock.time_scale) == (before, 0.0)


def test_the_clock_endpoint_needs_the_token(emu: Emulator) -> None:
    answer = requests.post(f"{emu.url}/emulator/clock", json={"advance_seconds": 5}, timeout=10)
    assert answer.status_code == 401


def test_emu_advance_refuses_going_back(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="time only moves forward"):
        emu.advance(-1)


def test_an_idle_cluster_autoterminates_when_the_clock_passes_its_minutes(emu: Emulator, api: Api) -> None:
    cluster_id = api.create(autotermination_minutes=10)
    api.clock(advance_seconds=0.45)
    assert api.get(cluster_id)["state"] == "RUNNING"
    api.clock(advance_seconds=10 * 60 - 1)
    assert api.get(cluster_id)["state"] == "RUNNING"
    api.clock(advance_seconds=1)  # 0.05 s past the ten minutes; TERMINATING lasts 0.2 s
    cluster = api.get(cluster_id)
    assert cluster["state"] == "TERMINATING"
    assert cluster["termination_reason"]["code"] == "INACTIVITY"
    times = event_times(emu, cluster_id)
    assert times["TERMINATING"] - times["RUNNING"] == pytest.approx(10 * 60 * 1000, abs=1)


def test_stuck_pending_for_some_seconds_then_starts_as_usual(emu: Emulator, api: Api) -> None:
    emu.set_scenario("stuck_pending", seconds=30)
    cluster_id = api.create()
    emu.advance(30)
    assert api.get(cluster_id)["state"] == "PENDING"  # the start itself begins now
    emu.advance(0.35)
    assert api.get(cluster_id)["state"] == "PENDING"
    emu.advance(0.1)
    assert api.get(cluster_id)["state"] == "RUNNING"
    assert api.event_types(cluster_id) == ["CREATING", "DRIVER_HEALTHY", "RUNNING"]
    times = event_times(emu, cluster_id)
    assert times["RUNNING"] - times["CREATING"] == pytest.approx(30_400, abs=1)


def test_stuck_pending_for_some_seconds_then_what_the_other_scenarios_say(emu: Emulator, api: Api) -> None:
    emu.set_scenario("stuck_pending", seconds=5, times=1)
    emu.set_scenario("spot_capacity_failure")
    cluster_id = api.create(aws_attributes={"availability": "SPOT", "first_on_demand": 0})
    emu.advance(5.1)
    assert api.get(cluster_id)["state"] == "PENDING"
    emu.advance(0.2)  # the capacity failure comes half a start into the start
    cluster = api.get(cluster_id)
    assert cluster["state"] == "TERMINATING"
    assert cluster["termination_reason"]["code"] == "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"


def test_stuck_pending_without_seconds_is_for_good(emu: Emulator, api: Api) -> None:
    status, _ = api.call("POST", "/emulator/scenarios", {"name": "stuck_pending"})
    assert status == 200
    cluster_id = api.create()
    emu.advance(24 * 3600)
    assert api.get(cluster_id)["state"] == "PENDING"


@pytest.mark.parametrize("seconds", [-1, "soon", True])
def test_stuck_pending_refuses_bad_seconds(api: Api, seconds: Any) -> None:
    status, body = api.call("POST", "/emulator/scenarios", {"name": "stuck_pending", "seconds": seconds})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "Invalid seconds" in body["message"]


def test_a_job_run_starts_when_its_cluster_runs_however_late_it_is_read(emu: Emulator, api: Api) -> None:
    cluster_id = api.create()
    task = {"task_key": "t", "existing_cluster_id": cluster_id, "notebook_task": {"notebook_path": "/n"}}
    status, submitted = api.call("POST", "/api/2.1/jobs/runs/submit", {"tasks": [task]})
    assert status == 200
    emu.advance(3600)  # nobody looks for an hour
    _, run = api.call("GET", "/api/2.1/jobs/runs/get", run_id=submitted["run_id"])
    assert run["state"]["result_state"] == "SUCCESS"
    running_at = event_times(emu, cluster_id)["RUNNING"]
    # It took run_seconds from the moment it could start, not from when it was first seen running.
    assert run["end_time"] - running_at == pytest.approx(300, abs=1)


def test_an_oauth_token_expires_when_the_clock_passes_its_lifetime(emu: Emulator) -> None:
    emu.add_oauth_client("sp", "sp-secret")
    answer = requests.post(
        f"{emu.url}/oidc/v1/token",
        data={"grant_type": "client_credentials"},
        auth=("sp", "sp-secret"),
        timeout=10,
    ).json()
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    me = f"{emu.url}/api/2.0/preview/scim/v2/Me"
    emu.advance(answer["expires_in"] - 1)
    assert requests.get(me, headers=headers, timeout=10).status_code == 200
    emu.advance(1)
    assert requests.get(me, headers=headers, timeout=10).status_code == 403


def test_a_fast_clock_starts_a_cluster_in_a_fraction_of_the_real_time() -> None:
    with Emulator(start_seconds=2.0, time_scale=20) as emu:
        api = Api(emu)
        cluster_id = api.create()
        # A condition with a generous bound, not a deadline: the speed itself is the unit tests' to show.
        deadline = time.monotonic() + 60
        while api.get(cluster_id)["state"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        times = event_times(emu, cluster_id)
        assert times["RUNNING"] - times["CREATING"] == pytest.approx(2000, abs=1)  # emulated seconds


def test_a_resumed_stopped_clock_carries_on_where_it_stopped(tmp_path: Path) -> None:
    state = tmp_path / "workspace.json"
    with Emulator(start_seconds=1.0, state_file=state, time_scale=0) as first:
        cluster_id = Api(first).create()
        first.advance(0.6)
        stopped_at = first.clock.now()
    time.sleep(0.2)  # real time passes while the emulator is down
    with Emulator(start_seconds=1.0, state_file=state, time_scale=0) as second:
        assert second.clock.now() == stopped_at  # never behind what the file records, nor ahead of it
        api = Api(second)
        assert api.get(cluster_id)["state"] == "PENDING"
        second.advance(0.3)
        assert api.get(cluster_id)["state"] == "PENDING"
        second.advance(0.2)
        assert api.get(cluster_id)["state"] == "RUNNING"
        times = event_times(second, cluster_id)
        assert times["RUNNING"] - times["CREATING"] == pytest.approx(1000, abs=1)


def test_a_resumed_real_time_clock_is_never_behind_its_records(tmp_path: Path) -> None:
    state = tmp_path / "workspace.json"
    with Emulator(state_file=state) as first:
        first.advance(3600)  # an hour ahead of the wall clock
        cluster_id = Api(first).create()
    with Emulator(state_file=state) as second:
        created = event_times(second, cluster_id)["CREATING"]
        assert second.clock.now() * 1000 >= created
        assert second.clock.now() >= time.time() + 3600 - 1  # the hour it was ahead is kept
