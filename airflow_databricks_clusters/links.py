"""The "Databricks Cluster" extra link: the cluster's page in the workspace UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

#: The XCom key under which every operator of this package pushes the cluster's page URL.
CLUSTER_URL_XCOM_KEY = "cluster_url"


class DatabricksClusterLink(BaseOperatorLink):
    """Links a task to the page of the cluster it created, terminated or watched.

    The URL comes from the task's ``cluster_url`` XCom, pushed as soon as the cluster id is known (before
    waiting or deferring), so the link works while the cluster is still starting. A task that ends before
    any cluster is known (a create the workspace refused, an unreachable workspace) has no link.
    """

    name = "Databricks Cluster"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        # Airflow asks every link of a task once the task ends, in the worker, with the operator that ran.
        # When that operator knows what it pushed, the XCom is not read: asking Airflow for one that was
        # never pushed logs "XCom not found" at error level, beside the task's real failure.
        known = getattr(operator, "cluster_url_pushed", None)
        if known is not None:
            return str(known)
        # The XCom backend is resolved at first use; importing it here keeps DAG parsing cheap.
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=CLUSTER_URL_XCOM_KEY)
        return str(url) if url else ""


class PushesClusterUrl:
    """What an operator with the link does with its XCom: push the URL, and know whether it did.

    ``cluster_url_pushed`` is the URL this process pushed; ``""`` while it pushed none (so there is no
    cluster to link to: this try began here); None once the task resumed after a deferral, whose first
    process may have pushed it, so the link reads the XCom.
    """

    cluster_url_pushed: str | None = ""

    def push_cluster_url(self, context: Context, url: str) -> None:
        context["ti"].xcom_push(key=CLUSTER_URL_XCOM_KEY, value=url)
        self.cluster_url_pushed = url

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        self.cluster_url_pushed = None
        return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]
