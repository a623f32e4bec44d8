"""Sync, deferred and sensor waits end every scenario the same way: same outcome type, same message.

For each scenario the three drivers of the one wait engine watch the same emulated cluster at once: the
worker's loop (``wait.lifecycle.wait_for_state``), the trigger (``DatabricksClusterStateTrigger.run``, its
event read back as the operator reads it), and the sensor in poke mode. TERMINATING lasts a minute here, so
each driver sees the failure in the same state with the same events; only the seconds a timeout waited
differ. The actions taken mid-wait (terminating, deleting) wait until every driver has seen the cluster.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.errors import ClusterFailed, ClusterGone, ClusterTimeout
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.sensors import DatabricksClusterSensor
from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger
from airflow_databricks_clusters.wait.engine import WaitOutcome
from airflow_databricks_clusters.wait.lifecycle import wait_for_state
from tests.integration.lifecycle.pipelines import CLUSTER

POLL = 0.2
UNKNOWN_ID = "0000-000000-unknown0"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(start_seconds=0.5, terminate_seconds=60) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emulator.connection_env())
        yield emulator


def run_sync(cluster_id: str, timeout: float) -> Any:
    return wait_for_state(
        DatabricksClustersHook(), cluster_id, ["RUNNING"], timeout_seconds=timeout, polling_interval=POLL
    )


def run_deferred(cluster_id: str, timeout: float) -> Any:
    now = time.time()
    trigger = DatabricksClusterStateTrigger(
        cluster_id=cluster_id,
        databricks_conn_id="databricks_default",
        target_states=["RUNNING"],
        end_time=now + timeout,
        polling_interval=POLL,
        started_at=now,
    )

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    error = WaitOutcome.from_event(asyncio.run(first_event())).exception()
    if error is not None:
        raise error
    return None


class _TaskInstance:
    def xcom_push(self, key: str, value: Any) -> None:
        pass


def run_sensor(cluster_id: str, timeout: float) -> Any:
    sensor = DatabricksClusterSensor(
        task_id="wait", cluster_id=cluster_id, poke_interval=POLL, timeout=timeout, deferrable=False
    )
    try:
        return sensor.execute({"ti": _TaskInstance()})  # type: ignore[arg-type]
    except (AirflowFailException, AirflowSensorTimeout) as err:
        # The sensor fails the task with Airflow's exception types; the outcome's own error is the cause.
        raise (err.__cause__ or err) from None


DRIVERS = {"sync": run_sync, "deferred": run_deferred, "sensor": run_sensor}


def outcome_of(driver: Callable[[str, float], Any], cluster_id: str, timeout: float) -> tuple[str, str]:
    try:
        driver(cluster_id, timeout)
    except Exception as err:
        return type(err).__name__, re.sub(r"within \d+ s", "within N s", str(err))
    return "reached", ""


def gets_of(emu: Emulator) -> int:
    return sum(1 for r in emu.request_log if r["path"].endswith("clusters/get"))


def when_all_have_looked(emu: Emulator, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` once every driver has read the cluster (three reads past what came before)."""
    seen = gets_of(emu)

    def act() -> None:
        deadline = time.monotonic() + 60
        while gets_of(emu) < seen + 3:
            assert time.monotonic() < deadline, "the drivers never read the cluster"
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=act)
    thread.start()
    return thread


def create(**fields: Any) -> str:
    return DatabricksClustersHook().create_cluster(build_cluster_spec(**{**CLUSTER, **fields}))


SCENARIOS: dict[str, tuple[type | str, str]] = {
    "start failure": (ClusterFailed, "USER_REQUEST"),
    "spot capacity": (ClusterFailed, "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"),
    "image pull": (ClusterFailed, "DOCKER_IMAGE_PULL_FAILURE"),
    "init script": (ClusterFailed, "INIT_SCRIPT_FAILURE"),
    "stuck pending": (ClusterTimeout, "did not reach RUNNING within N s (last state PENDING)"),
    "nodes lost": ("reached", ""),
    "gone mid-wait": (ClusterGone, "does not exist"),
    "unknown cluster": (ClusterGone, "does not exist"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_driver_ends_the_scenario_the_same_way(emu: Emulator, scenario: str) -> None:
    timeout = 60.0
    action: threading.Thread | None = None
    hook = DatabricksClustersHook()
    if scenario == "start failure":
        emu.set_scenario("stuck_pending")
        cluster_id = create()
        action = when_all_have_looked(emu, lambda: hook.terminate_cluster(cluster_id))
    elif scenario == "spot capacity":
        emu.set_scenario("spot_capacity_failure")
        cluster_id = create(availability="SPOT")
    elif scenario == "image pull":
        emu.set_scenario("docker_image_pull_failure")
        cluster_id = create()
    elif scenario == "init script":
        emu.set_scenario("init_script_failure", stderr="setup.sh: line 3: pip: command not found")
        cluster_id = create(init_scripts=["s3://bucket/init/setup.sh"])
    elif scenario == "stuck pending":
        emu.set_scenario("stuck_pending")
        cluster_id = create()
        timeout = 2.0
    elif scenario == "nodes lost":
        emu.set_scenario("spot_nodes_lost", count=1, after_seconds=0)
        cluster_id = create()
    elif scenario == "gone mid-wait":
        emu.set_scenario("stuck_pending")
        cluster_id = create()
        action = when_all_have_looked(emu, lambda: hook.permanent_delete_cluster(cluster_id))
    else:
        cluster_id = UNKNOWN_ID

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(outcome_of, run, cluster_id, timeout) for name, run in DRIVERS.items()}
        outcomes = {name: future.result(timeout=120) for name, future in futures.items()}
    if action is not None:
        action.join()

    expected_type, expected_text = SCENARIOS[scenario]
    type_name = expected_type if isinstance(expected_type, str) else expected_type.__name__
    assert len(set(outcomes.values())) == 1, outcomes
    kind, message = outcomes["sync"]
    assert kind == type_name and expected_text in message, outcomes
