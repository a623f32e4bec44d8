"""The "Databricks Cluster" extra link: the cluster's page in the workspace UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: The XCom key under which every operator of this package pushes the cluster's page URL.
CLUSTER_URL_XCOM_KEY = "cluster_url"


class DatabricksClusterLink(BaseOperatorLink):
    """Links a task to the page of the cluster it created, terminated or watched.

    The URL comes from the task's ``cluster_url`` XCom, pushed as soon as the cluster id is known (before
    waiting or deferring), so the link works while the cluster is still starting.
    """

    name = "Databricks Cluster"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        # The XCom backend is resolved at first use; importing it here keeps DAG parsing cheap.
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=CLUSTER_URL_XCOM_KEY)
        return str(url) if url else ""
