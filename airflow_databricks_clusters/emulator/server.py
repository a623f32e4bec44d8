"""``Emulator``: an emulated Databricks workspace served over HTTP on a loopback port.

In-process (a context manager serving uvicorn in a background thread) for tests and the demo, and behind
the ``airflow-databricks-clusters emulator`` command for docker-compose and users' own DAG tests.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from airflow_databricks_clusters.emulator.app import EmulatorApp
from airflow_databricks_clusters.emulator.auth import Auth
from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.clock import EmulatedClock
from airflow_databricks_clusters.emulator.dbfs import Dbfs
from airflow_databricks_clusters.emulator.dbfs_log_delivery import DbfsLogDelivery
from airflow_databricks_clusters.emulator.faults import Fault, Faults
from airflow_databricks_clusters.emulator.job_definitions import Jobs
from airflow_databricks_clusters.emulator.jobs import Runs
from airflow_databricks_clusters.emulator.libraries import ClusterLibraries
from airflow_databricks_clusters.emulator.log_delivery import LogDestinations, S3LogDelivery
from airflow_databricks_clusters.emulator.workspace import DEFAULT_USER, Workspace

DEFAULT_TOKEN = "dapi-emulator-token"


class Emulator:
    """A local Databricks workspace (Clusters API, one-time Jobs runs, DBFS, SCIM Me, OAuth M2M, log
    delivery).

    :param start_seconds: how long a cluster takes from PENDING to RUNNING (a real one takes minutes).
    :param terminate_seconds: how long TERMINATING lasts.
    :param token: the personal access token it accepts (for the user ``user``).
    :param host: interface to listen on; ``port`` 0 picks a free port.
    :param state_file: JSON file the workspace is saved to on every change and loaded from at start.
    :param autotermination_scale: emulated seconds per minute of ``autotermination_minutes``.
    :param run_seconds: how long a job run takes once its cluster is RUNNING.
    :param library_seconds: how long one library takes to install (Libraries API, a task's
        ``libraries``) once its cluster is RUNNING: PENDING, RESOLVING (packages), INSTALLING, then
        INSTALLED, or FAILED under the ``library_failure`` scenario (``libraries.py``).
    :param time_scale: how fast emulated time runs: emulated seconds per real second. 1.0 is real time;
        0 stops the clock, so only ``advance`` moves it (a test then decides when every transition
        happens); 20 makes a 2 s start take 0.1 s. Every duration here is emulated seconds: cluster
        transitions, autotermination, job runs, OAuth token expiry. A ``delay`` fault still sleeps real
        seconds (it stands for the network). Resumed from ``state_file``, the clock carries on from the
        saved reading as if it had kept running at its saved scale while stopped (a stopped clock
        resumes where it stopped), so time never goes back behind what the file records.
    :param fast_forward: a read of one cluster or run (``clusters/get``, ``clusters/events``,
        ``jobs/runs/get``, ``jobs/runs/get-output``, ``libraries/cluster-status``) first moves the clock
        until what it reads rests: RUNNING or TERMINATED, a run ended, a cluster's libraries installed.
        Clients that poll get their answer at the first read and never sleep, however long their polling
        interval (``fast_forward.py``). Settable at any time
        (``emu.fast_forward = False`` to watch a cluster PENDING on a stopped clock).
    :param oauth_clients: ``{client_id: secret}`` of service principals for OAuth M2M.
    :param s3_endpoint_url: an S3 API (moto's server, MinIO, LocalStack) to deliver cluster logs to, as
        Databricks does for a ``cluster_log_conf`` of ``{"s3": {"destination": "s3://bucket/prefix",
        "region": ...}}``. Under ``s3://bucket/prefix/<cluster_id>/`` it writes ``driver/stdout``,
        ``driver/stderr`` and ``driver/log4j-active.log`` when the cluster is RUNNING, and again with the
        termination reason appended when it terminates; and for each init script that ran,
        ``init_scripts/<cluster_id>_<driver ip with "_" for ".">/<yyyyMMdd_HHmmss>_<NN>_<script file
        name>.stdout.log`` and ``.stderr.log`` (``NN`` its position; a failing script's stderr ends with
        its error and exit status). Each write is done before a client can see the state that caused it;
        a failed one (no bucket, endpoint down) is a logged warning, never an API error. Needs boto3
        (imported only then); credentials from the environment if ``AWS_ACCESS_KEY_ID`` is set, else
        dummy ones. Without it, or for ``volumes`` destinations, nothing is written.
        A ``dbfs`` destination gets the same files in the workspace's own DBFS (``emu.dbfs``, the DBFS API).
    :param dbfs_init_scripts: whether clusters may run init scripts from DBFS. False (the default) answers
        a create or edit naming one as a workspace does today, 400 ``FEATURE_DISABLED``; True stands for a
        workspace from before their end of life: the script is read from the emulator's DBFS as it runs,
        and a missing file ends the start with ``INIT_SCRIPT_FAILURE``.
    :param pool_start_seconds: how long a cluster whose every node comes from an instance pool's idle
        instances takes from PENDING to RUNNING; default a quarter of ``start_seconds`` (a real workspace:
        about 145 s cold, under 40 s from a pool). A new pool's idle instances take ``start_seconds`` to
        launch, and ``idle_instance_autotermination_minutes`` count ``autotermination_scale`` seconds each.
    :param capacity: EC2 shortages to start with (``set_capacity``); None keeps what the state file
        holds (none for a new workspace).

    Use as ``with Emulator() as emu:``; then ``emu.url``, ``emu.token``, ``emu.clusters`` (id -> the
    ``clusters/get`` answer), ``emu.set_scenario(...)``, ``emu.set_capacity(...)``, ``emu.add_fault(...)``,
    ``emu.request_log``, ``emu.clock`` (``now()``, a settable ``time_scale``), ``emu.advance(seconds)``
    and ``emu.stats()``.
    """

    def __init__(
        self,
        *,
        start_seconds: float = 2.0,
        terminate_seconds: float = 0.5,
        token: str = DEFAULT_TOKEN,
        user: str = DEFAULT_USER,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: str | os.PathLike[str] | None = None,
        region: str = "ap-southeast-1",
        autotermination_scale: float = 60.0,
        run_seconds: float = 1.0,
        library_seconds: float = 1.0,
        oauth_clients: dict[str, str] | None = None,
        s3_endpoint_url: str | None = None,
        time_scale: float = 1.0,
        fast_forward: bool = False,
        capacity: list[dict[str, Any]] | None = None,
        dbfs_init_scripts: bool = False,
        pool_start_seconds: float | None = None,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.state_file = Path(state_file) if state_file else None
        saved = self._load()
        if saved and "clock" in saved:
            self.clock = EmulatedClock.resumed(saved["clock"], time_scale=time_scale)
        else:  # a new workspace, or a file saved before the clock: its records are in wall time
            self.clock = EmulatedClock(time_scale=time_scale)
        self.dbfs = Dbfs(self.clock.now)
        if saved:
            self.dbfs.load_json(saved.get("dbfs", {}))
        log_delivery = LogDestinations(
            s3=S3LogDelivery(s3_endpoint_url, default_region=region) if s3_endpoint_url else None,
            dbfs=DbfsLogDelivery(self.dbfs),
        )
        options: dict[str, Any] = {
            "start_seconds": start_seconds,
            "terminate_seconds": terminate_seconds,
            "region": region,
            "autotermination_scale": autotermination_scale,
            "log_delivery": log_delivery,
            "clock": self.clock.now,
            "catalog": Catalog(region=region, dbfs_init_scripts=dbfs_init_scripts),
            "dbfs": self.dbfs,
            "pool_start_seconds": pool_start_seconds,
        }
        self.workspace = Workspace.from_json(saved["workspace"], **options) if saved else Workspace(**options)
        if capacity is not None:  # replaces what the state file held
            self.workspace.set_capacity(capacity)
        self.libraries = ClusterLibraries(self.workspace, library_seconds=library_seconds)
        self.runs = Runs(self.workspace, run_seconds=run_seconds, libraries=self.libraries)
        self.jobs = Jobs(self.workspace, self.runs)
        if saved:
            self.libraries.load_json(saved.get("libraries", {}))
            self.runs.load_json(saved.get("runs", {}))
            self.jobs.load_json(saved.get("jobs", {}))
        self.auth = Auth({token: user}, oauth_clients=oauth_clients, clock=self.clock.now)
        self.faults = Faults()
        self.app = EmulatorApp(
            self.workspace,
            self.runs,
            self.auth,
            self.faults,
            self.clock,
            dbfs=self.dbfs,
            libraries=self.libraries,
            saved_jobs=self.jobs,
        )
        self.app.fast_forward = fast_forward
        self.workspace.on_change = self.save
        self.dbfs.on_change = self.save
        self.jobs.on_change = self.save
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._save_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        # A client names the default port by leaving it out (the legacy CLI can do nothing else).
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}" if self.port == 80 else f"http://{host}:{self.port}"

    def start(self) -> Emulator:
        import uvicorn

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.runs.base_url = self.url
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="databricks-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator could not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.save()

    def wait(self) -> None:
        """Block until the server stops (the command's main loop)."""
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state file ----------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any] | None:
        if self.state_file is None or not self.state_file.exists():
            return None
        loaded: dict[str, Any] = json.loads(self.state_file.read_text())
        return loaded

    def save(self) -> None:
        """Write the workspace, its runs, jobs, libraries and DBFS to ``state_file`` (atomically), if one was
        given."""
        if self.state_file is None:
            return
        # The workspace's lock first, as every change that saves holds it already: never the other order.
        with self.workspace.lock, self._save_lock:
            data = {
                "workspace": self.workspace.to_json(),
                "runs": self.runs.to_json(),
                "dbfs": self.dbfs.to_json(),
                "libraries": self.libraries.to_json(),
                "jobs": self.jobs.to_json(),
            }
            # Read after the records: the saved reading is at or after every moment they hold.
            data["clock"] = self.clock.to_json()
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.state_file)

    # -- what tests and the demo use -----------------------------------------------------------------------

    @property
    def fast_forward(self) -> bool:
        """Whether a read of one cluster or run finds it where it is going (see the parameter)."""
        return self.app.fast_forward

    @fast_forward.setter
    def fast_forward(self, value: bool) -> None:
        self.app.fast_forward = bool(value)

    @property
    def clusters(self) -> dict[str, dict[str, Any]]:
        """Every cluster, id -> its ``clusters/get`` answer, as of now."""
        return {c["cluster_id"]: c for c in self.workspace.all_clusters()}

    def events(self, cluster_id: str) -> list[dict[str, Any]]:
        """Every event of a cluster, oldest first."""
        answer = self.workspace.clusters_events({"cluster_id": cluster_id, "order": "ASC", "limit": 500})
        events: list[dict[str, Any]] = answer["events"]
        return events

    def advance(self, seconds: float) -> None:
        """Move emulated time forward by ``seconds`` (ValueError if negative), and bring every cluster up
        to date at once: what fell due happens (its logs delivered) and the state file is saved."""
        self.clock.advance(seconds)
        self.workspace.catch_up()

    def set_scenario(self, name: str, **options: Any) -> str:
        """See ``Workspace.set_scenario``."""
        return self.workspace.set_scenario(name, **options)

    def clear_scenarios(self) -> None:
        self.workspace.clear_scenarios()

    def set_capacity(self, shortages: list[dict[str, Any]]) -> None:
        """Replace every EC2 shortage; see ``Workspace.set_capacity``. ``from_seconds`` and
        ``until_seconds`` are readings of ``emu.clock.now()``."""
        self.workspace.set_capacity(shortages)

    def capacity(self) -> list[dict[str, Any]]:
        """The shortages as set."""
        return self.workspace.capacity()

    def clear_capacity(self) -> None:
        self.workspace.clear_capacity()

    def add_fault(self, kind: str, **options: Any) -> Fault:
        """See ``faults.Fault``: kind status | rate_limit | delay | drop_before | drop_after."""
        return self.faults.add(kind, **options)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def request_log(self) -> list[dict[str, Any]]:
        return list(self.faults.request_log)

    def stats(self) -> dict[str, int]:
        """What ``GET /emulator/stats`` answers: ``requests`` served since start (every path but the
        ``/emulator/`` ones and the console page ``/``), and how many ``clusters`` and ``runs`` the
        workspace holds."""
        return self.app.stats()

    def add_oauth_client(self, client_id: str, secret: str) -> None:
        self.auth.add_oauth_client(client_id, secret)

    def add_federation_policy(
        self,
        *,
        issuer: str,
        audiences: list[str],
        subject: str,
        jwks_json: str,
        subject_claim: str = "sub",
        service_principal: str | None = None,
    ) -> dict[str, Any]:
        """Trust OIDC tokens of ``issuer`` for a token exchange (``emulator/federation_policies.py``), as
        ``POST /emulator/federation-policies`` does: for ``service_principal`` (its application id, the
        exchange's ``client_id``), or account-wide without one. ``testing.oidc_issuer.OidcIssuer`` makes an
        issuer whose tokens a test can sign."""
        body: dict[str, Any] = {
            "issuer": issuer, "audiences": audiences, "subject": subject, "jwks_json": jwks_json,
            "subject_claim": subject_claim,
        }  # fmt: skip
        if service_principal is not None:
            body["service_principal"] = service_principal
        return self.auth.federation.add(body)

    def connection(self) -> dict[str, Any]:
        """The ``databricks`` Airflow connection for this workspace, in the official provider's shape."""
        return {
            "conn_type": "databricks",
            "host": self.host,
            "port": self.port,
            "schema": "http",
            "password": self.token,
        }

    def connection_env(self) -> str:
        """The value of ``AIRFLOW_CONN_DATABRICKS_DEFAULT`` that points Airflow at this workspace."""
        return json.dumps(self.connection())
