"""Reading ECR image references, S3 destinations and instance profile ARNs (no AWS call)."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.preflight.aws import (
    EcrImage,
    instance_profile_name,
    parse_ecr_image,
    split_s3_url,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("url", "image"),
    [
        (
            "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest",
            EcrImage("123456789012", "ap-southeast-1", "dataengineeringe2e", "latest", None),
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/etl:2026.11.24-rc1",
            EcrImage("123456789012", "us-east-1", "team/etl", "2026.11.24-rc1", None),
        ),
        (
            f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/etl@{DIGEST}",
            EcrImage("123456789012", "eu-west-1", "etl", None, DIGEST),
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/etl",
            EcrImage("123456789012", "us-gov-west-1", "etl", None, None),
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/etl:v1",
            EcrImage("123456789012", "cn-north-1", "etl", "v1", None),
        ),
    ],
)
def test_ecr_images_are_read(url: str, image: EcrImage) -> None:
    assert parse_ecr_image(url) == image


@pytest.mark.parametrize(
    "url",
    [
        "databricksruntime/standard:15.4-LTS",
        "ghcr.io/team/etl:1",
        "12345.dkr.ecr.us-east-1.amazonaws.com/x:1",
    ],
)
def test_other_registries_are_not_ecr(url: str) -> None:
    assert parse_ecr_image(url) is None


def test_ecr_lookup_id_prefers_the_digest_and_defaults_to_latest() -> None:
    assert EcrImage("1", "r", "repo", "v1", DIGEST).image_id == {"imageDigest": DIGEST}
    assert EcrImage("1", "r", "repo", None, None).image_id == {"imageTag": "latest"}
    assert str(EcrImage("123", "eu-west-1", "repo", "v1", None)) == "repo:v1 in registry 123 (eu-west-1)"


def test_s3_destinations_and_profile_names() -> None:
    assert split_s3_url("s3://logs/clusters/") == ("logs", "clusters")
    assert split_s3_url("s3://logs") == ("logs", "")
    assert instance_profile_name("arn:aws:iam::123456789012:instance-profile/team/etl-role") == "etl-role"


def _raise(code: str) -> None:
    from botocore.exceptions import ClientError

    raise ClientError({"Error": {"Code": code, "Message": "..."}}, "GetInstanceProfile")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("NoSuchEntity", "failed"), ("404", "failed"), ("AccessDenied", "skipped"), ("403", "skipped")],
)
def test_missing_fails_and_forbidden_skips(code: str, outcome: str) -> None:
    # AWS's answer, not a stand-in for it: the exception botocore raises for that error code.
    from airflow_databricks_clusters.preflight.aws import _lookup

    result = _lookup("instance_profile", "IAM instance profile etl", lambda: _raise(code))
    assert result.outcome.value == outcome and code in result.detail
