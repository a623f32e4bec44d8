"""Pre-flight checks against the emulated workspace and moto's AWS: what passes, fails and is skipped."""

from __future__ import annotations

import json
import socket
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.preflight.checks import (
    NO_AWS,
    Outcome,
    PreflightFailed,
    enforce_preflight,
    raise_on_failure,
    run_preflight,
)
from tests.aws_server import AwsServer

SEED = Path(__file__).resolve().parents[3] / "dags" / "clusters" / "dataengineeringe2e.json"
PROFILE = "arn:aws:iam::123456789012:instance-profile/dataengineeringe2e-role"
IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e"
#: The day the checks run on: a runtime's end of support is measured from it, never from the real date.
TODAY = date(2026, 12, 1)


def spec(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "cluster_name": "preflight",
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "r4.xlarge",
        "autoscale": (1, 2),
        "availability": "SPOT_WITH_FALLBACK",
        "zone_id": "ap-southeast-1c",
        "instance_profile_arn": PROFILE,
        "docker_image": f"{IMAGE}:2026.11.24",
        "cluster_log_conf": "s3://dataengineeringe2e-logs/clusters",
        **overrides,
    }
    return build_cluster_spec(**fields)


class _Silent:
    """A logger that drops every line."""

    def info(self, message: str, *args: Any) -> None:
        pass

    warning = error = info


SILENT = _Silent()


def outcomes(results: list[Any]) -> list[tuple[str, str]]:
    return [(r.check, r.outcome.value) for r in results]


def everything_in_place(aws: AwsServer) -> None:
    aws.push_image("dataengineeringe2e", "2026.11.24")
    aws.create_instance_profile("dataengineeringe2e-role")
    aws.create_bucket("dataengineeringe2e-logs")


def test_a_spec_whose_every_part_exists_passes(aws: AwsServer, emu: Emulator) -> None:
    everything_in_place(aws)
    results = run_preflight(spec(), DatabricksClustersHook(), aws_conn_id="aws_default", today=TODAY)
    assert outcomes(results) == [
        ("container_services", "passed"),
        ("runtime_support", "passed"),
        ("spark_version", "passed"),
        ("node_types", "passed"),
        ("zone", "passed"),
        ("instance_profile", "passed"),  # in IAM
        ("instance_profile", "passed"),  # registered in the workspace
        ("ecr_image", "passed"),
        ("s3_log_bucket", "passed"),
    ]
    raise_on_failure(results)
    assert emu.clusters == {}


def test_every_problem_is_reported_at_once(aws: AwsServer, emu: Emulator) -> None:
    bad = spec(
        spark_version="15.4.x-scala2.13",
        node_type_id="r5d.2xlarge",
        zone_id="ap-southeast-1d",
        instance_profile_arn="arn:aws:iam::123456789012:instance-profile/other-role",
        policy_id="NOPOLICY",
        data_security_mode="USER_ISOLATION",
        init_scripts=["dbfs:/init/setup.sh"],
    )
    results = run_preflight(bad, DatabricksClustersHook(), aws_conn_id="aws_default", today=TODAY)
    assert ("runtime_support", "passed") in outcomes(results)  # 15.4 is supported whatever its Scala
    assert all(r.outcome is Outcome.FAILED for r in results if r.check != "runtime_support"), results
    with pytest.raises(PreflightFailed) as caught:
        raise_on_failure(results)
    message = str(caught.value)
    assert message.startswith("Pre-flight: 10 checks failed, the cluster was not created:")
    for expected in (
        "container_services: docker_image " + IMAGE + ":2026.11.24 with data_security_mode USER_ISOLATION: ",
        "init_scripts: init_scripts[0] dbfs:/init/setup.sh: init scripts on DBFS are end of life",
        "spark_version: spark_version '15.4.x-scala2.13' is not offered by the workspace; close matches: ",
        "node_types: node_type_id 'r5d.2xlarge' is not offered",
        "zone: aws_attributes.zone_id 'ap-southeast-1d' is not offered",
        "instance_profile: IAM instance profile other-role does not exist (NoSuchEntity)",
        "instance_profile: arn:aws:iam::123456789012:instance-profile/other-role is not registered",
        "policy: policy_id 'NOPOLICY' is not offered",
        "ecr_image: image dataengineeringe2e:2026.11.24 in registry 123456789012 (ap-southeast-1) does not "
        "exist (RepositoryNotFoundException)",
        "s3_log_bucket: S3 bucket dataengineeringe2e-logs does not exist (404)",
    ):
        assert expected in message
    (runtime,) = [r.detail for r in results if r.check == "spark_version"]
    assert "15.4.x-scala2.12" in runtime.split("; ")[1]  # among the close matches


