"""The official Airflow provider (``apache-airflow-providers-databricks``), unchanged, against the emulator.

Each test calls the provider as a user's DAG or the provider's own operators do: ``DatabricksHook``'s sync
methods (``requests``, GET parameters in the query string), its async ones (``aiohttp``, GET parameters
as a JSON body), ``DatabricksExecutionTrigger`` run to its event, and ``DatabricksSubmitRunOperator``
in both modes. A failed run must hand the provider the Spark task's own error, which it fetches with the
task's run id (``runs/get`` -> ``tasks[].run_id`` -> ``runs/get-output``).

The emulator's clock is stopped: a cluster or a run moves only when a test advances emulated time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.exceptions import TaskDeferred
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.databricks.exceptions import DatabricksApiError
from airflow.providers.databricks.hooks.databricks import DatabricksHook, RunState
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger

from airflow_databricks_clusters.emulator import Emulator
from tests.conformance.conftest import Api, on_port_80

#: Emulated seconds a test moves the clock by between two looks.
STEP = 0.05
#: Emulated seconds a run may take before a test gives up on it (a run lasts ``run_seconds``).
WITHIN = 60.0
OOM = "java.lang.OutOfMemoryError: Java heap space"


#: The conftest's ``emu``: a stopped clock, clusters starting in 0.4 s, runs lasting 0.3 s (emulated).
SETTINGS: dict[str, Any] = {
    "start_seconds": 0.4,
    "terminate_seconds": 0.2,
    "run_seconds": 0.3,
    "time_scale": 0,
}


def start_emulator(**options: Any) -> Emulator:
    """A started workspace of ``SETTINGS``, with ``options`` changed."""
    return Emulator(**{**SETTINGS, **options}).start()


@pytest.fixture
def hook(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> DatabricksHook:
    """The hook on ``databricks_default``, which points at the emulator as a user's connection would."""
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
    return DatabricksHook(retry_delay=0.1)


@pytest.fixture
def cluster_id(api: Api) -> str:
    """A RUNNING all-purpose cluster."""
    cluster = api.create()
    api.wait_for(cluster, "RUNNING")
    return cluster


def task(cluster_id: str, key: str = "etl") -> dict[str, Any]:
    return {
        "task_key": key,
        "existing_cluster_id": cluster_id,
        "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"},
    }


def wait_run(hook: DatabricksHook, emu: Emulator, run_id: int) -> RunState:
    """Advance emulated time until the run ends, reading it through the hook; fail past ``WITHIN``."""
    waited = 0.0
    while True:
        state = hook.get_run_state(run_id)
        if state.is_terminal:
            return state
        assert waited < WITHIN, state
        emu.advance(STEP)
        waited += STEP


def wait_cluster(hook: DatabricksHook, emu: Emulator, cluster_id: str, wanted: str) -> None:
    """Advance emulated time until the hook reads the cluster in state ``wanted``; fail past ``WITHIN``."""
    waited = 0.0
    while (state := hook.get_cluster_state(cluster_id)).state != wanted:
        assert waited < WITHIN, f"{state} while waiting for {wanted}"
        emu.advance(STEP)
        waited += STEP


def polled_since(emu: Emulator, since: float, path_end: str) -> bool:
    """Whether the emulator answered a request to a path ending in ``path_end`` after ``since``."""
    return any(r["path"].endswith(path_end) and r["time"] >= since for r in emu.request_log)


async def run_trigger(trigger: DatabricksExecutionTrigger, emu: Emulator) -> dict[str, Any]:
    """Run the trigger to its first event as the triggerer would, moving emulated time meanwhile.

    Time moves only after the trigger has read the run once, so it always sees the run unfinished first
    and goes round its polling loop; then in steps of ``STEP`` until it fires (within ``WITHIN``).
    """
    started = time.time()
    events = trigger.run()
    first = asyncio.ensure_future(events.__anext__())
    try:
        async with asyncio.timeout(120):
            while not first.done() and not polled_since(emu, started, "/jobs/runs/get"):
                await asyncio.sleep(0.01)
            waited = 0.0
            while not first.done():
                assert waited < WITHIN, "the trigger did not fire"
                emu.advance(STEP)
                waited += STEP
                await asyncio.sleep(0.01)
        event = first.result()
    finally:
        # A trigger that did not fire is stopped before its generator is closed (closing a running one
        # is an error that would hide the test's own).
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await events.aclose()
    payload: dict[str, Any] = event.payload
    return payload


# -- clusters -----------------------------------------------------------------------------------------------


def test_cluster_state_and_connection(hook: DatabricksHook, api: Api, emu: Emulator) -> None:
    created = api.create()
    assert hook.get_cluster_state(created).state == "PENDING"
    wait_cluster(hook, emu, created, "RUNNING")
    state = hook.get_cluster_state(created)
    assert state.is_running and state.state_message == ""
    assert hook.test_connection() == (True, "Connection successfully tested")


