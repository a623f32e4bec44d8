"""Reading a paged cluster list: each cluster once, whatever the pages repeated."""

from __future__ import annotations

from airflow_databricks_clusters.hooks import DatabricksClustersHook

TAGS = {"airflow_task_id": "create"}


def test_a_cluster_listed_on_two_pages_counts_once_with_its_latest_state() -> None:
    # A cluster that changed state between two pages moved in the list's order and came again.
    pages = [
        {"cluster_id": "a", "state": "RUNNING", "custom_tags": TAGS},
        {"cluster_id": "b", "state": "RUNNING", "custom_tags": {}},
        {"cluster_id": "a", "state": "TERMINATING", "custom_tags": TAGS},
    ]
    assert DatabricksClustersHook._selected(pages, None) == [pages[2], pages[1]]
    assert DatabricksClustersHook._selected(pages, TAGS) == [pages[2]]
