"""The `airflow-databricks-clusters emulator` command: prints its URL, stops on SIGTERM, keeps state,
delivers cluster logs to an S3 API."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.aws_server import REGION, AwsServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int, state_file: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
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
            *extra,
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


def test_delivers_cluster_logs_to_the_s3_endpoint(tmp_path: Path, aws: AwsServer) -> None:
    aws.create_bucket("logs")
    process, url = start(free_port(), tmp_path / "workspace.json", "--s3-endpoint-url", aws.endpoint_url)
    headers = {"Authorization": "Bearer T"}
    try:
        conf = {"s3": {"destination": "s3://logs/clusters", "region": REGION}}
        spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
        created = requests.post(
            f"{url}/api/2.1/clusters/create",
            json={**spec, "cluster_log_conf": conf},
            headers=headers,
            timeout=10,
        ).json()
        get = f"{url}/api/2.1/clusters/get"
        deadline = time.monotonic() + 10
        while requests.get(get, params=created, headers=headers, timeout=10).json()["state"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    listed = aws.client("s3").list_objects_v2(Bucket="logs", Prefix=f"clusters/{created['cluster_id']}/")
    assert sorted(item["Key"].rsplit("/", 1)[-1] for item in listed["Contents"]) == [
        "log4j-active.log",
        "stderr",
        "stdout",
    ]
