"""The "Databricks Cluster" link Airflow asks for as a task ends: what the operator pushed in this process,
and the XCom only when an earlier process of the task (before a deferral) may have pushed it. Asking for an
XCom that was never pushed logs an error-level "XCom not found" in the worker, beside the real outcome."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import TaskDeferralError

from airflow_databricks_clusters.links import CLUSTER_URL_XCOM_KEY, DatabricksClusterLink
from airflow_databricks_clusters.operators import DatabricksTerminateClusterOperator

URL = "https://dbc-1.cloud.databricks.com/#setting/clusters/0101-x/configuration"


class TaskInstance:
    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture
def xcom_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The XCom keys the link reads; each read answers ``URL``."""
    from airflow.sdk.execution_time.xcom import XCom

    reads: list[str] = []

    def get_value(*, ti_key: Any, key: str) -> str:
        reads.append(key)
        return URL

    monkeypatch.setattr(XCom, "get_value", get_value)
    return reads


def terminate(cluster_id: str | None) -> DatabricksTerminateClusterOperator:
    with DAG("links", schedule=None):
        return DatabricksTerminateClusterOperator(task_id="terminate_cluster", cluster_id=cluster_id)


def link(operator: Any) -> str:
    return DatabricksClusterLink().get_link(operator, ti_key=None)  # type: ignore[arg-type]


def test_a_task_that_never_had_a_cluster_has_no_link_and_reads_no_xcom(xcom_reads: list[str]) -> None:
    operator = terminate(None)
    assert operator.execute({"ti": TaskInstance()}) is None  # type: ignore[arg-type]  # nothing to terminate
    assert link(operator) == "" and xcom_reads == []


def test_the_url_pushed_in_this_process_is_the_link(xcom_reads: list[str]) -> None:
    operator, ti = terminate("0101-x"), TaskInstance()
    operator.push_cluster_url({"ti": ti}, URL)  # type: ignore[arg-type]
    assert ti.xcoms == {CLUSTER_URL_XCOM_KEY: URL}
    assert link(operator) == URL and xcom_reads == []


def test_a_task_resumed_after_a_deferral_reads_the_xcom_its_first_process_pushed(
    xcom_reads: list[str],
) -> None:
    operator = terminate("0101-x")
    with pytest.raises(TaskDeferralError):  # the trigger failed: the task resumes only to fail
        operator.resume_execution("__fail__", {"error": "trigger crashed"}, {})  # type: ignore[arg-type]
    assert link(operator) == URL and xcom_reads == [CLUSTER_URL_XCOM_KEY]


def test_an_operator_that_is_not_this_packages_gets_the_xcom(xcom_reads: list[str]) -> None:
    assert link(object()) == URL and xcom_reads == [CLUSTER_URL_XCOM_KEY]