def test_unknown_cluster_is_a_400_naming_it(hook: DatabricksHook) -> None:
    with pytest.raises(DatabricksApiError) as raised:
        hook.get_cluster_state("0101-000000-nothere0")
    assert raised.value.http_status_code == 400
    assert "INVALID_PARAMETER_VALUE" in str(raised.value)
    assert "Cluster 0101-000000-nothere0 does not exist" in str(raised.value)


def test_terminate_start_and_restart(hook: DatabricksHook, emu: Emulator, cluster_id: str) -> None:
    hook.terminate_cluster({"cluster_id": cluster_id})
    assert hook.get_cluster_state(cluster_id).is_terminal
    wait_cluster(hook, emu, cluster_id, "TERMINATED")

    # start and restart change the state before they answer: a client polling at once sees the new state.
    hook.start_cluster({"cluster_id": cluster_id})
    assert hook.get_cluster_state(cluster_id).state == "PENDING"
    wait_cluster(hook, emu, cluster_id, "RUNNING")

    hook.restart_cluster({"cluster_id": cluster_id})
    assert hook.get_cluster_state(cluster_id).state == "RESTARTING"
    wait_cluster(hook, emu, cluster_id, "RUNNING")


def test_async_cluster_state(hook: DatabricksHook, cluster_id: str) -> None:
    async def read() -> tuple[str, str]:
        async with hook:
            running = await hook.a_get_cluster_state(cluster_id)
            hook.terminate_cluster({"cluster_id": cluster_id})
            return running.state, (await hook.a_get_cluster_state(cluster_id)).state

    assert asyncio.run(read()) == ("RUNNING", "TERMINATING")


# -- one-time runs ------------------------------------------------------------------------------------------


def test_submitted_run_reads_through_every_sync_call(
    hook: DatabricksHook, emu: Emulator, cluster_id: str
) -> None:
    run_id = hook.submit_run({"run_name": "etl", "tasks": [task(cluster_id)]})
    assert not hook.get_run_state(run_id).is_terminal
    assert wait_run(hook, emu, run_id).is_successful

    run = hook.get_run(run_id)
    assert run["run_id"] == run_id and run["run_name"] == "etl"
    assert hook.get_run_tasks(run_id) == run["tasks"]
    [etl] = run["tasks"]
    assert etl["task_key"] == "etl" and etl["run_id"] != run_id
    assert etl["state"]["result_state"] == "SUCCESS"
    assert hook.get_job_id(run_id) == run["job_id"]
    assert hook.get_run_state_str(run_id) == "State: TERMINATED. Result: SUCCESS. "

    # A task's output is read by the task's run id; its metadata is that task run.
    output = hook.get_run_output(etl["run_id"])
    assert output["metadata"]["run_id"] == etl["run_id"]
    assert "error" not in output
    # The run's own id names no output in Jobs 2.1+, even for a run of one task.
    with pytest.raises(DatabricksApiError) as raised:
        hook.get_run_output(run_id)
    assert raised.value.http_status_code == 400
    assert "Please retrieve the output of each individual task run instead." in str(raised.value)


def test_run_page_url_is_on_the_workspace_host(hook: DatabricksHook, emu: Emulator, cluster_id: str) -> None:
    run_id = hook.submit_run({"tasks": [task(cluster_id)]})
    url = urlsplit(hook.get_run_page_url(run_id))
    assert (url.scheme, url.netloc) == ("http", f"{emu.host}:{emu.port}")
    assert url.fragment == f"job/{hook.get_job_id(run_id)}/run/{run_id}"


@pytest.fixture
def emu_on_port_80(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A workspace on port 80, the scheme's default port, with ``databricks_default`` pointing at it."""
    emulator = on_port_80(**SETTINGS)
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
    yield emulator
    emulator.stop()


def test_run_page_url_names_no_default_port(emu_on_port_80: Emulator) -> None:
    api = Api(emu_on_port_80)
    cluster = api.create()
    hook = DatabricksHook(retry_delay=0.1)
    run_id = hook.submit_run({"tasks": [task(cluster)]})
    url = hook.get_run_page_url(run_id)
    assert ":80" not in url
    assert urlsplit(url).netloc == emu_on_port_80.host


def test_cancel_run(hook: DatabricksHook, emu: Emulator, api: Api) -> None:
    pending = api.create()  # the run waits for its cluster, so it is still live when cancelled
    run_id = hook.submit_run({"tasks": [task(pending)]})
    hook.cancel_run(run_id)
    state = wait_run(hook, emu, run_id)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "CANCELED")


def test_failed_run_hands_over_the_tasks_error(hook: DatabricksHook, emu: Emulator, cluster_id: str) -> None:
    emu.set_scenario("run_failure", cluster_id=cluster_id, times=1, message=OOM)
    run_id = hook.submit_run({"tasks": [task(cluster_id)]})
    assert wait_run(hook, emu, run_id).result_state == "FAILED"
    [etl] = hook.get_run_tasks(run_id)
    assert etl["state"]["result_state"] == "FAILED"
    output = hook.get_run_output(etl["run_id"])
    assert OOM in output["error"]


