"""The AWS side in real DAG runs (dag.test): pre-flight checks, ECR credentials, logs from S3.

The workspace is the emulator and AWS is moto's server; both are reached over HTTP.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.aws_server import AwsServer
from tests.integration.lifecycle.pipelines import (
    cluster_of_an_earlier_try,
    dag_id_for,
    only_cluster,
    run_pipeline,
    states,
)

pytestmark = pytest.mark.usefixtures("airflow_db")
AWS = {"aws_conn_id": "aws_default"}
LOGS = {"s3": {"destination": "s3://team-logs/clusters", "region": "ap-southeast-1"}}


def ecr_password(aws: AwsServer) -> str:
    token = aws.client("ecr").get_authorization_token(registryIds=["123456789012"])
    return base64.b64decode(token["authorizationData"][0]["authorizationToken"]).decode().split(":")[1]


def test_a_failed_preflight_fails_the_task_before_any_create_call(
    emulator: Emulator, aws: AwsServer, capfd: pytest.CaptureFixture[str]
) -> None:
    # Nothing pushed, no log bucket: two problems, both named in one message; retries would not help.
    create = {**AWS, "cluster_log_conf": LOGS, "retries": 2}
    dag_run = run_pipeline("preflight_fails", deferrable=False, create=create)
    assert states(dag_run)["create_cluster"] == "failed"
    assert dag_run.state == "failed"
    assert emulator.clusters == {}
    assert not [r for r in emulator.request_log if r["path"].endswith("clusters/create")]
    captured = capfd.readouterr()
    out = captured.out + captured.err
    assert "Pre-flight: 2 checks failed, the cluster was not created" in out
    assert "ecr_image: image dataengineeringe2e:latest in registry 123456789012" in out
    assert "s3_log_bucket: S3 bucket team-logs does not exist (404)" in out


def test_preflight_passes_and_can_be_switched_off(emulator: Emulator, aws: AwsServer) -> None:
    aws.push_image("dataengineeringe2e", "latest")
    create = {
        **AWS,
        "cluster_log_conf": LOGS,
        "skip_preflight_checks": ["s3_log_bucket"],
    }
    dag_run = run_pipeline("preflight_passes", deferrable=False, downstream="check_running", create=create)
    assert dag_run.state == "success", states(dag_run)
    assert only_cluster(emulator)["state"] == "TERMINATED"


def test_ecr_credentials_reach_the_cluster_and_never_a_log(
    emulator: Emulator, aws: AwsServer, capfd: pytest.CaptureFixture[str]
) -> None:
    aws.push_image("dataengineeringe2e", "latest")
    dag_run = run_pipeline(
        "ecr_auth", deferrable=True, downstream="check_running", create={**AWS, "docker_auth": "ecr"}
    )
    assert dag_run.state == "success", states(dag_run)
    cluster = only_cluster(emulator)
    # The workspace keeps the user name and never answers the password back, as Databricks does.
    assert cluster["docker_image"]["basic_auth"] == {"username": "AWS"}
    out = capfd.readouterr()
    assert ecr_password(aws) not in out.out + out.err
    assert "Using temporary ECR credentials" in out.out


def test_a_retried_task_renews_the_ecr_credentials_of_the_cluster_it_starts_again(
    emulator: Emulator, aws: AwsServer
) -> None:
    aws.push_image("dataengineeringe2e", "latest")
    run_after = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
    dag_id = dag_id_for("ecr_retry")
    earlier = cluster_of_an_earlier_try(dag_id, run_after, terminated=True)
    dag_run = run_pipeline(
        "ecr_retry",
        deferrable=False,
        downstream="check_running",
        create={**AWS, "docker_auth": "ecr"},
        run_after=run_after,
        dag_id=dag_id,
    )
    assert dag_run.state == "success", states(dag_run)
    assert list(emulator.clusters) == [earlier]
    trail = [e["type"] for e in emulator.events(earlier)]
    assert trail.index("EDITED") < trail.index("STARTING")
    assert emulator.clusters[earlier]["docker_image"]["basic_auth"] == {"username": "AWS"}


@pytest.fixture
def delivering_emulator(aws: AwsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulated workspace that delivers cluster logs to moto's S3, as `databricks_default`."""
    with Emulator(start_seconds=1.0, terminate_seconds=0.3, s3_endpoint_url=aws.endpoint_url) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        yield emu


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_an_init_script_failure_shows_the_scripts_stderr_from_s3(
    delivering_emulator: Emulator, aws: AwsServer, capfd: pytest.CaptureFixture[str], deferrable: bool
) -> None:
    aws.push_image("dataengineeringe2e", "latest")
    aws.create_bucket("team-logs")
    stderr = "+ apt-get install -y msodbcsql18\nE: Unable to locate package msodbcsql18\n"
    delivering_emulator.set_scenario("init_script_failure", stderr=stderr)
    create = {
        **AWS,
        "cluster_log_conf": LOGS,
        "init_scripts": ["s3://team-artifacts/init/install-drivers.sh"],
    }
    dag_run = run_pipeline("init_logs", deferrable=deferrable, create=create)
    assert states(dag_run)["create_cluster"] == "failed"
    cluster = only_cluster(delivering_emulator)
    assert cluster["termination_reason"]["code"] == "INIT_SCRIPT_FAILURE"
    out = capfd.readouterr().out
    assert f"Last lines of s3://team-logs/clusters/{cluster['cluster_id']}/init_scripts/" in out
    assert "install-drivers.sh.stderr.log" in out
    assert "E: Unable to locate package msodbcsql18" in out


def test_the_teardown_report_ends_with_the_driver_logs(
    delivering_emulator: Emulator, aws: AwsServer, capfd: pytest.CaptureFixture[str]
) -> None:
    aws.push_image("dataengineeringe2e", "latest")
    aws.create_bucket("team-logs")
    dag_run = run_pipeline(
        "driver_logs",
        deferrable=False,
        downstream="check_running",
        create={**AWS, "cluster_log_conf": LOGS},
        terminate=AWS,
    )
    assert dag_run.state == "success", states(dag_run)
    cluster_id = only_cluster(delivering_emulator)["cluster_id"]
    out = capfd.readouterr().out
    assert f"Last lines of s3://team-logs/clusters/{cluster_id}/driver/log4j-active.log" in out
