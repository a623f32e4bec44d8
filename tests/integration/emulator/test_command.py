"""The `airflow-databricks-clusters emulator` command: prints its URL, stops on SIGTERM, keeps state."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int, state_file: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_databricks_clusters.emulator",
            "--port",
            str(port),
            "--token",
            "T",
            "--start-seconds",
            "0.2",
            "--state-file",
            str(state_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.strip().rsplit(" ", 1)[-1]


def test_serves_until_sigterm_and_keeps_state(tmp_path: Path) -> None:
    state = tmp_path / "workspace.json"
    port = free_port()
    process, url = start(port, state)
    try:
        assert url == f"http://127.0.0.1:{port}"
        headers = {"Authorization": "Bearer T"}
        created = requests.post(
            f"{url}/api/2.0/clusters/create",
            json={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
            headers=headers,
            timeout=10,
        ).json()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    process, url = start(port, state)
    try:
        answer = requests.get(
            f"{url}/api/2.0/clusters/get", params=created, headers={"Authorization": "Bearer T"}, timeout=10
        )
        assert answer.status_code == 200
        assert answer.json()["cluster_id"] == created["cluster_id"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
