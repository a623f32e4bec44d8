"""Pre-flight checks: what would make a cluster fail late and expensively, looked up before the create call.

The first checks read the spec alone, and the date (``spec_rules.py`` and ``runtimes.py`` beside this: what
Databricks Container Services cannot run, init scripts on DBFS, a runtime past or near its end of support).
The others look one thing up in the workspace (through ``DatabricksClustersHook``: runtimes, node types and
the sizes of flexible node types' alternates, zones, registered instance profiles, pools, policies) or, given
an ``aws_conn_id``, in AWS (``aws.py`` beside it: the image in ECR, the instance profile in IAM, the log
bucket in S3). Each ends passed, failed, skipped or, for what is not wrong yet but soon will be, warning;
skipped means it could not run (no ``aws_conn_id``, no permission, AWS unreachable) and is never counted as
passed. A lookup whose answer cannot be read (an HTML page, a truncated body, items without the field that
names them, no node types at all) also skips its check, naming the endpoint and what was wrong: an answer
nobody can read says nothing about the spec, so it never fails one. Checks that do not apply to the spec (no
image, no instance profile, ...) report nothing. Every failure is reported together in one
``PreflightFailed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.client.answers import SHOWN_BYTES, shown
from airflow_databricks_clusters.errors import ApiError, PermissionDenied
from airflow_databricks_clusters.preflight.results import (
    CheckResult,
    Outcome,
    PreflightFailed,
    raise_on_failure,
    report_lines,
    validate_check_names,
)
from airflow_databricks_clusters.preflight.runtimes import runtime_result, support_result
from airflow_databricks_clusters.preflight.spec_rules import (
    alternate_sizes,
    container_services_results,
    init_scripts_results,
    node_types_of,
)
from airflow_databricks_clusters.redaction import redact

__all__ = [
    "CHECKS",
    "CheckContext",
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
    from airflow_databricks_clusters.wait.lifecycle import Logger


@dataclass(frozen=True)
class CheckContext:
    """What a check may consult beside the spec: the workspace, the AWS connection, and the day it runs
    (a runtime's end of support is told by it; a test passes its own)."""

    hook: DatabricksClustersHook
    aws_conn_id: str | None
    today: date


Check = Callable[[Mapping[str, Any], CheckContext], list[CheckResult]]
NO_AWS = "no aws_conn_id given"


@dataclass(frozen=True)
class Listing:
    """A workspace catalogue a check reads: what it lists, its endpoint, the field naming each item, and
    whether a workspace always lists some (runtimes, node types, zones: none at all is a broken answer)."""

    what: str
    endpoint: str
    key: str
    always_some: bool = False


RUNTIMES = Listing("runtimes", "clusters/spark-versions", "key", always_some=True)
NODE_TYPES = Listing("node types", "clusters/list-node-types", "node_type_id", always_some=True)
ZONES = Listing("availability zones", "clusters/list-zones", "zone", always_some=True)
INSTANCE_PROFILES = Listing("instance profiles", "instance-profiles/list", "instance_profile_arn")
INSTANCE_POOLS = Listing("instance pools", "instance-pools/list", "instance_pool_id")
POLICIES = Listing("cluster policies", "policies/clusters/list", "policy_id")


class Unreadable(Exception):
    """A listing came back, but not in a shape a check can read; the message says how."""


def _listed(
    check: str, listing: Listing, fetch: Callable[[], Iterable[Mapping[str, Any]]]
) -> tuple[dict[str, Mapping[str, Any]], None] | tuple[None, CheckResult]:
    """What the workspace lists, by name (``listing.key``) in its order, or the skipped result that says
    why it could not be read."""
    try:
        items = list(fetch())
    except PermissionDenied as err:
        return None, CheckResult.skipped(check, f"no permission to list {listing.what}: {err.message}")
    except ApiError as err:
        # MalformedAnswer among them: the hook names the endpoint, the status and the body's start.
        return None, CheckResult.skipped(check, f"could not list {listing.what}: {err}")
    except Unreadable as err:
        return None, _unreadable(check, listing, str(err))
    names: dict[str, Mapping[str, Any]] = {}
    for item in items:
        name = item.get(listing.key)
        if not isinstance(name, str) or not name:
            # Matching against items that name nothing would call every value "not offered".
            return None, _unreadable(check, listing, f'an item with no "{listing.key}": {shown(item)}')
        names.setdefault(name, item)
    if listing.always_some and not names:
        return None, _unreadable(check, listing, f"no {listing.what} (a workspace always offers some)")
    return names, None


def _unreadable(check: str, listing: Listing, what_came: str) -> CheckResult:
    return CheckResult.skipped(
        check, f"could not list {listing.what}: {listing.endpoint} answered {what_came}"
    )


def _offered(check: str, field: str, value: str, offered: Iterable[str], where: str) -> CheckResult:
    # Imported here: only a value that is not offered needs it (the operators import this module when a
    # create runs, not at DAG parse time; the check names they read at parse come from results.py).
    import difflib

    offered = sorted(offered)
    if value in offered:
        return CheckResult.passed(check, f"{field} {value} is offered by the workspace")
    close = difflib.get_close_matches(value, offered, n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else f"; see {where}"
    return CheckResult.failed(check, f"{field} {value!r} is not offered by the workspace{hint}")


def _offers(
    check: str, given: Mapping[str, Any], listing: Listing, fetch: Callable[[], Iterable[Mapping[str, Any]]]
) -> list[CheckResult]:
    """One result per given field: is its value among what ``fetch`` lists?"""
    results, _ = _offers_and_listing(check, given, listing, fetch)
    return results


def _offers_and_listing(
    check: str, given: Mapping[str, Any], listing: Listing, fetch: Callable[[], Iterable[Mapping[str, Any]]]
) -> tuple[list[CheckResult], Mapping[str, Mapping[str, Any]]]:
    """``_offers``, and what the workspace listed (empty when nothing was given or it could not be read)."""
    given = {name: value for name, value in given.items() if value}
    if not given:
        return [], {}
    offered, skipped = _listed(check, listing, fetch)
    if skipped:
        return [skipped], {}
    offered = offered or {}
    return [
        _offered(check, name, str(value), offered, listing.endpoint) for name, value in given.items()
    ], offered


# -- what the spec alone says (no lookup) ------------------------------------------------------------------


def check_container_services(spec: Mapping[str, Any], _: CheckContext) -> list[CheckResult]:
    return container_services_results(spec)


def check_init_scripts(spec: Mapping[str, Any], _: CheckContext) -> list[CheckResult]:
    return init_scripts_results(spec)


def check_runtime_support(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    given = spec.get("spark_version")
    found = support_result(str(given), ctx.today) if given else None
    return [found] if found else []


# -- lookups in the workspace ------------------------------------------------------------------------------


def check_spark_version(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    given = spec.get("spark_version")
    if not given:
        return []
    offered, skipped = _listed("spark_version", RUNTIMES, ctx.hook.spark_versions)
    if skipped:
        return [skipped]
    return [runtime_result(str(given), offered or {})]


def check_node_types(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    """Every node type the spec names is offered, the flexible node types' alternates too, and each
    alternate has the size of the node type it stands in for (``spec_rules.alternate_sizes``)."""
    given = dict(node_types_of(spec))
    results, offered = _offers_and_listing("node_types", given, NODE_TYPES, ctx.hook.node_types)
    return results + alternate_sizes(spec, offered)


def check_zone(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    zone = (spec.get("aws_attributes") or {}).get("zone_id")
    given = {"aws_attributes.zone_id": None if zone == "auto" else zone}

    def zones() -> list[dict[str, Any]]:
        names = ctx.hook.zones().get("zones", [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise Unreadable(f'"zones" that is not a list of names: {shown(names)}')
        return [{"zone": name} for name in names]

    return _offers("zone", given, ZONES, zones)


def _in_aws(
    check: str, what: str, aws_conn_id: str | None, look: Callable[[Any], CheckResult]
) -> CheckResult:
    """``look(aws)`` with the AWS module loaded, or skipped when the task names no AWS connection."""
    if aws_conn_id is None:
        return CheckResult.skipped(check, f"{what} not looked up: {NO_AWS}")
    from airflow_databricks_clusters.preflight import aws

    try:
        return look(aws)
    except ImportError:
        raise  # the amazon extra is missing: a setup error to fix, not a lookup to skip
    except Exception as err:
        # aws.py makes every answer it can read passed, failed or skipped; what escapes it is one it could
        # not (botocore failing on a proxy's HTML page with a KeyError, say): no finding about the spec.
        reason = redact(f"{type(err).__name__}: {err}")[:SHOWN_BYTES]
        return CheckResult.skipped(check, f"could not read AWS's answer to the lookup of {what}: {reason}")


def check_instance_profile(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    aws_conn_id = ctx.aws_conn_id
    arn = (spec.get("aws_attributes") or {}).get("instance_profile_arn")
    if not arn:
        return []
    results = [
        _in_aws("instance_profile", f"IAM instance profile of {arn}", aws_conn_id,
                lambda aws: aws.check_instance_profile(aws_conn_id, str(arn)))
    ]  # fmt: skip
    profiles, skipped = _listed("instance_profile", INSTANCE_PROFILES, ctx.hook.instance_profiles)
    if skipped:
        return [*results, skipped]
    if arn in (profiles or {}):
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


def check_instance_pool(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    given = {name: spec.get(name) for name in ("instance_pool_id", "driver_instance_pool_id")}
    return _offers("instance_pool", given, INSTANCE_POOLS, ctx.hook.instance_pools)


def check_policy(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    return _offers("policy", {"policy_id": spec.get("policy_id")}, POLICIES, ctx.hook.cluster_policies)


def check_ecr_image(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    aws_conn_id = ctx.aws_conn_id
    url = (spec.get("docker_image") or {}).get("url")
    if not url:
        return []
    return [
        _in_aws("ecr_image", str(url), aws_conn_id, lambda aws: aws.check_ecr_image(aws_conn_id, str(url)))
    ]


def check_log_bucket(spec: Mapping[str, Any], ctx: CheckContext) -> list[CheckResult]:
    aws_conn_id = ctx.aws_conn_id
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
    "container_services": check_container_services,
    "init_scripts": check_init_scripts,
    "runtime_support": check_runtime_support,
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
    today: date | None = None,
) -> list[CheckResult]:
    """Run every check not in ``skip`` against a validated spec; return what each found. ``today``: the
    day the runtime's end of support is measured from (default: today in UTC)."""
    ctx = CheckContext(hook, aws_conn_id, today or datetime.now(timezone.utc).date())
    skipped = set(skip)
    results: list[CheckResult] = []
    for name, check in CHECKS.items():
        if name not in skipped:
            results += check(spec, ctx)
    return results


def enforce_preflight(
    spec: Mapping[str, Any],
    hook: DatabricksClustersHook,
    *,
    aws_conn_id: str | None,
    skip: Iterable[str],
    logger: Logger,
    today: date | None = None,
) -> None:
    """Run the checks, log one line naming those that passed in full and one for each part skipped, failed
    or warning (``report_lines``), and raise ``PreflightFailed`` listing every failure."""
    results = run_preflight(spec, hook, aws_conn_id=aws_conn_id, skip=skip, today=today)
    log_at = {
        Outcome.PASSED: logger.info,
        Outcome.SKIPPED: logger.warning,
        Outcome.WARNING: logger.warning,
        Outcome.FAILED: logger.error,
    }
    for outcome, line in report_lines(results):
        log_at[outcome]("%s", line)
    raise_on_failure(results)
