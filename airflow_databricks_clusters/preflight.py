"""Pre-flight checks: what would make a cluster fail late and expensively, looked up before the create call.

A check looks one thing up in the workspace (through ``DatabricksClustersHook``: runtimes, node types,
zones, registered instance profiles, pools, policies) or, given an ``aws_conn_id``, in AWS (``aws.py``:
the image in ECR, the instance profile in IAM, the log bucket in S3). Each ends passed, failed or skipped;
skipped means it could not run (no ``aws_conn_id``, no permission, AWS unreachable) and is never counted as
passed. Checks that do not apply to the spec (no image, no instance profile, ...) report nothing. Every
failure is reported together in one ``PreflightFailed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.errors import ApiError, PermissionDenied
from airflow_databricks_clusters.preflight_results import (
    CheckResult,
    Outcome,
    PreflightFailed,
    raise_on_failure,
    validate_check_names,
)

__all__ = [
    "CHECKS",
    "CheckResult",
    "Outcome",
    "PreflightFailed",
    "enforce_preflight",
    "raise_on_failure",
    "run_preflight",
    "validate_check_names",
]

if TYPE_CHECKING:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook
    from airflow_databricks_clusters.lifecycle import Logger


Check = Callable[[Mapping[str, Any], "DatabricksClustersHook", "str | None"], list[CheckResult]]
NO_AWS = "no aws_conn_id given"


def _listed(check: str, what: str, fetch: Callable[[], Any]) -> tuple[Any, None] | tuple[None, CheckResult]:
    """A workspace listing, or the skipped result that says why it could not be read."""
    try:
        return fetch(), None
    except PermissionDenied as err:
        return None, CheckResult.skipped(check, f"no permission to list {what}: {err.message}")
    except ApiError as err:
        return None, CheckResult.skipped(check, f"could not list {what}: {err}")


def _offered(check: str, field: str, value: str, offered: Iterable[str], where: str) -> CheckResult:
    # Imported here: the operators import this module at DAG parse time, for the check names.
    import difflib

    offered = sorted(offered)
    if value in offered:
        return CheckResult.passed(check, f"{field} {value} is offered by the workspace")
    close = difflib.get_close_matches(value, offered, n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else f"; see {where}"
    return CheckResult.failed(check, f"{field} {value!r} is not offered by the workspace{hint}")


def _offers(
    check: str, given: Mapping[str, Any], what: str, fetch: Callable[[], Any], key: str, where: str
) -> list[CheckResult]:
    """One result per given field: is its value among the ``key`` of what ``fetch`` lists?"""
    given = {name: value for name, value in given.items() if value}
    if not given:
        return []
    listed, skipped = _listed(check, what, fetch)
    if skipped:
        return [skipped]
    ids = [str(item.get(key)) for item in listed or []]
    return [_offered(check, name, str(value), ids, where) for name, value in given.items()]


def check_spark_version(
    spec: Mapping[str, Any], hook: DatabricksClustersHook, _: str | None
) -> list[CheckResult]:
    given = {"spark_version": spec.get("spark_version")}
    return _offers("spark_version", given, "runtimes", hook.spark_versions, "key", "clusters/spark-versions")


def check_node_types(
    spec: Mapping[str, Any], hook: DatabricksClustersHook, _: str | None
) -> list[CheckResult]:
    given = {name: spec.get(name) for name in ("node_type_id", "driver_node_type_id")}
    return _offers(
        "node_types", given, "node types", hook.node_types, "node_type_id", "clusters/list-node-types"
    )


def check_zone(spec: Mapping[str, Any], hook: DatabricksClustersHook, _: str | None) -> list[CheckResult]:
    zone = (spec.get("aws_attributes") or {}).get("zone_id")
    given = {"aws_attributes.zone_id": None if zone == "auto" else zone}

    def zones() -> list[dict[str, str]]:
        return [{"zone": name} for name in hook.zones().get("zones") or []]

    return _offers("zone", given, "availability zones", zones, "zone", "clusters/list-zones")


def _in_aws(
    check: str, what: str, aws_conn_id: str | None, look: Callable[[Any], CheckResult]
) -> CheckResult:
    """``look(aws)`` with the AWS module loaded, or skipped when the task names no AWS connection."""
    if aws_conn_id is None:
        return CheckResult.skipped(check, f"{what} not looked up: {NO_AWS}")
    from airflow_databricks_clusters import aws

    return look(aws)


def check_instance_profile(
    spec: Mapping[str, Any], hook: DatabricksClustersHook, aws_conn_id: str | None
) -> list[CheckResult]:
    arn = (spec.get("aws_attributes") or {}).get("instance_profile_arn")
    if not arn:
        return []
    results = [
        _in_aws("instance_profile", f"IAM instance profile of {arn}", aws_conn_id,
                lambda aws: aws.check_instance_profile(aws_conn_id, str(arn)))
    ]  # fmt: skip
    profiles, skipped = _listed("instance_profile", "instance profiles", hook.instance_profiles)
    if skipped:
        return [*results, skipped]
    if arn in {p.get("instance_profile_arn") for p in profiles or []}:
        results.append(CheckResult.passed("instance_profile", f"{arn} is registered in the workspace"))
    else:
        results.append(
            CheckResult.failed(
                "instance_profile",
                f"{arn} is not registered in the workspace (or not usable by this user): an admin adds it "
                "under Settings > Security > Instance profiles",
            )
        )
    return results


def check_instance_pool(
    spec: Mapping[str, Any], hook: DatabricksClustersHook, _: str | None
) -> list[CheckResult]:
    given = {name: spec.get(name) for name in ("instance_pool_id", "driver_instance_pool_id")}
    return _offers(
        "instance_pool",
        given,
        "instance pools",
        hook.instance_pools,
        "instance_pool_id",
        "instance-pools/list",
    )


def check_policy(spec: Mapping[str, Any], hook: DatabricksClustersHook, _: str | None) -> list[CheckResult]:
    given = {"policy_id": spec.get("policy_id")}
    return _offers(
        "policy", given, "cluster policies", hook.cluster_policies, "policy_id", "policies/clusters/list"
    )


def check_ecr_image(
    spec: Mapping[str, Any], hook: DatabricksClustersHook, aws_conn_id: str | None
) -> list[CheckResult]:
    url = (spec.get("docker_image") or {}).get("url")
    if not url:
        return []
    return [
        _in_aws("ecr_image", str(url), aws_conn_id, lambda aws: aws.check_ecr_image(aws_conn_id, str(url)))
    ]


def check_log_bucket(
    spec: Mapping[str, Any], hook: DatabricksClustersHook, aws_conn_id: str | None
) -> list[CheckResult]:
    s3_conf = (spec.get("cluster_log_conf") or {}).get("s3")
    if not s3_conf:
        return []
    destination = str(s3_conf.get("destination"))
    return [
        _in_aws(
            "s3_log_bucket", destination, aws_conn_id, lambda aws: aws.check_log_bucket(aws_conn_id, s3_conf)
        )
    ]


#: Every check by the name a task uses to switch it off (``skip_preflight_checks``), in ``CHECK_NAMES``'s
#: order (a unit test holds the two together).
CHECKS: dict[str, Check] = {
    "spark_version": check_spark_version,
    "node_types": check_node_types,
    "zone": check_zone,
    "instance_profile": check_instance_profile,
    "instance_pool": check_instance_pool,
    "policy": check_policy,
    "ecr_image": check_ecr_image,
    "s3_log_bucket": check_log_bucket,
}


def run_preflight(
    spec: Mapping[str, Any],
    hook: DatabricksClustersHook,
    *,
    aws_conn_id: str | None = None,
    skip: Iterable[str] = (),
) -> list[CheckResult]:
    """Run every check not in ``skip`` against a validated spec; return what each found."""
    skipped = set(skip)
    results: list[CheckResult] = []
    for name, check in CHECKS.items():
        if name not in skipped:
            results += check(spec, hook, aws_conn_id)
    return results


def enforce_preflight(
    spec: Mapping[str, Any],
    hook: DatabricksClustersHook,
    *,
    aws_conn_id: str | None,
    skip: Iterable[str],
    logger: Logger,
) -> None:
    """Run the checks, log one line for the passed ones and one for each skipped or failed one, and raise
    ``PreflightFailed`` listing every failure."""
    results = run_preflight(spec, hook, aws_conn_id=aws_conn_id, skip=skip)
    passed = sorted({r.check for r in results if r.outcome is Outcome.PASSED})
    logger.info("Pre-flight checks passed: %s", ", ".join(passed) or "none")
    for result in results:
        if result.outcome is Outcome.FAILED:
            logger.error("Pre-flight %s", result)
        elif result.outcome is Outcome.SKIPPED:
            logger.warning("Pre-flight %s", result)
    raise_on_failure(results)
