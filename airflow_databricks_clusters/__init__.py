"""Airflow operators, sensor and trigger for the whole life of a Databricks cluster on AWS.

Importing this package is cheap on purpose: Airflow imports it (through ``get_provider_info``) in every
process that lists providers, and DAG files import its operators at parse time.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The ``[databricks_clusters]`` options the package reads (the Clusters page's), with their defaults:
#: declared to Airflow in ``get_provider_info()["config"]``, and the fallbacks where they are read.
CONFIG_SECTION = "databricks_clusters"
CONFIG_DEFAULTS = {"conn_ids": "databricks_default", "cache_seconds": "15"}


def get_provider_info() -> dict[str, Any]:
    """Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

    The ``databricks`` connection type is the official Databricks provider's: one connection serves
    these operators and the provider's own, so this package registers no connection type of its own.
    """
    return {
        "package-name": "airflow-databricks-clusters",
        "name": "Databricks Clusters",
        "description": "Create, wait for, hand off and terminate Databricks clusters on AWS.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Databricks Clusters",
                "external-doc-url": "https://docs.databricks.com/api/aws/workspace/clusters",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Databricks Clusters",
                "python-modules": [
                    "airflow_databricks_clusters.operators",
                    "airflow_databricks_clusters.sweeper",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Databricks Clusters",
                "python-modules": ["airflow_databricks_clusters.sensors"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Databricks Clusters",
                "python-modules": ["airflow_databricks_clusters.hooks"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Databricks Clusters",
                "python-modules": ["airflow_databricks_clusters.triggers"],
            }
        ],
        "extra-links": ["airflow_databricks_clusters.links.DatabricksClusterLink"],
        "config": {
            CONFIG_SECTION: {
                "description": "The Clusters page (Browse > Databricks Clusters) in the Airflow UI.",
                "options": {
                    "conn_ids": {
                        "description": "The ``databricks`` connections whose workspaces the Clusters page "
                        "shows, comma-separated.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "databricks_default,databricks_prod",
                        "default": CONFIG_DEFAULTS["conn_ids"],
                    },
                    "cache_seconds": {
                        "description": "How long one read of a workspace's clusters serves every page of an "
                        "API server process before it is read again, in seconds.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": CONFIG_DEFAULTS["cache_seconds"],
                    },
                },
            }
        },
    }