def test_the_source_articles_retired_runtime_fails_naming_it_and_what_is_offered(emu: Emulator) -> None:
    seed = build_cluster_spec(
        cluster_json=str(SEED), instance_profile_arn=PROFILE, docker_image=f"{IMAGE}:latest"
    )
    assert seed["spark_version"] == "7.0.x-scala2.12"  # the file's own
    with pytest.raises(PreflightFailed) as caught:
        enforce_preflight(
            seed, DatabricksClustersHook(), aws_conn_id=None, skip=(), logger=SILENT, today=TODAY
        )
    (failed,) = [r for r in caught.value.results if r.outcome is Outcome.FAILED]
    assert failed.check == "spark_version"
    assert failed.detail.startswith("spark_version '7.0.x-scala2.12' is a retired runtime, older than every ")
    offered = [version["key"] for version in DatabricksClustersHook().spark_versions()]
    # Listed newest first, as the workspace lists them.
    assert failed.detail.endswith(f"offered runtimes: {', '.join(offered)}")


def test_a_tag_that_was_never_pushed(aws: AwsServer, emu: Emulator) -> None:
    everything_in_place(aws)
    results = run_preflight(
        spec(docker_image=f"{IMAGE}:never-pushed"),
        DatabricksClustersHook(),
        aws_conn_id="aws_default",
        today=TODAY,
    )
    (image,) = [r for r in results if r.check == "ecr_image"]
    assert image.outcome is Outcome.FAILED and "(ImageNotFoundException)" in image.detail
    digest = aws.push_image("dataengineeringe2e", "v2")
    results = run_preflight(
        spec(docker_image=f"{IMAGE}@{digest}"),
        DatabricksClustersHook(),
        aws_conn_id="aws_default",
        today=TODAY,
    )
    assert ("ecr_image", "passed") in outcomes(results)


def test_without_an_aws_connection_the_aws_lookups_are_skipped_not_passed(emu: Emulator) -> None:
    results = run_preflight(spec(), DatabricksClustersHook(), today=TODAY)
    assert outcomes(results) == [
        ("container_services", "passed"),
        ("runtime_support", "passed"),
        ("spark_version", "passed"),
        ("node_types", "passed"),
        ("zone", "passed"),
        ("instance_profile", "skipped"),
        ("instance_profile", "passed"),
        ("ecr_image", "skipped"),
        ("s3_log_bucket", "skipped"),
    ]
    assert all("no aws_conn_id given" in r.detail for r in results if r.outcome is Outcome.SKIPPED)


def test_lookups_that_cannot_run_are_skipped(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # An AWS that cannot be reached (one attempt, short timeouts), and a workspace that says 403.
    extra = {"region_name": "ap-southeast-1", "endpoint_url": f"http://127.0.0.1:{port}",
             "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}}  # fmt: skip
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    emu.add_fault("status", status=403, path="instance-profiles/list")
    results = run_preflight(
        spec(), DatabricksClustersHook(), aws_conn_id="aws_default", skip=["zone"], today=TODAY
    )
    skipped = {r.check: r.detail for r in results if r.outcome is Outcome.SKIPPED}
    assert set(skipped) == {"instance_profile", "ecr_image", "s3_log_bucket"}
    assert "could not reach AWS" in skipped["ecr_image"]
    assert [r.detail for r in results if r.check == "instance_profile"][1].startswith(
        "no permission to list instance profiles"
    )
    raise_on_failure(results)  # nothing failed: skipped is not failed, and not passed either


def test_switched_off_checks_do_not_run(aws: AwsServer, emu: Emulator) -> None:
    skip = ["container_services", "runtime_support", "ecr_image", "s3_log_bucket"]
    results = run_preflight(
        spec(), DatabricksClustersHook(), aws_conn_id="aws_default", skip=skip, today=TODAY
    )
    assert {r.check for r in results} == {"spark_version", "node_types", "zone", "instance_profile"}


# A lookup the workspace answered with something unreadable (a proxy's HTML page with a 200, a truncated
# body, an answer without the field that names each item, no node types at all) says nothing about the
# spec: the check is skipped, saying which endpoint and what was wrong, and never fails the task.
POOL = {"instance_pool_id": "0101-120000-pool0001", "node_type_id": None}
HTML = "<html><head><title>Sign in</title></head><body>proxy</body></html>"
UNREADABLE = [
    ("node_types", "clusters/list-node-types", HTML, {}, "a body that is not JSON"),
    ("node_types", "clusters/list-node-types", '{"node_types": [{"node_type', {}, "a body that is not JSON"),
    ("node_types", "clusters/list-node-types", "{}", {}, "no node types"),
    ("node_types", "clusters/list-node-types", '{"node_types": [{"instance_type_id": "r4.xlarge"}]}', {},
     'an item with no "node_type_id": {"instance_type_id": "r4.xlarge"}'),
    ("node_types", "clusters/list-node-types", '{"node_types": [{"node_type_id": 4}]}', {},
     'an item with no "node_type_id"'),
    ("spark_version", "clusters/spark-versions", HTML, {}, "a body that is not JSON"),
    ("spark_version", "clusters/spark-versions", "{}", {}, "no runtimes"),
    ("spark_version", "clusters/spark-versions", '{"versions": [{"name": "15.4 LTS"}]}', {},
     'an item with no "key"'),
    ("zone", "clusters/list-zones", HTML, {}, "a body that is not JSON"),
    ("zone", "clusters/list-zones", "{}", {}, "no availability zones"),
    ("zone", "clusters/list-zones", '{"zones": "ap-southeast-1c"}', {}, '"zones" that is not a list'),
    ("zone", "clusters/list-zones", '{"zones": [{"zone": "ap-southeast-1c"}]}', {}, '"zones" that is not'),
    ("instance_profile", "instance-profiles/list", HTML, {}, "a body that is not JSON"),
    ("instance_profile", "instance-profiles/list", json.dumps({"instance_profiles": [{"arn": PROFILE}]}), {},
     'an item with no "instance_profile_arn"'),
    ("instance_pool", "instance-pools/list", HTML, POOL, "a body that is not JSON"),
    ("instance_pool", "instance-pools/list", '{"instance_pools": [{"instance_pool_name": "warm"}]}', POOL,
     'an item with no "instance_pool_id"'),
    ("policy", "policies/clusters/list", HTML, {"policy_id": "E0123456789ABCDE"}, "a body that is not JSON"),
    ("policy", "policies/clusters/list", '{"policies": [{"name": "Job Compute"}]}',
     {"policy_id": "E0123456789ABCDE"}, 'an item with no "policy_id"'),
]  # fmt: skip


@pytest.mark.parametrize(("check", "endpoint", "body", "overrides", "what"), UNREADABLE)
def test_a_lookup_that_cannot_be_read_skips_its_check(
    check: str, endpoint: str, body: str, overrides: dict[str, Any], what: str, emu: Emulator
) -> None:
    emu.add_fault("malformed", path=endpoint, body=body)
    results = run_preflight(spec(**overrides), DatabricksClustersHook(), today=TODAY)
    assert [r for r in results if r.outcome is Outcome.FAILED] == []
    (skipped,) = [r for r in results if r.check == check and NO_AWS not in r.detail]
    assert skipped.outcome is Outcome.SKIPPED
    assert endpoint in skipped.detail and what in skipped.detail
    raise_on_failure(results)  # nothing failed: the create call goes ahead
    calls = [r for r in emu.request_log if r["path"].endswith(endpoint)]
    assert len(calls) == 1  # a 200 is an answer: not retried


def test_the_operator_logs_the_skipped_check_and_goes_on(emu: Emulator) -> None:
    emu.add_fault("malformed", path="clusters/list-node-types", body="<html>..</html>")
    lines: list[str] = []

    class Logger:
        def info(self, message: str, *args: Any) -> None:
            lines.append(message % args)

        warning = error = info

    enforce_preflight(
        spec(), DatabricksClustersHook(), aws_conn_id=None, skip=(), logger=Logger(), today=TODAY
    )
    (line,) = [line for line in lines if "node_types" in line]
    assert line.startswith("Pre-flight node_types skipped: could not list node types: GET /api/2.1/clusters/")
    assert "list-node-types: HTTP 200: answered a body that is not JSON" in line and "<html>..</html>" in line
    assert "not offered" not in "\n".join(lines)


class _ProxyPage(BaseHTTPRequestHandler):
    """What an HTTP proxy in front of AWS may answer to anything: an HTML page with a 200."""

    def _page(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        page = HTML.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(page)

    do_GET = do_POST = do_HEAD = _page

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_an_aws_answer_that_cannot_be_read_skips_its_check(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyPage)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        extra = {"region_name": "ap-southeast-1", "endpoint_url": f"http://127.0.0.1:{proxy.server_port}",
                 "config_kwargs": {"retries": {"max_attempts": 1}}}  # fmt: skip
        conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
        results = run_preflight(spec(), DatabricksClustersHook(), aws_conn_id="aws_default", today=TODAY)
    finally:
        proxy.shutdown()
        proxy.server_close()
    # IAM's answer is XML that botocore cannot read: the lookup stops, so the check is skipped.
    (iam,) = [r for r in results if r.check == "instance_profile" and "IAM" in r.detail]
    assert iam.outcome is Outcome.SKIPPED
    assert iam.detail.startswith("could not read AWS's answer to the lookup of IAM instance profile ")
    # ECR's answer is JSON-shaped for botocore, which reads the page as an answer without images: the
    # image was not found, nor shown missing, so that check is skipped too, never passed.
    (ecr,) = [r for r in results if r.check == "ecr_image"]
    assert ecr.outcome is Outcome.SKIPPED, ecr
    assert ecr.detail.startswith("could not read AWS's answer to the lookup of image ")
    assert [r for r in results if r.outcome is Outcome.FAILED] == []
