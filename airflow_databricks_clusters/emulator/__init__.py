"""A local Databricks workspace on AWS: the Clusters API, one-time job runs, DBFS, SCIM Me and OAuth M2M,
and cluster log delivery to an S3 API (``Emulator(s3_endpoint_url=...)``) or to its own DBFS.

It imports nothing else of the plugin, and the plugin never imports it: tests and the demo join them.
``Emulator`` loads the HTTP server only when it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_databricks_clusters.emulator.server import Emulator

__all__ = ["Emulator"]


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from airflow_databricks_clusters.emulator.server import Emulator

        return Emulator
    raise AttributeError(name)