def test_runs_that_cannot_run_fail(hook: DatabricksHook, api: Api, emu: Emulator, cluster_id: str) -> None:
    nowhere = wait_run(hook, emu, hook.submit_run({"tasks": [task("0101-000000-nothere0")]}))
    assert nowhere.life_cycle_state == "INTERNAL_ERROR"
    assert "does not exist" in nowhere.state_message

    run_id = hook.submit_run({"tasks": [task(cluster_id)]})
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    died = wait_run(hook, emu, run_id)
    assert died.life_cycle_state == "INTERNAL_ERROR"
    assert f"Cluster {cluster_id} was terminated" in died.state_message
    assert "USER_REQUEST" in died.state_message


def test_async_run_calls(hook: DatabricksHook, emu: Emulator, cluster_id: str) -> None:
    emu.set_scenario("run_failure", cluster_id=cluster_id, times=1, message=OOM)
    run_id = hook.submit_run({"tasks": [task(cluster_id)]})

    async def read(run_id: int) -> tuple[RunState, dict[str, Any], dict[str, Any], str]:
        async with hook:
            live = await hook.a_get_run_state(run_id)
            assert not live.is_terminal
            emu.advance(WITHIN)
            state = await hook.a_get_run_state(run_id)
            run = await hook.a_get_run(run_id)
            output = await hook.a_get_run_output(run["tasks"][0]["run_id"])
            return state, run, output, await hook.a_get_run_page_url(run_id)

    state, run, output, page = asyncio.run(read(run_id))
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "FAILED")
    assert run["run_id"] == run_id and run["state"]["result_state"] == "FAILED"
    assert OOM in output["error"]
    assert page == hook.get_run_page_url(run_id)


# -- the trigger and the operator ---------------------------------------------------------------------------


def trigger_for(run_id: int) -> DatabricksExecutionTrigger:
    return DatabricksExecutionTrigger(
        run_id=run_id, databricks_conn_id="databricks_default", polling_period_seconds=0, retry_delay=1
    )


def test_execution_trigger_fires_on_success(hook: DatabricksHook, emu: Emulator, cluster_id: str) -> None:
    run_id = hook.submit_run({"tasks": [task(cluster_id)]})
    event = asyncio.run(run_trigger(trigger_for(run_id), emu))
    assert event["run_id"] == run_id and event["errors"] == []
    assert RunState.from_json(event["run_state"]).is_successful


def test_execution_trigger_carries_the_failed_tasks_error(
    hook: DatabricksHook, emu: Emulator, cluster_id: str
) -> None:
    emu.set_scenario("run_failure", cluster_id=cluster_id, times=1, message=OOM)
    run_id = hook.submit_run({"tasks": [task(cluster_id, key="transform")]})
    event = asyncio.run(run_trigger(trigger_for(run_id), emu))
    assert RunState.from_json(event["run_state"]).result_state == "FAILED"
    [error] = event["errors"]
    assert error["task_key"] == "transform"
    assert error["run_id"] == hook.get_run_tasks(run_id)[0]["run_id"]
    assert OOM in error["error"]


def submit_operator(cluster_id: str, **options: Any) -> DatabricksSubmitRunOperator:
    return DatabricksSubmitRunOperator(
        task_id="transform",
        run_name="transform",
        existing_cluster_id=cluster_id,
        spark_python_task={"python_file": "dbfs:/jobs/transform.py"},
        polling_period_seconds=0,
        databricks_retry_delay=1,
        do_xcom_push=False,
        **options,
    )


def test_deferrable_operator_defers_and_fails_with_the_tasks_error(
    hook: DatabricksHook, emu: Emulator, cluster_id: str
) -> None:
    emu.set_scenario("run_failure", cluster_id=cluster_id, times=1, message=OOM)
    operator = submit_operator(cluster_id, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context=None)  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, DatabricksExecutionTrigger)
    assert trigger.run_page_url == hook.get_run_page_url(trigger.run_id)

    event = asyncio.run(run_trigger(trigger, emu))
    with pytest.raises(AirflowException, match="OutOfMemoryError: Java heap space"):
        operator.execute_complete(context=None, event=event)


@pytest.fixture
def instant_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A workspace whose runs end the moment their cluster runs them (for the blocking operator, which
    polls in the test's own thread, where nothing else could move the stopped clock)."""
    emulator = start_emulator(run_seconds=0)
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
    yield emulator
    emulator.stop()


def test_blocking_operator_fails_with_the_tasks_error(instant_runs: Emulator) -> None:
    api = Api(instant_runs)
    cluster = api.create()
    api.wait_for(cluster, "RUNNING")
    instant_runs.set_scenario("run_failure", cluster_id=cluster, times=1, message=OOM)
    with pytest.raises(AirflowException, match="OutOfMemoryError: Java heap space") as raised:
        # Not durable: a durable operator keeps the run id in its task instance's state, and here there is
        # no task instance. The submit, the polling and the error's fetching are the same code either way.
        operator = submit_operator(cluster, deferrable=False, durable=False)
        operator.execute(context=None)  # type: ignore[arg-type]
    # The error came from the task run's output, which the operator names by the task's run id.
    [run] = instant_runs.runs.all_runs()
    assert f"'run_id': {run['tasks'][0]['run_id']}" in str(raised.value)
