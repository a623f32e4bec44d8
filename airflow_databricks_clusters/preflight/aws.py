"""What needs AWS, through the amazon provider's hooks: ECR image auth, pre-flight lookups, S3 cluster logs.

Optional: nothing here runs unless a task names an ``aws_conn_id``, and the amazon provider (the
``amazon`` extra) is imported only when it does. Every lookup tells "missing" apart from "could not look":
a bucket that answers 404 fails a check, one that answers 403 (or an AWS that cannot be reached) skips it.
Registry passwords are masked the moment they are minted and never logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.errors import DatabricksClustersError
from airflow_databricks_clusters.preflight.results import CheckResult

_ECR_IMAGE = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)"
    r"/(?P<repository>[a-z0-9][a-z0-9._/-]*?)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
#: ClientError codes that mean "the thing is not there" (a failed check), per service.
_MISSING_CODES = frozenset(
    {"ImageNotFoundException", "RepositoryNotFoundException", "NoSuchEntity", "404", "NoSuchBucket"}
)
#: How many of a cluster's newest init-script logs, and how many lines of each log file, a report shows.
LOG_FILES_SHOWN = 4
LOG_LINES_SHOWN = 30


class AwsProblem(DatabricksClustersError, ValueError):
    """An AWS-side setting cannot work (e.g. ``docker_auth="ecr"`` for an image that is not in ECR)."""


@dataclass(frozen=True)
class EcrImage:
    """An image reference in Amazon ECR: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``."""

    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def image_id(self) -> dict[str, str]:
        """The ``imageIds`` entry ECR looks the image up by (a digest wins; no tag means ``latest``)."""
        if self.digest:
            return {"imageDigest": self.digest}
        return {"imageTag": self.tag or "latest"}

    def __str__(self) -> str:
        ref = f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}"
        return f"{self.repository}{ref} in registry {self.account} ({self.region})"


def parse_ecr_image(url: str) -> EcrImage | None:
    """The ECR parts of an image URL, or None for an image in another registry."""
    match = _ECR_IMAGE.match(url.strip())
    if match is None:
        return None
    return EcrImage(match["account"], match["region"], match["repository"], match["tag"], match["digest"])


def _client_error_code(err: Exception) -> str | None:
    response = getattr(err, "response", None)
    if isinstance(response, Mapping):
        return str((response.get("Error") or {}).get("Code") or "") or None
    return None


def _lookup(check: str, what: str, call: Any, names_it: str | None = None) -> CheckResult:
    """Run one AWS lookup: found passes, missing fails, anything that stops the lookup skips.

    ``names_it``: the key a good answer holds the thing under. An answer without it (a proxy's page that
    botocore read as an empty answer) found nothing, nor showed it missing: skipped, never passed.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = call()
    except ClientError as err:
        code = _client_error_code(err)
        if code in _MISSING_CODES:
            return CheckResult.failed(check, f"{what} does not exist ({code})")
        return CheckResult.skipped(check, f"could not look up {what}: {code or err}")
    except BotoCoreError as err:
        return CheckResult.skipped(check, f"could not reach AWS to look up {what}: {err}")
    if names_it is not None and not (isinstance(answer, Mapping) and answer.get(names_it)):
        return CheckResult.skipped(
            check, f"could not read AWS's answer to the lookup of {what}: it has no {names_it}"
        )
    return CheckResult.passed(check, f"{what} exists")


# -- ECR ---------------------------------------------------------------------------------------------------


def ecr_basic_auth(aws_conn_id: str | None, image_url: str) -> dict[str, str]:
    """Temporary ECR registry credentials for ``docker_image.basic_auth`` (valid 12 hours).

    For clusters that do not pull with their instance profile. The password is registered with Airflow's
    secret masker before it is returned.
    """
    from airflow.providers.amazon.aws.hooks.ecr import EcrHook
    from airflow.sdk.log import mask_secret

    image = parse_ecr_image(image_url)
    if image is None:
        raise AwsProblem(
            f"docker_image.url: got {image_url!r}; allowed with docker_auth='ecr': an ECR image such as "
            "123456789012.dkr.ecr.<region>.amazonaws.com/repo:tag"
        )
    hook = EcrHook(aws_conn_id=aws_conn_id, region_name=image.region)
    credentials = hook.get_temporary_credentials(registry_ids=[image.account])
    if not credentials:
        raise AwsProblem(f"ECR gave no credentials for registry {image.account} ({image.region})")
    mask_secret(credentials[0].password)
    return {"username": credentials[0].username, "password": credentials[0].password}


