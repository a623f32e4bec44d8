"""Cluster log delivery to DBFS: a ``cluster_log_conf`` of ``{"dbfs": {"destination": "dbfs:/..."}}``.

The files land in the workspace's own DBFS (``dbfs.py``) under ``<destination>/<cluster_id>/``, where the
DBFS API and its clients read them back. As for S3, a failed write (a file where a directory is needed,
the emulator's size cap) is a logged warning, never an API error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.dbfs import Dbfs, normalize

logger = logging.getLogger(__name__)


class DbfsLogDelivery:
    """Writes log files into ``dbfs``, replacing what an earlier delivery wrote at the same path."""

    def __init__(self, dbfs: Dbfs) -> None:
        self.dbfs = dbfs

    def deliver(self, log_conf: Mapping[str, Any], cluster_id: str, files: Mapping[str, str]) -> None:
        target = log_conf.get("dbfs")
        if not target:
            return
        destination = str(target.get("destination", ""))
        try:
            folder = normalize(destination, "cluster_log_conf.dbfs.destination").rstrip("/")
            for path, text in files.items():
                self.dbfs.write_file(f"{folder}/{cluster_id}/{path}", text.encode())
        except ApiError as err:
            logger.warning("Cluster %s: could not deliver its logs to %s: %s", cluster_id, destination, err)
