"""The official Airflow provider's DatabricksHook works against the emulator unchanged."""

from __future__ import annotations

import pytest
from airflow.providers.databricks.hooks.databricks import DatabricksHook

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api


@pytest.fixture
def hook(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> DatabricksHook:
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
    return DatabricksHook(retry_delay=0.1)


def wait_run(hook: DatabricksHook, emu: Emulator, run_id: int) -> object:
    """Advance the emulator's (stopped) clock until the run ends; fail past a minute of emulated time."""
    waited = 0.0
    while True:
        state = hook.get_run_state(run_id)
        if state.is_terminal:
            return state
        assert waited < 60, state
        emu.advance(0.1)
        waited += 0.1


def test_cluster_state_and_connection(hook: DatabricksHook, api: Api) -> None:
    cluster_id = api.create()
    assert hook.get_cluster_state(cluster_id).state == "PENDING"
    api.wait_for(cluster_id, "RUNNING")
    state = hook.get_cluster_state(cluster_id)
    assert state.is_running and state.state_message == ""
    assert hook.test_connection()[0] is True


def test_submit_run_succeeds_on_a_running_cluster(hook: DatabricksHook, api: Api, emu: Emulator) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    run_id = hook.submit_run(
        {
            "run_name": "etl",
            "tasks": [
                {
                    "task_key": "etl",
                    "existing_cluster_id": cluster_id,
                    "spark_python_task": {"python_file": "dbfs:/etl.py"},
                }
            ],
        }
    )
    state = wait_run(hook, emu, run_id)
    assert state.is_successful  # type: ignore[attr-defined]
    assert hook.get_run_page_url(run_id).endswith(f"/run/{run_id}")


def test_failing_run_and_run_on_a_dying_cluster(hook: DatabricksHook, api: Api, emu: Emulator) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    emu.set_scenario("run_failure", cluster_id=cluster_id, times=1, message="ZeroDivisionError: boom")
    task = {"task_key": "t", "existing_cluster_id": cluster_id, "spark_jar_task": {"main_class_name": "M"}}
    failed = wait_run(hook, emu, hook.submit_run({"tasks": [task]}))
    assert failed.result_state == "FAILED" and "boom" in failed.state_message  # type: ignore[attr-defined]

    run_id = hook.submit_run({"tasks": [task]})
    api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    died = wait_run(hook, emu, run_id)
    assert died.life_cycle_state == "INTERNAL_ERROR"  # type: ignore[attr-defined]
    assert f"Cluster {cluster_id} was terminated" in died.state_message  # type: ignore[attr-defined]
    assert "USER_REQUEST" in died.state_message  # type: ignore[attr-defined]


def test_run_on_an_unknown_cluster_fails(hook: DatabricksHook, emu: Emulator) -> None:
    task = {
        "task_key": "t",
        "existing_cluster_id": "0101-000000-nothere0",
        "notebook_task": {"notebook_path": "/n"},
    }
    state = wait_run(hook, emu, hook.submit_run({"tasks": [task]}))
    assert state.life_cycle_state == "INTERNAL_ERROR"  # type: ignore[attr-defined]
    assert "does not exist" in state.state_message  # type: ignore[attr-defined]
