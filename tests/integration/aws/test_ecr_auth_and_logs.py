"""ECR registry credentials and cluster logs read back from S3, through the amazon provider, on moto."""

from __future__ import annotations

import base64

import pytest
from airflow.sdk.log import redact

from airflow_databricks_clusters.preflight.aws import AwsProblem, cluster_log_tails, ecr_basic_auth
from tests.aws_server import AwsServer

IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest"


def test_ecr_credentials_fill_basic_auth_and_are_masked(aws: AwsServer) -> None:
    auth = ecr_basic_auth("aws_default", IMAGE)
    token = aws.client("ecr").get_authorization_token(registryIds=["123456789012"])
    username, password = (
        base64.b64decode(token["authorizationData"][0]["authorizationToken"]).decode().split(":")
    )
    assert auth == {"username": username, "password": password}
    assert redact(f"pulling with {password}") == "pulling with ***"


def test_ecr_credentials_need_an_ecr_image(aws: AwsServer) -> None:
    with pytest.raises(
        AwsProblem, match=r"docker_image.url: got 'ghcr.io/team/etl:1'; allowed with docker_auth='ecr'"
    ):
        ecr_basic_auth("aws_default", "ghcr.io/team/etl:1")


CLUSTER_ID = "1124-080455-abcdefgh"
ROOT = f"clusters/{CLUSTER_ID}"
CLUSTER = {
    "cluster_id": CLUSTER_ID,
    "cluster_log_conf": {"s3": {"destination": "s3://team-logs/clusters", "region": "ap-southeast-1"}},
}


def put(aws: AwsServer, key: str, text: str) -> None:
    aws.client("s3").put_object(Bucket="team-logs", Key=key, Body=text.encode())


def test_the_newest_init_script_logs_stderr_first_then_the_driver(aws: AwsServer) -> None:
    aws.create_bucket("team-logs")
    node = f"{ROOT}/init_scripts/{CLUSTER_ID}_10_0_1_17"
    put(aws, f"{node}/20261124_080455_00_setup.sh.stdout.log", "setup ok")
    put(aws, f"{node}/20261124_080455_00_setup.sh.stderr.log", "")
    put(aws, f"{node}/20261124_080458_01_install-drivers.sh.stdout.log", "installing drivers")
    put(aws, f"{node}/20261124_080458_01_install-drivers.sh.stderr.log",
        "\n".join(f"line {n}" for n in range(100)) + "\nE: Unable to locate package odbc-driver")  # fmt: skip
    put(aws, f"{ROOT}/driver/stderr", "driver stderr")
    put(aws, f"{ROOT}/driver/log4j-active.log", "INFO SparkContext: Running Spark version 3.5.0")
    put(aws, f"{ROOT}/driver/stdout", "not shown")
    tails = cluster_log_tails("aws_default", CLUSTER)
    assert [t.url.rsplit("/", 1)[-1] for t in tails] == [
        "20261124_080458_01_install-drivers.sh.stderr.log",
        "20261124_080458_01_install-drivers.sh.stdout.log",
        "20261124_080455_00_setup.sh.stderr.log",
        "20261124_080455_00_setup.sh.stdout.log",
        "stderr",
        "log4j-active.log",
    ]
    assert tails[0].url == f"s3://team-logs/{node}/20261124_080458_01_install-drivers.sh.stderr.log"
    assert len(tails[0].lines) == 30 and tails[0].lines[-1] == "E: Unable to locate package odbc-driver"
    assert [t.url.rsplit("/", 1)[-1] for t in cluster_log_tails("aws_default", CLUSTER, driver=False)][
        -1
    ] == ("20261124_080455_00_setup.sh.stdout.log")


def test_no_s3_logs_means_no_report_and_a_missing_bucket_says_so(aws: AwsServer) -> None:
    assert cluster_log_tails("aws_default", {"cluster_id": CLUSTER_ID}) == []
    assert (
        cluster_log_tails(
            "aws_default", {**CLUSTER, "cluster_log_conf": {"dbfs": {"destination": "dbfs:/x"}}}
        )
        == []
    )
    (tail,) = cluster_log_tails("aws_default", CLUSTER)
    assert tail.url == f"s3://team-logs/{ROOT}/" and "could not read the cluster logs" in tail.lines[0]
