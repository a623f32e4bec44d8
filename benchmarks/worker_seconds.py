"""Worker-seconds per create-and-wait: how long a worker slot is held to get one cluster to RUNNING, in sync,
reschedule-sensor and deferrable modes, on the same emulator timings.

Measured
    One emulator (``python -m airflow_databricks_clusters.emulator``, its own process) in which a cluster
    takes ``--start-seconds`` emulated seconds to start (default 60) at ``--time-scale`` emulated seconds per
    real second (default 20): 3 s of real time (``--quick``: 20 s at 20, 1 s). This process plays the worker
    and calls the operators as Airflow's task runner does, outside a scheduler (unit-test mode, a context
    with a task instance that takes XComs), every task with its own run id so that no mode finds another's
    cluster by its tags. Every mode polls at the same ``--polling-interval`` (default 1 s):

    * sync: ``DatabricksCreateClusterOperator(deferrable=False).execute()``: pre-flight checks, create,
      wait, the spot summary. Worker time: that call.
    * deferrable: ``execute()`` of ``DatabricksCreateClusterOperator(deferrable=True)`` until it raises
      ``TaskDeferred``; then the trigger's ``run()`` to its event in this process, which is the triggerer's
      time, not a worker's; then a fresh operator (a resumed task is a new try) and its
      ``resume_execution("execute_complete", {"event": ...})``. Worker time: the two calls.
    * reschedule: ``DatabricksCreateClusterOperator(wait_for_running=False).execute()``, then
      ``DatabricksClusterSensor(mode="reschedule")`` try after try: each try a fresh sensor whose
      ``execute()`` pokes once and either raises ``AirflowRescheduleException`` (the slot is freed until the
      reschedule date, which this sleeps out) or returns at RUNNING. Worker time: the create and every try.

    The modes take turns for ``--rounds`` rounds (default 3, ``--quick`` 1) after a warm-up round that is
    not counted (the process's first create pays its imports and first connections); each figure is the
    median.
    Logs at WARNING (the operators' INFO lines would fill this output).

    Not included: Airflow's own cost per try (forking the task process, starting the task runner, parsing
    the DAG file, the API calls around a try's start and end). The reschedule mode pays it once per poke
    and the deferrable mode twice; how big it is depends on the deployment (executor, DAG file) and is not
    measured here: add it times ``tries`` to compare modes on a given deployment.

Figures (per mode)
    worker s     seconds a worker slot is held
    to RUNNING   seconds from the task's start to its success, as the DAG run sees it
    tries        worker tries (sync 1, deferrable 2, reschedule 1 + the sensor's)
    pokes        the sensor's pokes (reschedule mode)
    triggerer s  seconds the trigger ran in the triggerer (deferrable mode)

How to read it
    ``ratio worker-seconds <mode>/sync = X.XXx``: the share of the sync mode's worker time each mode holds a
    slot for, the same cluster start measured in the same run. The sync figure is mostly the cluster's
    start; the others are mostly the calls around it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from emulator_process import BenchmarkFailed, EmulatorProcess, airflow_env

MODES = ("sync", "reschedule", "deferrable")
DAG_ID = "bench_worker_seconds"
CLUSTER: dict[str, Any] = {
    "cluster_name": "bench-worker-seconds",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 2,
    "availability": "SPOT_WITH_FALLBACK",
    "first_on_demand": 1,
}


@dataclass
class Trial:
    """One create-and-wait in one mode."""

    worker_s: float = 0.0
    to_running_s: float = 0.0
    tries: int = 0
    pokes: int = 0
    triggerer_s: float = 0.0
    cluster_id: str = ""


@dataclass
class Context:
    """What the operators read of a task's context: the run id and a task instance that takes XComs and
    knows its first reschedule."""

    run_id: str
    first_try: datetime | None = None
    xcoms: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Any:  # an Airflow Context: a TypedDict these few keys stand in for
        ti = SimpleNamespace(
            map_index=-1,
            xcom_push=lambda key, value: self.xcoms.__setitem__(key, value),
            get_first_reschedule_date=lambda context: self.first_try,
        )
        return {"ti": ti, "run_id": self.run_id}


def create_operator(polling_interval: float, **kwargs: Any) -> Any:
    """A create task as a DAG file declares it. Each try gets a fresh one, as a worker does; built outside
    the timings, like the rest of a try's start-up."""
    from airflow.sdk import DAG

    from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator

    with DAG(DAG_ID, schedule=None):
        return DatabricksCreateClusterOperator(
            task_id="create_cluster", polling_interval=polling_interval, timeout=600, **CLUSTER, **kwargs
        )


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def run_sync(run_id: str, interval: float) -> Trial:
    context = Context(run_id).as_dict()
    operator = create_operator(interval, deferrable=False)
    start = time.perf_counter()
    seconds, cluster_id = timed(lambda: operator.execute(context))
    return Trial(worker_s=seconds, to_running_s=time.perf_counter() - start, tries=1, cluster_id=cluster_id)


