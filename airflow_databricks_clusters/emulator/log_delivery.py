"""Cluster log delivery: write a cluster's log files where its ``cluster_log_conf`` sends them.

Databricks puts them under ``<destination>/<cluster_id>/``. ``S3LogDelivery`` does that for an ``s3``
destination on any S3 API (moto's server in the tests, MinIO, LocalStack); ``dbfs_log_delivery.py`` for a
``dbfs`` one, in the workspace's own DBFS; ``volumes`` destinations have no storage behind the emulator,
so nothing is written for them. ``LogDestinations`` hands each delivery to the one for its kind. A failed
write is a warning, never an API error: log delivery does not decide what a client of the workspace sees.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

# moto and local S3 servers accept any credentials; these keep boto3 from looking for real ones.
DUMMY_CREDENTIALS = {"aws_access_key_id": "emulator", "aws_secret_access_key": "emulator"}


class LogDelivery(Protocol):
    """Where the workspace hands a cluster's log files, synchronously, at the transition that made them."""

    def deliver(self, log_conf: Mapping[str, Any], cluster_id: str, files: Mapping[str, str]) -> None:
        """Write ``files`` (path under ``<destination>/<cluster_id>/`` -> text) to ``log_conf``."""


class LogDestinations:
    """The delivery for each kind of destination (``s3``, ``dbfs``); a kind with none writes nothing."""

    def __init__(self, **deliveries: LogDelivery | None) -> None:
        self.deliveries = {kind: delivery for kind, delivery in deliveries.items() if delivery is not None}

    def deliver(self, log_conf: Mapping[str, Any], cluster_id: str, files: Mapping[str, str]) -> None:
        for kind, delivery in self.deliveries.items():
            if log_conf.get(kind):
                delivery.deliver(log_conf, cluster_id, files)


def s3_location(destination: str, cluster_id: str, path: str) -> tuple[str, str]:
    """``s3://bucket/prefix``, a cluster id and a path under it -> (bucket, key); ValueError if not s3."""
    parts = urlsplit(destination)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix destination: {destination!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, "/".join(part for part in (prefix, cluster_id, path) if part)


class S3LogDelivery:
    """Puts log files with boto3 on the S3 API at ``endpoint_url``, whatever endpoint the conf names.

    The client's region is the destination's ``region`` (``default_region`` when it only names an
    ``endpoint``). Credentials come from the environment when ``AWS_ACCESS_KEY_ID`` is set, else dummy
    ones. ``enable_encryption``, ``kms_key`` and ``canned_acl`` are not applied.
    """

    def __init__(self, endpoint_url: str, *, default_region: str) -> None:
        # Only a workspace that delivers logs needs boto3 (a test dependency, not one of the plugin's).
        import boto3

        self.endpoint_url = endpoint_url
        self.default_region = default_region
        credentials = {} if os.environ.get("AWS_ACCESS_KEY_ID") else DUMMY_CREDENTIALS
        self._session = boto3.session.Session(**credentials)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        from botocore.config import Config

        with self._lock:
            if region not in self._clients:
                # One attempt and short timeouts: the API answers while a delivery runs, so a dead
                # endpoint must fail fast instead of riding out botocore's retries.
                config = Config(
                    retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=2,
                    read_timeout=10,
                    s3={"addressing_style": "path"},
                )
                self._clients[region] = self._session.client(
                    "s3", endpoint_url=self.endpoint_url, region_name=region, config=config
                )
            return self._clients[region]

    def deliver(self, log_conf: Mapping[str, Any], cluster_id: str, files: Mapping[str, str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        target = log_conf.get("s3")
        if not target:
            return
        destination = str(target.get("destination", ""))
        try:
            client = self._client(str(target.get("region") or self.default_region))
            for path, text in files.items():
                bucket, key = s3_location(destination, cluster_id, path)
                client.put_object(
                    Bucket=bucket, Key=key, Body=text.encode(), ContentType="text/plain; charset=utf-8"
                )
        except (ValueError, BotoCoreError, ClientError) as err:
            # One warning per delivery: the files after the failed one would fail the same way.
            logger.warning("Cluster %s: could not deliver its logs to %s: %s", cluster_id, destination, err)
