"""How pre-flight results are named, refused and reported (no I/O)."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.preflight import (
    CHECKS,
    CheckResult,
    PreflightFailed,
    raise_on_failure,
    validate_check_names,
)
from airflow_databricks_clusters.preflight_results import CHECK_NAMES


def test_every_failure_and_every_skip_is_in_one_message() -> None:
    results = [
        CheckResult.passed("spark_version", "spark_version 15.4.x-scala2.12 is offered by the workspace"),
        CheckResult.failed("ecr_image", "image etl:v9 in registry 123 (eu-west-1) does not exist"),
        CheckResult.failed("s3_log_bucket", "S3 bucket logs does not exist (404)"),
        CheckResult.skipped("instance_profile", "IAM not checked: no aws_conn_id given"),
    ]
    with pytest.raises(PreflightFailed) as caught:
        raise_on_failure(results)
    assert str(caught.value) == (
        "Pre-flight: 2 checks failed, the cluster was not created:\n"
        "  - ecr_image: image etl:v9 in registry 123 (eu-west-1) does not exist\n"
        "  - s3_log_bucket: S3 bucket logs does not exist (404)\n"
        "Skipped (not checked):\n"
        "  - instance_profile: IAM not checked: no aws_conn_id given"
    )


def test_skipped_checks_do_not_fail() -> None:
    raise_on_failure([CheckResult.skipped("ecr_image", "no aws_conn_id given")])


def test_check_names_are_validated() -> None:
    assert validate_check_names(["ecr_image", "zone"]) == ("ecr_image", "zone")
    assert validate_check_names("policy") == ("policy",)
    with pytest.raises(
        ValueError, match=r"skip_preflight_checks: got \['ecr'\]; allowed: any of spark_version"
    ):
        validate_check_names(["ecr"])
    # The checks and the names a DAG file may skip (known without loading the checks) are one list.
    assert tuple(CHECKS) == CHECK_NAMES


def test_the_create_operator_refuses_an_unknown_check_name_when_the_dag_is_parsed() -> None:
    from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator

    assert DatabricksCreateClusterOperator(task_id="t").skip_preflight_checks == ()
    given = DatabricksCreateClusterOperator(task_id="t", skip_preflight_checks=["zone", "policy"])
    assert given.skip_preflight_checks == ("zone", "policy")
    assert DatabricksCreateClusterOperator(
        task_id="t", skip_preflight_checks="zone"
    ).skip_preflight_checks == ("zone",)
    with pytest.raises(ValueError, match=r"skip_preflight_checks: got \['ecr'\]; allowed: any of"):
        DatabricksCreateClusterOperator(task_id="t", skip_preflight_checks=["ecr"])
    with pytest.raises(ValueError, match=r"skip_preflight_checks: got \[''\]"):
        DatabricksCreateClusterOperator(task_id="t", skip_preflight_checks="")
