"""Which of the Clusters page's rows one request shows: filtered, sorted and cut into one page. Pure.

The browser gets one page of rows whatever the fleet's size; the filters (state, DAG, connection, only
orphaned), the sort and the counts work across every row the user may read. ``parse_query`` reads the
request's query parameters and refuses a bad or unknown one, naming it and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.errors import SpecProblem
from airflow_databricks_clusters.fleet.rows import FleetRow
from airflow_databricks_clusters.wait.states import LIVE_STATES

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
#: The states a cluster can be in (Databricks' ``State`` enum), and ``live`` for any of ``LIVE_STATES``.
CLUSTER_STATES = (
    "PENDING",
    "RUNNING",
    "RESTARTING",
    "RESIZING",
    "TERMINATING",
    "TERMINATED",
    "ERROR",
    "UNKNOWN",
)
STATE_FILTERS = ("live", *CLUSTER_STATES)


def _default_key(row: FleetRow) -> tuple[bool, float]:
    # Live first (what a person acts on), then the most recently started.
    return (not row.live, -(row.started_at or 0.0))


def _text(value: str | None) -> str:
    return (value or "").lower()


#: Each sort's key; rows equal under it keep the default order.
SORTS: dict[str, Callable[[FleetRow], Any]] = {
    "default": _default_key,
    "cluster": lambda row: (_text(row.cluster_name), row.cluster_id),
    "state": lambda row: (
        CLUSTER_STATES.index(row.state) if row.state in CLUSTER_STATES else len(CLUSTER_STATES)
    ),
    "dag": lambda row: row.dag_id,
    "run": lambda row: row.run_id,
    "task": lambda row: (row.task_id, row.map_index),
    "uptime": lambda row: row.uptime_seconds if row.uptime_seconds is not None else -1.0,
    "started": lambda row: row.started_at or 0.0,
}
PARAMETERS = ("page", "per_page", "sort", "order", "state", "dag_id", "conn_id", "orphaned")


@dataclass(frozen=True)
class TableQuery:
    """One request's view of the table: its page (from 1), page size, sort, and filters (None: any)."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: str = "default"
    descending: bool = False
    state: str | None = None
    dag_id: str | None = None
    conn_id: str | None = None
    only_orphaned: bool = False

    def matches(self, row: FleetRow) -> bool:
        if self.state == "live" and not row.live:
            return False
        if self.state not in (None, "live") and row.state != self.state:
            return False
        if self.dag_id is not None and row.dag_id != self.dag_id:
            return False
        if self.conn_id is not None and row.conn_id != self.conn_id:
            return False
        return row.orphaned or not self.only_orphaned


def parse_query(params: Mapping[str, str], conn_ids: Collection[str]) -> TableQuery:
    """The ``TableQuery`` of a request's query parameters; raise ``ValueError`` naming every bad one."""
    problems = [
        SpecProblem(name, params[name], f"one of {', '.join(PARAMETERS)}")
        for name in params
        if name not in PARAMETERS
    ]
    page = _whole(params.get("page"), 1)
    if page is None or page < 1:
        problems.append(SpecProblem("page", params.get("page"), "a whole number from 1"))
    per_page = _whole(params.get("per_page"), DEFAULT_PER_PAGE)
    if per_page is None or not 1 <= per_page <= MAX_PER_PAGE:
        problems.append(
            SpecProblem("per_page", params.get("per_page"), f"a whole number from 1 to {MAX_PER_PAGE}")
        )
    sort = params.get("sort") or "default"
    if sort not in SORTS:
        problems.append(SpecProblem("sort", sort, f"one of {', '.join(SORTS)}"))
    order = params.get("order") or "asc"
    if order not in ("asc", "desc"):
        problems.append(SpecProblem("order", order, "asc or desc"))
    state = params.get("state") or None
    if state is not None and state not in STATE_FILTERS:
        problems.append(SpecProblem("state", state, f"one of {', '.join(STATE_FILTERS)}"))
    conn_id = params.get("conn_id") or None
    if conn_id is not None and conn_id not in conn_ids:
        problems.append(
            SpecProblem("conn_id", conn_id, f"one of the page's connections: {', '.join(conn_ids)}")
        )
    orphaned = (params.get("orphaned") or "false").lower()
    if orphaned not in ("true", "false"):
        problems.append(SpecProblem("orphaned", params.get("orphaned"), "true or false"))
    if problems:
        raise ValueError("Invalid Clusters page query:\n" + "\n".join(f"  - {p}" for p in problems))
    assert page is not None and per_page is not None
    return TableQuery(
        page=page,
        per_page=per_page,
        sort=sort,
        descending=order == "desc",
        state=state,
        dag_id=params.get("dag_id") or None,
        conn_id=conn_id,
        only_orphaned=orphaned == "true",
    )


def _whole(text: str | None, default: int) -> int | None:
    if text is None or text == "":
        return default
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class TablePage:
    """The rows of one page, and what the page's controls show of all the rows the user may read.

    ``matching``: rows that pass the filters (across every page). ``page``: the page shown (the last one
    when the query asked past it). ``counts``: ``clusters``, ``live`` and ``orphaned`` among all readable
    rows, filters aside. ``dag_ids``/``states``: the values the filters can take.
    """

    rows: Sequence[FleetRow]
    matching: int
    page: int
    pages: int
    per_page: int
    counts: Mapping[str, int]
    dag_ids: Sequence[str]
    states: Sequence[str]


def select(rows: Sequence[FleetRow], query: TableQuery) -> TablePage:
    """The page of ``rows`` that ``query`` asks for."""
    chosen = sorted(rows, key=_default_key)
    if query.sort != "default" or query.descending:
        chosen.sort(key=SORTS[query.sort], reverse=query.descending)
    chosen = [row for row in chosen if query.matches(row)]
    present = {row.state for row in rows}
    pages = max(math.ceil(len(chosen) / query.per_page), 1)
    page = min(query.page, pages)
    start = (page - 1) * query.per_page
    return TablePage(
        rows=chosen[start : start + query.per_page],
        matching=len(chosen),
        page=page,
        pages=pages,
        per_page=query.per_page,
        counts={
            "clusters": len(rows),
            "live": sum(1 for row in rows if row.state in LIVE_STATES),
            "orphaned": sum(1 for row in rows if row.orphaned),
        },
        dag_ids=sorted({row.dag_id for row in rows}),
        states=[state for state in CLUSTER_STATES if state in present],
    )
