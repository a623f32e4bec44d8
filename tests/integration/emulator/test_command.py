"""The `airflow-databricks-clusters emulator` command: prints its URL, stops on SIGTERM, keeps state,
delivers cluster logs to an S3 API, runs on a clock a client can stop and advance."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airflow_databricks_clusters.emulator.cli import main
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
        assert process.wait(timeout=60) == 0
    process, url = start(port, state)
    try:
        answer = requests.get(
            f"{url}/api/2.0/clusters/get", params=created, headers={"Authorization": "Bearer T"}, timeout=10
        )
        assert answer.status_code == 200
        assert answer.json()["cluster_id"] == created["cluster_id"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def test_delivers_cluster_logs_to_the_s3_endpoint(tmp_path: Path, aws: AwsServer) -> None:
    aws.create_bucket("logs")
    # A stopped clock (--time-scale 0): the cluster starts when the test advances it, not before.
    process, url = start(
        free_port(), tmp_path / "workspace.json", "--s3-endpoint-url", aws.endpoint_url, "--time-scale", "0"
    )
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
        assert requests.get(get, params=created, headers=headers, timeout=10).json()["state"] == "PENDING"
        clock = requests.post(
            f"{url}/emulator/clock", json={"advance_seconds": 0.2}, headers=headers, timeout=10
        ).json()
        assert clock["time_scale"] == 0
        assert requests.get(get, params=created, headers=headers, timeout=10).json()["state"] == "RUNNING"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    listed = aws.client("s3").list_objects_v2(Bucket="logs", Prefix=f"clusters/{created['cluster_id']}/")
    assert sorted(item["Key"].rsplit("/", 1)[-1] for item in listed["Contents"]) == [
        "log4j-active.log",
        "stderr",
        "stdout",
    ]


@pytest.mark.parametrize("scale", ["-1", "fast", "nan"])
def test_a_time_scale_below_0_or_not_a_number_is_refused(
    scale: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["emulator", "--time-scale", scale])
    assert exit_.value.code == 2
    assert "--time-scale: must be a number from 0 (0 stops the clock)" in capsys.readouterr().err
