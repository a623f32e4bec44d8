"""Airflow operators, sensor and trigger for the whole life of a Databricks cluster on AWS.

Importing this package is cheap on purpose: Airflow imports it (through ``get_provider_info``) in every
process that lists providers, and DAG files import its operators at parse time.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


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
    }
