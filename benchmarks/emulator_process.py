"""The emulator as a separate process for the benchmarks, and plain HTTP calls to it.

Not a benchmark itself: ``trigger_fleet.py``, ``worker_seconds.py`` and ``emulator_throughput.py``
import it (run as scripts, so this folder is on ``sys.path``). The emulator runs in its own process so
that its CPU is not the measured process's, and neither shares a GIL with the other.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOKEN = "dapi-benchmark-token"
#: A minimal valid ``clusters/create`` body.
SPEC: dict[str, Any] = {
    "cluster_name": "bench",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 2,
    "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
}
LISTENING = re.compile(r"listening on (http://\S+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchmarkFailed(RuntimeError):
    """The benchmark itself could not run (not a figure that missed its target)."""


def api_call(url: str, method: str, path: str, body: Any = None, *, token: str = TOKEN) -> Any:
    """One request with the bearer token; the JSON answer, or ``BenchmarkFailed`` naming the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        raise BenchmarkFailed(f"{method} {path}: {err.code} {err.read()[:300]!r}") from err


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class EmulatorProcess:
    """``python -m airflow_databricks_clusters.emulator`` on a free loopback port, until the block ends.

    :param options: more command-line options (``--time-scale 0``, ``--start-seconds 60``, ...).
    Its output goes to a temporary file (a pipe nobody reads could fill and stall it); ``log_tail()`` reads
    it when something went wrong.
    """

    def __init__(self, options: Sequence[str] = ()) -> None:
        self.command = [
            sys.executable,
            "-m",
            "airflow_databricks_clusters.emulator",
            "--port",
            "0",
            "--token",
            TOKEN,
            *options,
        ]
        self._log = tempfile.NamedTemporaryFile(prefix="adc-bench-emulator-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> EmulatorProcess:
        deadline = time.monotonic() + 60  # a bound for a loaded machine, not an expectation
        while time.monotonic() < deadline and self.proc.poll() is None:
            match = LISTENING.search(self.log_tail())
            if match:
                self.url = match.group(1)
                return self
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise BenchmarkFailed(f"the emulator did not start:\n{tail}")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, size: int = 4000) -> str:
        return Path(self._log.name).read_text(errors="replace")[-size:]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return api_call(self.url, method, path, body)

    def connection_json(self) -> str:
        """An ``AIRFLOW_CONN_<ID>`` value (a ``databricks`` connection, the official provider's shape)."""
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return json.dumps(
            {"conn_type": "databricks", "host": host, "port": int(port), "schema": "http", "password": TOKEN}
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def airflow_env(home: Path) -> dict[str, str]:
    """Settings a bare process needs to use Airflow's connections and operators without a deployment: a
    throw-away AIRFLOW_HOME, unit-test mode (operators run outside a task runner), no example DAGs."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }
