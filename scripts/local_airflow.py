"""A real Airflow on this machine: scheduler, triggerer, dag-processor and API server as separate processes.

Used by the system tests (a fresh PostgreSQL database per run on 127.0.0.1:5432) and by `make airflow`
(the same, kept running for a person to use the UI). Every process runs in its own process group and is
stopped (SIGTERM, then SIGKILL) when the deployment stops, also after a failure.

With ``executor="CeleryExecutor"`` tasks run in a separate ``airflow celery worker`` process instead of the
scheduler's LocalExecutor: the machine's Redis (127.0.0.1:6379) is the broker, the deployment's own
PostgreSQL database the result backend. Its queue and every Redis key it makes carry the deployment's
database name, so two deployments on one machine share neither, and its keys are deleted at stop.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
COMPONENTS = ("scheduler", "triggerer", "dag-processor", "api-server")
CELERY_WORKER = "celery-worker"
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
#: The Celery worker's processes: one task at a time each (a deferred task gives its slot back).
CELERY_WORKER_CONCURRENCY = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        capture_output=True,
    )


class AirflowDeployment:
    """One Airflow on PostgreSQL, wired to a Databricks workspace through ``databricks_default``.

    :param connection: the ``AIRFLOW_CONN_DATABRICKS_DEFAULT`` value (the emulator's, or a real one).
    :param home: the AIRFLOW_HOME to use (a temporary one by default).
    :param database: the PostgreSQL database to create (and drop at stop); a fresh name by default.
    :param executor: ``LocalExecutor`` (the scheduler runs the tasks) or ``CeleryExecutor`` (a separate
        ``airflow celery worker`` runs them; ``broker_url`` names the Redis it uses as broker).
    """

    def __init__(
        self,
        connection: str,
        *,
        home: str | None = None,
        database: str | None = None,
        dags_folder: Path = REPO / "dags",
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        executor: str = "LocalExecutor",
        broker_url: str = REDIS,
    ) -> None:
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
        # A home of its own is removed at stop; one given (``make airflow``'s .airflow) is kept.
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="adc-airflow-"))
        self.database = database or f"adc_system_{secrets.token_hex(4)}"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.executor = executor
        self.broker_url = broker_url
        # The Celery queue, and the prefix of every Redis key the deployment's Celery makes.
        self.queue = self.database
        self.broker_prefix = f"{self.database}:"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{POSTGRES}/{self.database}",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            # Runs come from triggers (the UI, the REST API), not from the daily schedule.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_DATABRICKS_DEFAULT": connection,
            "DATABRICKS_CLUSTER_POLL_SECONDS": "1",
            # A task's supervisor notices its process has ended at its next wake-up, up to this many
            # seconds later (default 5). The emulator starts a cluster in a few seconds, so a trigger could
            # fire before the executor said its task had deferred; the scheduler then reads that late
            # "success" as a task killed while queued and fails the try. Waking every second also ends
            # every task sooner; the price is a heartbeat a second per running task.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            # A busy machine can keep the API server from answering a task's start within the default 5 s;
            # the task SDK then sends the start again, the API server refuses it (the first one landed)
            # and the try fails before its task runs a line.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            # Task and trigger logs are served on ports of the deployment's own: another deployment on the
            # machine (a parallel test worker's) may hold the defaults, 8793 and 8794.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            **(self._celery_env() if executor == "CeleryExecutor" else {}),
            **(extra_env or {}),
        }

    @property
    def components(self) -> tuple[str, ...]:
        """The processes the deployment runs."""
        return COMPONENTS + ((CELERY_WORKER,) if self.executor == "CeleryExecutor" else ())

    def _celery_env(self) -> dict[str, str]:
        return {
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{POSTGRES}/{self.database}",
            # Every key and pub/sub channel of kombu's Redis transport gets the prefix (queues, unacked
            # messages, the workers' control channel): deployments on one Redis do not see each other.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.broker_prefix,
            # The provider's default, said explicitly: without it every process warns that it is unset.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
            # Tasks are routed to the deployment's own queue, the only one its worker consumes.
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_WORKER_CONCURRENCY),
            # Sending a task to Redis may take more than the default 1 s on a machine whose cores are busy.
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        }

    # -- lifecycle ------------------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> AirflowDeployment:
        _psql(f"CREATE DATABASE {self.database}")
        try:
            self.airflow("db", "migrate")
            if self.executor == "CeleryExecutor":
                # Keys an earlier deployment of the same name left when it was killed: start clean.
                self._clean_broker()
            for component in self.components:
                log = (self.home / f"{component}.log").open("wb")
                self.processes[component] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *self._command(component)],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._wait_healthy()
            if self.executor == "CeleryExecutor":
                self._wait_worker_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _command(self, component: str) -> list[str]:
        if component == "api-server":
            return [component, "--port", str(self.port), "--workers", "1"]
        if component == CELERY_WORKER:
            concurrency = str(CELERY_WORKER_CONCURRENCY)
            hostname = f"{self.queue}@%h"
            return ["celery", "worker", "--queues", self.queue, "--concurrency", concurrency,
                    "--celery-hostname", hostname]  # fmt: skip
        return [component]

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited {process.returncode}:\n{self.log_tail(name)}")

    def _wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).json()
            except (requests.RequestException, ValueError):
                health = {}
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            if health and all((health.get(p) or {}).get("status") == "healthy" for p in parts):
                return
            time.sleep(1)
        raise RuntimeError(f"Airflow did not become healthy within {timeout:.0f} s: {health}")

    def _wait_worker_ready(self, timeout: float = 120) -> None:
        # Celery's own line once the worker consumes its queue (the API's health does not cover workers).
        ready = re.compile(rf"{re.escape(self.queue)}@\S+ ready\.")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if ready.search(self.log(CELERY_WORKER)):
                return
            time.sleep(1)
        raise RuntimeError(
            f"the Celery worker was not ready within {timeout:.0f} s:\n{self.log_tail(CELERY_WORKER)}"
        )

    def _clean_broker(self) -> None:
        """Delete the Redis keys of the deployment's Celery (its queue, unacked messages, bindings)."""
        import redis  # only a Celery deployment needs it (celery[redis] brings it)

        try:
            client = redis.Redis.from_url(self.broker_url)
            with client:
                keys = list(client.scan_iter(match=f"{self.broker_prefix}*", count=500))
                if keys:
                    client.delete(*keys)
        except redis.RedisError as err:
            print(f"could not clean Redis keys {self.broker_prefix}*: {err}", file=sys.stderr)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
        try:
            if self.executor == "CeleryExecutor":
                self._clean_broker()
        finally:
            # Whatever the broker said, the database and the home go.
            try:
                _psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            except subprocess.CalledProcessError as err:
                print(f"could not drop database {self.database}: {err.stderr!r}", file=sys.stderr)
            if self._own_home:
                shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self, component: str, lines: int = 60) -> str:
        path = self.home / f"{component}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log(self, component: str) -> str:
        path = self.home / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- the public REST API (v2) ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        token = requests.get(f"{self.url}/auth/token", timeout=30).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(
            method, f"{self.url}/api/v2{path}", json=body, headers=self._headers(), timeout=30
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except RuntimeError:
                time.sleep(1)
        raise RuntimeError(
            f"DAG {dag_id} was not parsed within {timeout:.0f} s:\n{self.log_tail('dag-processor')}"
        )

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Trigger a run with a `conf` as the UI's trigger form sends it; return its run id."""
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            except requests.RequestException:
                # An API server slow to answer on a busy machine is no answer about the run: ask again.
                state = None
            if state in ("success", "failed"):
                return str(state)
            time.sleep(1)
        raise RuntimeError(
            f"run {run_id} did not finish within {timeout:.0f} s:\n{self.log_tail('scheduler')}"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in answer["task_instances"]}

    def try_numbers(self, dag_id: str, run_id: str) -> dict[str, int]:
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["try_number"] for ti in answer["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", path)["value"]

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
        """The task's log files (the worker's, and the triggerer's ``*.trigger.*.log`` of a deferral)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return {path.name: path.read_text(errors="replace") for path in sorted(folder.glob("*.log"))}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.api("GET", path)
        content = answer.get("content")
        return json.dumps(content) if not isinstance(content, str) else content


def databricks_line(emulator_url: str, emulator_token: str, user_connection: str | None) -> str:
    """What `make airflow` says of the workspace behind ``databricks_default``.

    The emulator's token is a fixed local one, printed so a person can call the emulator themselves;
    a connection the user set is never printed (its password is a real secret).
    """
    if user_connection:
        return "Databricks: your AIRFLOW_CONN_DATABRICKS_DEFAULT (connection databricks_default)"
    return (
        f"Databricks emulator: {emulator_url}  token: {emulator_token}\n"
        "  (a personal access token the emulator accepts; it is in connection databricks_default)"
    )


def main() -> int:
    """`make airflow`: the emulator, and an Airflow with the example DAGs, until Ctrl-C."""
    sys.path.insert(0, str(REPO))
    from airflow_databricks_clusters.emulator import Emulator

    port = int(os.environ.get("AIRFLOW_PORT", "8080"))
    emulator_port = int(os.environ.get("EMULATOR_PORT", "8765"))
    executor = os.environ.get("AIRFLOW_EXECUTOR", "LocalExecutor")
    user_connection = os.environ.get("AIRFLOW_CONN_DATABRICKS_DEFAULT")
    with Emulator(start_seconds=10, terminate_seconds=2, run_seconds=5, port=emulator_port) as emu:
        deployment = AirflowDeployment(
            user_connection or emu.connection_env(),
            home=str(REPO / ".airflow"),
            database="adc_local_airflow",
            port=port,
            executor=executor,
        )
        # A database left by an earlier `make airflow` that was killed: start clean.
        _psql("DROP DATABASE IF EXISTS adc_local_airflow WITH (FORCE)")
        print(f"Starting Airflow ({', '.join(deployment.components)}; {executor}) ...", flush=True)
        deployment.start()
        print(f"\nAirflow UI:  {deployment.url}  (login: none needed, every user is admin)")
        print(databricks_line(emu.url, emu.token, user_connection))
        print(
            "Trigger `databricks_spot_cluster_pipeline` with your own parameters. Ctrl-C stops everything.\n"
        )
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            deployment.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
