"""One page of the Clusters page's table (``fleet.table``): filters, sort and paging across every row."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.fleet.rows import FleetRow
from airflow_databricks_clusters.fleet.table import TableQuery, parse_query, select

NOW = 1_800_000_000.0


def row(n: int, state: str = "RUNNING", dag_id: str = "etl", **extra: Any) -> FleetRow:
    fields: dict[str, Any] = {
        "conn_id": "databricks_default",
        "cluster_id": f"c{n:04d}",
        "cluster_name": f"name-{n:04d}",
        "state": state,
        "dag_id": dag_id,
        "run_id": f"run-{n}",
        "task_id": "create",
        "map_index": -1,
        "task_state": None,
        "uptime_seconds": float(n),
        "workers_on_spot": None,
        "workers_on_demand": None,
        "fell_back": None,
        "capacity_fallback": None,
        "started_at": NOW - n,
        "termination_reason": "",
        "orphaned": False,
        "verdict": "",
        "url": "",
    }
    return FleetRow(**(fields | extra))


def ids(rows: Any) -> list[str]:
    return [r.cluster_id for r in rows]


def test_the_default_order_is_live_first_then_the_most_recently_started() -> None:
    rows = [row(5, "TERMINATED"), row(9), row(1), row(0, "TERMINATED")]
    assert ids(select(rows, TableQuery()).rows) == ["c0001", "c0009", "c0000", "c0005"]


def test_a_page_of_a_large_fleet_and_counts_across_all_of_it() -> None:
    rows = [
        row(n, "RUNNING" if n < 1000 else "TERMINATED", orphaned=n % 100 == 0 and n < 1000)
        for n in range(5000)
    ]
    first = select(rows, TableQuery(per_page=50))
    assert len(first.rows) == 50 and (first.page, first.pages, first.matching) == (1, 100, 5000)
    assert first.counts == {"clusters": 5000, "live": 1000, "orphaned": 10}
    assert ids(first.rows)[:2] == ["c0000", "c0001"]
    last = select(rows, TableQuery(page=100))
    assert ids(last.rows)[-1] == "c4999"
    # Past the last page: the last page.
    assert select(rows, TableQuery(page=500)).page == 100
    orphans = select(rows, TableQuery(only_orphaned=True, per_page=3))
    assert orphans.matching == 10 and ids(orphans.rows) == ["c0000", "c0100", "c0200"]
    assert orphans.counts["clusters"] == 5000  # the counts ignore the filters


def test_filters_by_state_dag_and_connection() -> None:
    rows = [
        row(1, dag_id="a"),
        row(2, "PENDING", dag_id="b"),
        row(3, "TERMINATED", dag_id="a"),
        row(4, dag_id="a", conn_id="other"),
    ]
    assert ids(select(rows, TableQuery(state="live")).rows) == ["c0001", "c0002", "c0004"]
    assert ids(select(rows, TableQuery(state="TERMINATED")).rows) == ["c0003"]
    assert ids(select(rows, TableQuery(dag_id="a", conn_id="databricks_default")).rows) == ["c0001", "c0003"]
    page = select(rows, TableQuery(state="ERROR"))
    assert page.rows == [] and (page.page, page.pages, page.matching) == (1, 1, 0)
    assert page.dag_ids == ["a", "b"] and page.states == ["PENDING", "RUNNING", "TERMINATED"]


def test_sorts_and_equal_keys_keep_the_default_order() -> None:
    rows = [row(3, dag_id="b"), row(1, dag_id="a"), row(2, dag_id="b"), row(4, "TERMINATED", dag_id="a")]
    assert ids(select(rows, TableQuery(sort="dag")).rows) == ["c0001", "c0004", "c0002", "c0003"]
    assert ids(select(rows, TableQuery(sort="dag", descending=True)).rows) == [
        "c0002",
        "c0003",
        "c0001",
        "c0004",
    ]
    assert ids(select(rows, TableQuery(sort="uptime", descending=True)).rows) == [
        "c0004",
        "c0003",
        "c0002",
        "c0001",
    ]
    assert ids(select(rows, TableQuery(sort="state")).rows)[-1] == "c0004"
    assert ids(select(rows, TableQuery(sort="cluster")).rows) == ["c0001", "c0002", "c0003", "c0004"]


def test_a_query_is_read_from_its_parameters() -> None:
    query = parse_query(
        {"page": "3", "per_page": "25", "sort": "uptime", "order": "desc", "state": "live", "dag_id": "etl",
         "conn_id": "b", "orphaned": "true"},
        ["a", "b"],
    )  # fmt: skip
    assert query == TableQuery(3, 25, "uptime", True, "live", "etl", "b", True)
    assert parse_query({}, ["a"]) == TableQuery()


def test_a_bad_or_unknown_parameter_is_refused_naming_it_and_what_is_allowed() -> None:
    with pytest.raises(ValueError) as refused:
        parse_query(
            {"page": "0", "per_page": "5000", "sort": "size", "order": "up", "state": "running",
             "conn_id": "x", "orphaned": "maybe", "orphan": "true"},
            ["a"],
        )  # fmt: skip
    text = str(refused.value)
    for expected in (
        "orphan: got 'true'; allowed: one of page, per_page",
        "page: got '0'; allowed: a whole number from 1",
        "per_page: got '5000'; allowed: a whole number from 1 to 200",
        "sort: got 'size'; allowed: one of default, cluster",
        "order: got 'up'; allowed: asc or desc",
        "state: got 'running'; allowed: one of live, PENDING",
        "conn_id: got 'x'; allowed: one of the page's connections: a",
        "orphaned: got 'maybe'; allowed: true or false",
    ):
        assert expected in text
