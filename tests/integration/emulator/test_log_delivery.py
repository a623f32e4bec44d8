"""Cluster log delivery to S3 (moto's server): the keys and text Databricks writes, at the moment it does."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.aws_server import REGION, AwsServer
from tests.integration.emulator.conftest import Api

BUCKET = "cluster-logs"
LOG_CONF = {"s3": {"destination": f"s3://{BUCKET}/logs/team", "region": REGION}}
SCRIPTS = [
    {"s3": {"destination": "s3://init-bucket/scripts/setup.sh", "region": REGION}},
    {"workspace": {"destination": "/Shared/init/install-drivers.sh"}},
]


@pytest.fixture
def emu_s3(aws: AwsServer) -> Iterator[Emulator]:
    with Emulator(
        start_seconds=0.4, terminate_seconds=0.2, s3_endpoint_url=aws.endpoint_url, time_scale=0
    ) as emulator:
        yield emulator


def objects(aws: AwsServer, prefix: str = "") -> dict[str, str]:
    """Every object in the log bucket under ``prefix``: key -> text."""
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode() for item in listed
    }


def stamp(epoch_ms: int) -> str:
    return time.strftime("%Y%m%d_%H%M%S", time.gmtime(epoch_ms / 1000))


def test_failing_init_script_leaves_its_logs_at_the_documented_keys(emu_s3: Emulator, aws: AwsServer) -> None:
    aws.create_bucket(BUCKET)
    error = "E: Unable to locate package nvidia-driver-535"
    emu_s3.set_scenario("init_script_failure", stderr=error, script_index=1)
    api = Api(emu_s3)
    cluster_id = api.create(init_scripts=SCRIPTS, cluster_log_conf=LOG_CONF)

    cluster = api.wait_for(cluster_id, "TERMINATED")
    # Read at once: the logs were written at the transition the client just saw.
    logs = objects(aws, f"logs/team/{cluster_id}/")

    assert cluster["termination_reason"]["code"] == "INIT_SCRIPT_FAILURE"
    assert "workspace:/Shared/init/install-drivers.sh" in cluster["state_message"]
    started = next(e for e in emu_s3.events(cluster_id) if e["type"] == "INIT_SCRIPTS_STARTED")
    folder = f"logs/team/{cluster_id}/init_scripts/{cluster_id}_10_0_[0-9]+_[0-9]+"
    first = f"{folder}/{stamp(started['timestamp'])}_00_setup\\.sh"
    second = f"{folder}/[0-9]{{8}}_[0-9]{{6}}_01_install-drivers\\.sh"
    patterns = [f"{first}.stderr.log", f"{first}.stdout.log", f"{second}.stderr.log", f"{second}.stdout.log"]
    keys = sorted(logs)
    assert len(keys) == 4
    for key, pattern in zip(keys, patterns, strict=True):
        assert re.fullmatch(pattern, key), (key, pattern)
    assert len({key.rsplit("/", 1)[0] for key in keys}) == 1  # one node's folder
    texts = [logs[key] for key in keys]
    assert texts[0] == ""  # setup.sh succeeded and wrote nothing to stderr
    assert texts[1].startswith("Running setup.sh on 10.0.")
    assert texts[2] == f"{error}\nScript exit status is non-zero: 1\n"
    assert "install-drivers.sh" in texts[3]


def test_init_script_folder_is_the_driver_ip_and_driver_logs_follow_the_cluster(
    emu_s3: Emulator, aws: AwsServer
) -> None:
    aws.create_bucket(BUCKET)
    api = Api(emu_s3)
    cluster_id = api.create(init_scripts=SCRIPTS[:1], cluster_log_conf=LOG_CONF)
    running = api.wait_for(cluster_id, "RUNNING")
    base = f"logs/team/{cluster_id}/"
    ip = running["driver"]["private_ip"]
    finished = next(e for e in emu_s3.events(cluster_id) if e["type"] == "INIT_SCRIPTS_FINISHED")
    assert finished["details"]["init_scripts"]["reported_for_node"] == ip
    logs = objects(aws, base)
    folder = f"{base}init_scripts/{cluster_id}_{ip.replace('.', '_')}/"
    assert sorted(key.rsplit(".", 2)[-2] for key in logs if key.startswith(folder)) == ["stderr", "stdout"]
    started_log = logs[f"{base}driver/log4j-active.log"]
    assert f"Cluster {cluster_id} on 15.4.x-scala2.12" in started_log and ip in started_log
    assert logs[f"{base}driver/stdout"].endswith("Connected to spark.\n")
    assert "NativeCodeLoader" in logs[f"{base}driver/stderr"]

    assert api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id}) == (200, {})
    api.wait_for(cluster_id, "TERMINATED")
    after = objects(aws, f"{base}driver/")
    log4j = after[f"{base}driver/log4j-active.log"]
    assert log4j.startswith(started_log)
    assert "Cluster termination requested: USER_REQUEST (SUCCESS): username=" in log4j
    assert log4j.endswith("Shutdown hook called\n")
    assert after[f"{base}driver/stdout"].endswith("Driver terminating: USER_REQUEST\n")
    assert "Driver shutting down: USER_REQUEST" in after[f"{base}driver/stderr"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("broken", ["no bucket", "no endpoint"])
def test_failed_delivery_is_a_warning_and_the_api_answers_as_usual(
    aws: AwsServer, caplog: pytest.LogCaptureFixture, broken: str
) -> None:
    endpoint = aws.endpoint_url if broken == "no bucket" else f"http://127.0.0.1:{free_port()}"
    caplog.set_level(logging.WARNING, logger="airflow_databricks_clusters.emulator.log_delivery")
    with Emulator(
        start_seconds=0.2, terminate_seconds=0.1, s3_endpoint_url=endpoint, time_scale=0
    ) as emulator:
        api = Api(emulator)
        cluster_id = api.create(init_scripts=SCRIPTS, cluster_log_conf=LOG_CONF)
        api.wait_for(cluster_id, "RUNNING")
        assert api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id}) == (200, {})
        cluster = api.wait_for(cluster_id, "TERMINATED")
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # Init-script logs, driver logs at RUNNING, driver logs at termination: three deliveries, each refused.
    assert len(warnings) == 3
    assert all(f"Cluster {cluster_id}: could not deliver its logs to s3://{BUCKET}/" in w for w in warnings)


@pytest.mark.parametrize(
    ("s3_endpoint", "log_conf"),
    [
        (False, LOG_CONF),
        (True, {"dbfs": {"destination": "dbfs:/cluster-logs"}}),
        (True, {"volumes": {"destination": "/Volumes/main/default/logs"}}),
    ],
)
def test_nothing_is_written_without_an_s3_endpoint_or_an_s3_destination(
    aws: AwsServer, s3_endpoint: bool, log_conf: dict[str, Any]
) -> None:
    aws.create_bucket(BUCKET)
    endpoint = aws.endpoint_url if s3_endpoint else None
    with Emulator(
        start_seconds=0.2, terminate_seconds=0.1, s3_endpoint_url=endpoint, time_scale=0
    ) as emulator:
        api = Api(emulator)
        cluster_id = api.create(init_scripts=SCRIPTS, cluster_log_conf=log_conf)
        api.wait_for(cluster_id, "RUNNING")
        api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
        api.wait_for(cluster_id, "TERMINATED")
    assert objects(aws) == {}


def test_an_emulator_without_s3_endpoint_loads_no_boto3() -> None:
    probe = (
        "import sys\n"
        "from airflow_databricks_clusters.emulator import Emulator\n"
        "Emulator().workspace.clusters_create({'spark_version': '15.4.x-scala2.12', "
        "'node_type_id': 'i3.xlarge', 'num_workers': 1, "
        "'cluster_log_conf': {'s3': {'destination': 's3://b/p', 'region': 'ap-southeast-1'}}})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
