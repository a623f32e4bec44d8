"""How pre-flight results are named, refused and reported (no I/O, but for one run of the checks against
the emulator, as `make demo` runs them)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from airflow_databricks_clusters.preflight.checks import (
    CHECKS,
    CheckResult,
    PreflightFailed,
    raise_on_failure,
    validate_check_names,
)
from airflow_databricks_clusters.preflight.results import CHECK_NAMES, Outcome, report_lines


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


ARN = "arn:aws:iam::123456789012:instance-profile/etl"
#: What the checks find for a spec with an instance profile and an image, without an aws_conn_id.
WITHOUT_AWS = [
    CheckResult.passed("spark_version", "spark_version 15.4.x-scala2.12 is offered by the workspace"),
    CheckResult.passed("node_types", "node_type_id r4.xlarge is offered by the workspace"),
    CheckResult.skipped("instance_profile", f"IAM instance profile of {ARN} not looked up: no aws_conn_id"),
    CheckResult.passed("instance_profile", f"{ARN} is registered in the workspace"),
    CheckResult.skipped("ecr_image", "repo:1 not looked up: no aws_conn_id given"),
]


def test_a_check_that_passed_only_in_part_is_not_reported_as_passed() -> None:
    lines = report_lines(WITHOUT_AWS)
    assert lines == [
        (Outcome.PASSED, "Pre-flight checks passed: node_types, spark_version"),
        (
            Outcome.SKIPPED,
            f"Pre-flight instance_profile skipped: IAM instance profile of {ARN} not looked up: "
            f"no aws_conn_id (passed: {ARN} is registered in the workspace)",
        ),
        (Outcome.SKIPPED, "Pre-flight ecr_image skipped: repo:1 not looked up: no aws_conn_id given"),
    ]


@pytest.mark.parametrize("order", [WITHOUT_AWS, WITHOUT_AWS[::-1]])
def test_no_check_is_named_both_passed_and_skipped_or_failed(order: list[CheckResult]) -> None:
    failing = [*order, CheckResult.failed("node_types", "driver_node_type_id 'x1' is not offered")]
    for results in (order, failing):
        lines = report_lines(results)
        (passed_line,) = [line for outcome, line in lines if outcome is Outcome.PASSED]
        passed = set(passed_line.removeprefix("Pre-flight checks passed: ").split(", "))
        others = {line.split()[1] for outcome, line in lines if outcome is not Outcome.PASSED}
        assert passed & others == set(), lines
        # Every part that did not pass has its own line.
        assert len(lines) == 1 + sum(r.outcome is not Outcome.PASSED for r in results)


def test_the_checks_run_without_aws_log_no_check_both_passed_and_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_databricks_clusters.emulator import Emulator
    from airflow_databricks_clusters.hooks import DatabricksClustersHook
    from airflow_databricks_clusters.preflight.checks import enforce_preflight

    spec = {
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "r4.xlarge",
        "aws_attributes": {
            "zone_id": "ap-southeast-1c",
            # The profile the emulated workspace has registered: its workspace part passes.
            "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/dataengineeringe2e-role",
        },
    }
    logged: list[tuple[str, str]] = []

    class Logger:
        def __getattr__(self, level: str) -> Any:
            return lambda message, *args: logged.append((level, message % args))

    with Emulator() as emu:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        enforce_preflight(
            spec,
            DatabricksClustersHook(),
            aws_conn_id=None,
            skip=(),
            logger=Logger(),
            today=date(2026, 12, 1),
        )
    (passed,) = [line for level, line in logged if line.startswith("Pre-flight checks passed:")]
    assert passed == "Pre-flight checks passed: node_types, runtime_support, spark_version, zone"
    (skipped,) = [line for level, line in logged if level == "warning"]
    assert skipped.startswith("Pre-flight instance_profile skipped: IAM instance profile of arn:")
    assert skipped.endswith("(passed: arn:aws:iam::123456789012:instance-profile/dataengineeringe2e-role "
                            "is registered in the workspace)")  # fmt: skip


def test_nothing_passed_in_full_says_none() -> None:
    assert report_lines([])[0] == (Outcome.PASSED, "Pre-flight checks passed: none")


def test_skipped_checks_do_not_fail() -> None:
    raise_on_failure([CheckResult.skipped("ecr_image", "no aws_conn_id given")])


def test_check_names_are_validated() -> None:
    assert validate_check_names(["ecr_image", "zone"]) == ("ecr_image", "zone")
    assert validate_check_names("policy") == ("policy",)
    with pytest.raises(
        ValueError, match=r"skip_preflight_checks: got \['ecr'\]; allowed: any of container_services, "
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


RUNTIME_WARNING = CheckResult.warning(
    "runtime_support", "spark_version '14.3.x-scala2.12' (Databricks Runtime 14.3) reaches its end of support"
)


def test_a_warning_is_its_own_line_and_not_a_pass() -> None:
    results = [CheckResult.passed("spark_version", "offered"), RUNTIME_WARNING]
    assert report_lines(results) == [
        (Outcome.PASSED, "Pre-flight checks passed: spark_version"),
        (Outcome.WARNING, f"Pre-flight runtime_support warning: {RUNTIME_WARNING.detail}"),
    ]
    raise_on_failure(results)  # a warning does not fail the task


def test_a_failure_lists_the_warnings_after_the_skipped_checks() -> None:
    results = [
        RUNTIME_WARNING,
        CheckResult.failed("init_scripts", "init_scripts[0] dbfs:/i.sh: ..."),
        CheckResult.skipped("ecr_image", "no aws_conn_id given"),
    ]
    with pytest.raises(PreflightFailed) as caught:
        raise_on_failure(results)
    assert str(caught.value) == (
        "Pre-flight: 1 check failed, the cluster was not created:\n"
        "  - init_scripts: init_scripts[0] dbfs:/i.sh: ...\n"
        "Skipped (not checked):\n"
        "  - ecr_image: no aws_conn_id given\n"
        "Warnings:\n"
        f"  - runtime_support: {RUNTIME_WARNING.detail}"
    )