def spec_with_ecr_auth(spec: dict[str, Any], aws_conn_id: str | None, logger: Any) -> dict[str, Any]:
    """The spec with temporary ECR credentials in ``docker_image.basic_auth`` (``docker_auth="ecr"``)."""
    image = spec.get("docker_image") or {}
    auth = ecr_basic_auth(aws_conn_id, str(image.get("url", "")))
    logger.info("Using temporary ECR credentials for %s", image.get("url"))
    return {**spec, "docker_image": {**image, "basic_auth": auth}}


def check_ecr_image(aws_conn_id: str | None, image_url: str) -> CheckResult:
    """``ecr_image``: the image's tag or digest exists in its ECR repository."""
    from airflow.providers.amazon.aws.hooks.ecr import EcrHook

    image = parse_ecr_image(image_url)
    if image is None:
        return CheckResult.skipped("ecr_image", f"{image_url} is not in ECR; only ECR images are looked up")
    client = EcrHook(aws_conn_id=aws_conn_id, region_name=image.region).conn
    return _lookup(
        "ecr_image",
        f"image {image}",
        lambda: client.describe_images(
            registryId=image.account, repositoryName=image.repository, imageIds=[image.image_id]
        ),
        names_it="imageDetails",
    )


# -- IAM ---------------------------------------------------------------------------------------------------


def instance_profile_name(arn: str) -> str:
    """The name of an instance profile from its ARN (the last part of ``instance-profile/<path>/<name>``)."""
    return arn.rsplit("/", 1)[-1]


def check_instance_profile(aws_conn_id: str | None, arn: str) -> CheckResult:
    """``instance_profile`` (AWS side): the instance profile exists in IAM."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    client = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="iam").conn
    name = instance_profile_name(arn)
    return _lookup(
        "instance_profile",
        f"IAM instance profile {name}",
        lambda: client.get_instance_profile(InstanceProfileName=name),
        names_it="InstanceProfile",
    )


# -- S3 ----------------------------------------------------------------------------------------------------


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    rest = url.strip()[len("s3://") :] if url.strip().startswith("s3://") else url.strip()
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


def _s3_hook(aws_conn_id: str | None, region: str | None) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id, region_name=region)


def check_log_bucket(aws_conn_id: str | None, s3_conf: Mapping[str, Any]) -> CheckResult:
    """``s3_log_bucket``: the bucket of an S3 ``cluster_log_conf`` destination exists."""
    bucket, _ = split_s3_url(str(s3_conf.get("destination", "")))
    client = _s3_hook(aws_conn_id, s3_conf.get("region")).get_conn()
    return _lookup("s3_log_bucket", f"S3 bucket {bucket}", lambda: client.head_bucket(Bucket=bucket))


@dataclass(frozen=True)
class LogTail:
    """The last lines of one delivered cluster log file."""

    url: str
    lines: list[str]


def cluster_log_tails(
    aws_conn_id: str | None, cluster: Mapping[str, Any], *, driver: bool = True
) -> list[LogTail]:
    """The newest init-script logs (stderr first) and, with ``driver``, the driver's stderr and log4j tail.

    Read from the cluster's S3 ``cluster_log_conf`` (``<destination>/<cluster_id>/init_scripts/...`` and
    ``.../driver/...``, where Databricks delivers them). Empty when the cluster logs elsewhere or nothing
    was delivered. A report must not fail: a read error comes back as a one-line tail that says so.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    s3_conf = (cluster.get("cluster_log_conf") or {}).get("s3")
    cluster_id = cluster.get("cluster_id")
    if not s3_conf or not cluster_id:
        return []
    bucket, prefix = split_s3_url(str(s3_conf.get("destination", "")))
    root = f"{prefix}/{cluster_id}" if prefix else str(cluster_id)
    hook = _s3_hook(aws_conn_id, s3_conf.get("region"))
    try:
        init_logs = [
            key
            for key in hook.list_keys(bucket_name=bucket, prefix=f"{root}/init_scripts/")
            if key.endswith((".stderr.log", ".stdout.log"))
        ]
        # Names are <timestamp>_<log id>_<script>.sh.<stream>.log: the newest script run sorts last, and
        # of one run the stderr (where a failure speaks) comes first once reversed.
        newest = sorted(
            init_logs, key=lambda k: (k.rsplit("/", 1)[-1].rsplit(".", 2)[0], k.endswith("err.log"))
        )
        keys = list(reversed(newest[-LOG_FILES_SHOWN:]))
        if driver:
            present = set(hook.list_keys(bucket_name=bucket, prefix=f"{root}/driver/"))
            keys += [k for k in (f"{root}/driver/stderr", f"{root}/driver/log4j-active.log") if k in present]
        return [
            LogTail(f"s3://{bucket}/{key}", hook.read_key(key, bucket).splitlines()[-LOG_LINES_SHOWN:])
            for key in keys
        ]
    except (ClientError, BotoCoreError) as err:
        return [LogTail(f"s3://{bucket}/{root}/", [f"(could not read the cluster logs: {err})"])]