def run_deferrable(run_id: str, interval: float) -> Trial:
    from airflow.sdk.exceptions import TaskDeferred

    context = Context(run_id).as_dict()
    operator = create_operator(interval, deferrable=True)
    start = time.perf_counter()
    try:
        operator.execute(context)
    except TaskDeferred as deferral:
        deferred = deferral
    else:
        raise BenchmarkFailed("deferrable: execute() returned without deferring")
    first = time.perf_counter() - start

    async def first_event() -> Any:
        async for event in deferred.trigger.run():
            return event.payload
        raise BenchmarkFailed("deferrable: the trigger ended without an event")

    triggerer_s, payload = timed(lambda: asyncio.run(first_event()))
    resumed = create_operator(interval, deferrable=True)
    kwargs = {**(deferred.kwargs or {}), "event": payload}
    second, cluster_id = timed(lambda: resumed.resume_execution(deferred.method_name, kwargs, context))
    return Trial(
        worker_s=first + second,
        to_running_s=time.perf_counter() - start,
        tries=2,
        triggerer_s=triggerer_s,
        cluster_id=cluster_id,
    )


def run_reschedule(run_id: str, interval: float) -> Trial:
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowRescheduleException

    from airflow_databricks_clusters.sensors import DatabricksClusterSensor

    task = Context(run_id)
    operator = create_operator(interval, wait_for_running=False)
    start = time.perf_counter()
    worker, cluster_id = timed(lambda: operator.execute(task.as_dict()))
    trial = Trial(tries=1, cluster_id=cluster_id)
    while True:
        with DAG(DAG_ID, schedule=None):
            sensor = DatabricksClusterSensor(
                task_id="wait_for_cluster",
                cluster_id=cluster_id,
                mode="reschedule",
                poke_interval=interval,
                timeout=600,
            )
        trial.tries += 1
        trial.pokes += 1
        try_started_at = datetime.now(timezone.utc)
        try_start = time.perf_counter()
        try:
            sensor.execute(task.as_dict())
        except AirflowRescheduleException as reschedule:
            worker += time.perf_counter() - try_start
            # Airflow's record of the first reschedule: where the sensor's timeout counts from.
            task.first_try = task.first_try or try_started_at
            time.sleep(max(0.0, (reschedule.reschedule_date - datetime.now(timezone.utc)).total_seconds()))
            continue
        worker += time.perf_counter() - try_start
        break
    trial.worker_s = worker
    trial.to_running_s = time.perf_counter() - start
    return trial


RUNNERS: dict[str, Callable[[str, float], Trial]] = {
    "sync": run_sync,
    "reschedule": run_reschedule,
    "deferrable": run_deferrable,
}


def state_of(emulator: EmulatorProcess, cluster_id: str) -> str:
    answer = emulator.call("GET", f"/api/2.1/clusters/get?cluster_id={cluster_id}")
    return str(answer["state"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one round, a 1 s start (a smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds of the three modes (default 3, --quick 1)")
    parser.add_argument("--start-seconds", type=float, help="emulated start time (default 60, --quick 20)")
    parser.add_argument("--time-scale", type=float, default=20.0, help="emulated s per real s (20)")
    parser.add_argument("--polling-interval", type=float, default=1.0, help="every mode's, seconds (1)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    start_seconds = args.start_seconds or (20.0 if args.quick else 60.0)
    interval = args.polling_interval

    with tempfile.TemporaryDirectory(prefix="adc-bench-worker-") as home:
        options = ["--start-seconds", str(start_seconds), "--time-scale", str(args.time_scale)]
        with EmulatorProcess(options) as emulator:
            # Airflow reads its settings when first imported: set before the operators are.
            os.environ.update(airflow_env(Path(home)))
            os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
            os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = emulator.connection_json()
            print(
                f"Worker-seconds per create-and-wait: a {start_seconds:g} s start at time scale"
                f" {args.time_scale:g} ({start_seconds / args.time_scale:g} s real), polling every"
                f" {interval:g} s, {rounds} round(s) after a warm-up round"
            )
            print("load average at start (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
            trials: dict[str, list[Trial]] = {mode: [] for mode in MODES}
            try:
                # Round 0 is a warm-up: the first create of the process pays its imports and connections.
                for number in range(rounds + 1):
                    for mode in MODES:
                        trial = RUNNERS[mode](f"bench__{mode}_{number}", interval)
                        if state_of(emulator, trial.cluster_id) != "RUNNING":
                            raise BenchmarkFailed(f"{mode}: cluster {trial.cluster_id} is not RUNNING")
                        emulator.call("POST", "/api/2.1/clusters/delete", {"cluster_id": trial.cluster_id})
                        if number > 0:
                            trials[mode].append(trial)
            except Exception as err:
                print(f"FAIL: {type(err).__name__}: {err}")
                return 1
            if not emulator.alive():
                print(f"FAIL: the emulator died:\n{emulator.log_tail()}")
                return 1

    def median(mode: str, key: str) -> float:
        return float(statistics.median(getattr(trial, key) for trial in trials[mode]))

    print(f"{'mode':<12}{'worker s':>10}{'to RUNNING':>12}{'tries':>7}{'pokes':>7}{'triggerer s':>13}")
    for mode in MODES:
        print(
            f"{mode:<12}{median(mode, 'worker_s'):>10.3f}{median(mode, 'to_running_s'):>12.3f}"
            f"{median(mode, 'tries'):>7.0f}{median(mode, 'pokes'):>7.0f}{median(mode, 'triggerer_s'):>13.3f}"
        )
    sync = median("sync", "worker_s")
    for mode in MODES[1:]:
        ours = median(mode, "worker_s")
        print(f"ratio worker-seconds {mode}/sync = {ours / sync:.2f}x ({ours:.3f} s / {sync:.3f} s)")
    print("load average at end (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
