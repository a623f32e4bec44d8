"""The chaos soak: hundreds of DAG runs against the emulator under faults drawn from one seed.

    python -m tests.chaos.soak --seed 1234            # every run of that seed, in this process
    python -m tests.chaos.soak --seed 1234 --only 17  # one run again, to reproduce a failure

Each run is a ``dag.test()`` of create -> work -> terminate (``dags.py``) with the fault its plan names
(``plan.py``). After every run it checks that no cluster is left in a live state, that the task instance
made at most one cluster, and that the run ended as planned, with a failed task naming its real cause. A
worker killed with ``retries=0`` leaks its cluster by design (its teardown never runs): the leak sweeper
(``DatabricksClusterSweeperOperator``) must find and terminate it, and the check comes after it ran.

The last line printed is ``runs=N faults=F leaked=L duplicated=D wrong=W seed=S``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.chaos.plan import RunPlan, plan_runs

# Airflow reads its configuration when first imported: nothing here imports it (nor ``dags.py``) before
# ``prepare_airflow`` has pointed it at the soak's own home.
POLL_SECONDS = 0.1

#: Emulated seconds a start and a termination take; at ``TIME_SCALE`` a start takes 0.25 s of real time.
START_SECONDS = 5.0
TERMINATE_SECONDS = 1.0
TIME_SCALE = 20.0
#: Emulated seconds a cluster is held PENDING when a run needs its start to outlast something.
HELD_SECONDS = 600.0
LIVE = ("PENDING", "RUNNING", "RESTARTING", "RESIZING")
BASE_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
SWEEPER_DAG = "chaos_sweeper"


@dataclass
class Result:
    """What one run did and what was wrong with it."""

    plan: RunPlan
    state: str = ""
    faults: int = 0
    leaked: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def line(self) -> str:
        problems = [*self.wrong]
        if self.leaked:
            problems.append(f"leaked {self.leaked}")
        if self.duplicated:
            problems.append(f"duplicated {self.duplicated}")
        verdict = "ok" if not problems else "FAIL " + "; ".join(problems)
        return f"{self.plan.describe()} -> {self.state}, {self.faults} fault(s): {verdict}"


# -- setting up -------------------------------------------------------------------------------------------


def prepare_airflow(home: Path, database: Path | None = None) -> Path:
    """A throw-away AIRFLOW_HOME with the soak's DAGs; set before airflow is imported. Its metadata
    database is a copy of ``database`` (a migrated one) when given, else migrated here."""
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "chaos_sweeper.py").write_text(
        "# The soak's leak sweeper airflow DAG.\n"
        "from airflow.sdk import DAG\n"
        "from airflow_databricks_clusters.sweeper import DatabricksClusterSweeperOperator\n"
        f"with DAG({SWEEPER_DAG!r}, schedule=None, start_date=None, catchup=False):\n"
        "    DatabricksClusterSweeperOperator(task_id='sweep', min_age_minutes=0)\n"
    )
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        AIRFLOW__LOGGING__LOGGING_LEVEL=os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
        CHAOS_FAILURES=str(home / "failures.jsonl"),
    )
    from tests.chaos.dags import dag_file_text

    (dags / "chaos_dags.py").write_text(dag_file_text())
    if database is not None:
        shutil.copyfile(database, home / "airflow.db")
    else:
        migrate_database()
    return dags


def migrate_database(env: Mapping[str, str] | None = None) -> None:
    """``airflow db migrate`` for the AIRFLOW_HOME that ``env`` (else this process's environment) names."""
    command = [sys.executable, "-m", "airflow", "db", "migrate"]
    subprocess.run(command, check=True, capture_output=True, env=env)


# -- injecting --------------------------------------------------------------------------------------------


def inject(plan: RunPlan, emu: Any, conf: dict[str, Any]) -> list[Any]:
    """Switch the plan's fault on; return the emulator faults added (each counts how often it fired)."""
    p, name = plan.params, plan.cluster_name
    if plan.fault == "lost_create_answer":
        return [emu.add_fault("drop_after", path="clusters/create", times=1)]
    if plan.fault == "create_dropped_before":
        return [emu.add_fault("drop_before", path="clusters/create", times=1)]
    if plan.fault == "create_server_error":
        return [emu.add_fault("status", path="clusters/create", status=p["status"], times=1)]
    if plan.fault == "create_malformed":
        body, status = p["body"], p["status"]
        return [emu.add_fault("malformed", path="clusters/create", body=body, status=status, times=1)]
    if plan.fault == "rate_limit_storm":
        return [emu.add_fault("rate_limit", path=p["path"], times=p["times"], retry_after=1)]
    if plan.fault == "server_errors":
        return [emu.add_fault("status", path=p["path"], status=p["status"], times=p["times"])]
    if plan.fault == "malformed_read":
        return [emu.add_fault("malformed", path=p["path"], times=p["times"])]
    if plan.fault == "slow_answers":
        return [emu.add_fault("delay", path=p["path"], delay=p["delay"], times=p["times"])]
    if plan.fault == "spot_capacity":
        conf["availability"] = "SPOT"  # no fallback: the start fails
        emu.set_scenario("spot_capacity_failure", cluster_name=name, times=1)
    elif plan.fault == "nodes_lost":
        emu.set_scenario("spot_nodes_lost", cluster_name=name, times=1, count=p["count"], after_seconds=1)
    elif plan.fault == "image_pull":
        emu.set_scenario("docker_image_pull_failure", cluster_name=name, times=1)
    elif plan.fault == "init_script":
        emu.set_scenario("init_script_failure", cluster_name=name, times=1, stderr="setup.sh: apt-get failed")
    elif plan.fault == "downstream_fails":
        conf["fail_work"] = True
    elif plan.fault in ("worker_killed", "triggerer_restart"):
        # Long enough that the kill, or the restart, comes while the cluster is still starting.
        emu.set_scenario("stuck_pending", cluster_name=name, times=1, seconds=HELD_SECONDS)
    return []


@contextlib.contextmanager
def triggerer_restart(after_polls: int, restarts: list[int], restarted: Callable[[], None]) -> Iterator[None]:
    """The first trigger that runs is stopped mid-wait, as a triggerer restart stops it, and rebuilt from
    its serialised form, as the next triggerer does; ``restarts`` gets a 1 when that happened, and
    ``restarted`` is called then."""
    from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger

    original = DatabricksClusterStateTrigger.run
    done = False

    async def run(self: Any) -> AsyncIterator[Any]:
        nonlocal done
        if done:
            async for event in original(self):
                yield event
            return
        done = True
        first = original(self)
        try:
            event = await asyncio.wait_for(anext(first), timeout=after_polls * POLL_SECONDS)
        except asyncio.TimeoutError:
            await first.aclose()
            await self.cleanup()
            restarts.append(1)
            restarted()
            _, kwargs = self.serialize()
            async for event in original(type(self)(**kwargs)):
                yield event
            return
        yield event

    DatabricksClusterStateTrigger.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        DatabricksClusterStateTrigger.run = original  # type: ignore[method-assign]


# -- running ----------------------------------------------------------------------------------------------


def run_dag(dag: Any, logical_date: datetime, conf: dict[str, Any]) -> Any:
    return dag.test(run_after=logical_date, logical_date=logical_date, run_conf=conf)


def kill_worker(plan: RunPlan, emu: Any, logical_date: datetime, conf: dict[str, Any]) -> None:
    """Run the DAG in a worker process and SIGKILL it once its create call has made the cluster (held
    PENDING, so the task is between that call and its XCom push)."""
    log = Path(os.environ["AIRFLOW_HOME"]) / f"worker-{plan.number}.log"
    with log.open("wb") as out:
        command = ["--worker", plan.dag_id, logical_date.isoformat(), json.dumps(conf)]
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.soak", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    while not [c for c in emu.clusters.values() if c.get("cluster_name") == plan.cluster_name]:
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker of run {plan.number} never made its cluster:\n{log.read_text()}")
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def as_the_scheduler_would(dag_id: str, run_id: str, retries: int) -> None:
    """What the scheduler does when a worker stops heart-beating: the task instance is up for retry, or
    failed with its downstream tasks (the teardown of a failed setup included) upstream_failed."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        for ti in tis:
            if ti.task_id == "create_cluster":
                ti.state = "up_for_retry" if retries else "failed"
            elif not retries:
                ti.state = "upstream_failed"
        if not retries:
            runs = select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            session.scalars(runs).one().state = "failed"


def run_one(plan: RunPlan, emu: Any, dags: dict[str, Any]) -> Result:
    emu.clear_faults()
    emu.clear_scenarios()
    result = Result(plan)
    conf: dict[str, Any] = {"cluster_name": plan.cluster_name}
    faults = inject(plan, emu, conf)
    scenarios_before = len(emu.workspace.scenarios())
    logical_date = BASE_DATE + timedelta(minutes=plan.number)
    run_id = f"manual__{logical_date.isoformat()}"
    dag = dags[plan.dag_id]
    extra = 0
    if plan.fault == "worker_killed":
        kill_worker(plan, emu, logical_date, conf)
        extra += 1
        as_the_scheduler_would(plan.dag_id, run_id, plan.retries)
        emu.advance(HELD_SECONDS)  # the held start completes, for a retry to find the cluster running
        if plan.retries:
            run_dag(dag, logical_date, conf)
        else:
            run_dag(dags[SWEEPER_DAG], BASE_DATE + timedelta(days=1, minutes=plan.number), {})
    elif plan.fault == "triggerer_restart":
        restarts: list[int] = []
        # The held start completes once the new trigger is waiting.
        with triggerer_restart(plan.params["after_polls"], restarts, lambda: emu.advance(HELD_SECONDS)):
            run_dag(dag, logical_date, conf)
        extra += len(restarts)
    else:
        run_dag(dag, logical_date, conf)
    result.faults = sum(f.fired for f in faults) + extra
    if plan.fault not in ("worker_killed", "triggerer_restart"):  # there the scenario only holds the start
        result.faults += scenarios_before - len(emu.workspace.scenarios())
    check(result, emu, run_id)
    return result


# -- checking ---------------------------------------------------------------------------------------------


def check(result: Result, emu: Any, run_id: str) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    plan = result.plan
    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == plan.dag_id, DagRun.run_id == run_id)
        ).one()
        result.state = str(run.state)
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    clusters = [
        c
        for c in emu.clusters.values()
        if c["custom_tags"].get("airflow_run_id") == run_id
        and c["custom_tags"].get("airflow_dag_id") == plan.dag_id
    ]
    result.leaked = [c["cluster_id"] for c in clusters if c["state"] in LIVE]
    if len(clusters) > 1:
        result.duplicated = [c["cluster_id"] for c in clusters]
    expected = plan.expected
    if result.state != expected.state:
        result.wrong.append(f"expected {expected.state}, task states {states}")
        return
    if expected.state != "failed" or expected.cause is None:
        return
    recorded = Path(os.environ["CHAOS_FAILURES"])
    failures = [json.loads(line) for line in recorded.read_text().splitlines()] if recorded.exists() else []
    errors = [f["error"] for f in failures if (f["run_id"], f["task_id"]) == (run_id, expected.task)]
    if not errors or expected.cause not in errors[-1]:
        result.wrong.append(f"{expected.task} should fail naming {expected.cause!r}; errors: {errors}")


# -- the soak ---------------------------------------------------------------------------------------------


def soak(
    seed: int, runs: int, shard: tuple[int, int], only: Sequence[int] = (), database: Path | None = None
) -> int:
    home = Path(tempfile.mkdtemp(prefix="adc-chaos-"))
    dags_folder = prepare_airflow(home, database)
    from airflow.dag_processing.dagbag import DagBag

    from airflow_databricks_clusters.emulator import Emulator

    index, count = shard
    plans = [p for p in plan_runs(seed, runs) if p.number % count == index and (not only or p.number in only)]
    totals = {"runs": 0, "faults": 0, "leaked": 0, "duplicated": 0, "wrong": 0}
    with Emulator(
        start_seconds=START_SECONDS, terminate_seconds=TERMINATE_SECONDS, time_scale=TIME_SCALE
    ) as emu:
        os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = emu.connection_env()
        bag = DagBag(dag_folder=str(dags_folder))
        dags = {dag_id: bag.get_dag(dag_id) for dag_id in bag.dag_ids}
        for plan in plans:
            result = run_one(plan, emu, dags)
            print(result.line(), flush=True)
            totals["runs"] += 1
            totals["faults"] += result.faults
            totals["leaked"] += len(result.leaked)
            totals["duplicated"] += len(result.duplicated)
            totals["wrong"] += len(result.wrong)
    clean = totals["leaked"] == totals["duplicated"] == totals["wrong"] == 0
    if clean:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"the soak's Airflow home, logs and database: {home}", flush=True)
    print(" ".join(f"{key}={value}" for key, value in totals.items()) + f" seed={seed}", flush=True)
    return 0 if clean else 1


def worker(dag_id: str, logical_date: str, conf: str) -> int:
    """The worker process of a run whose worker gets killed: it runs the DAG until the SIGKILL."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
    run_dag(dag, datetime.fromisoformat(logical_date), json.loads(conf))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.soak")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--shard", default="0/1", help="i/n: the runs whose number is i modulo n")
    parser.add_argument("--only", type=int, action="append", default=[], help="run only these run numbers")
    parser.add_argument(
        "--database", type=Path, help="a migrated SQLite metadata database to copy (else one is migrated)"
    )
    worker_args = ("DAG_ID", "LOGICAL_DATE", "CONF")
    parser.add_argument("--worker", nargs=3, metavar=worker_args, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(*args.worker)
    index, count = (int(part) for part in args.shard.split("/"))
    return soak(args.seed, args.runs, (index, count), args.only, args.database)


if __name__ == "__main__":
    sys.exit(main())
