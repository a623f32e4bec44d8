"""The Clusters page's FastAPI app, mounted in Airflow's API server by the plugin (``fleet/plugin.py``).

``GET /`` is the page (``fleet/page_html.py``); ``GET /api/clusters`` one page of the table's rows (query
parameters: ``fleet.table.PARAMETERS``); ``GET /api/clusters/{conn_id}/{cluster_id}`` an opened row's
detail (its events: ``fleet.row_detail``); ``POST /api/clusters/{conn_id}/{cluster_id}/terminate`` the
terminate action. Every endpoint goes
through Airflow's auth manager as the caller (the UI's session cookie, or a bearer token): a user sees
the clusters of the DAGs they may read and terminates those of the DAGs they may edit. The browser gets
only the fields of ``fleet.rows.FleetRow`` and of ``fleet.row_detail``: no token, no spec, nothing under a
secret key.

Settings (``airflow.cfg`` or ``AIRFLOW__DATABRICKS_CLUSTERS__*``): ``[databricks_clusters] conn_ids``, the
``databricks`` connections whose workspaces the page shows (comma-separated, default
``databricks_default``), and ``cache_seconds``, how long one read of a workspace serves every page
(default 15).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from airflow_databricks_clusters import CONFIG_DEFAULTS, CONFIG_SECTION
from airflow_databricks_clusters.errors import ClusterNotFound, DatabricksClustersError
from airflow_databricks_clusters.fleet.page_html import PAGE
from airflow_databricks_clusters.fleet.reader import FleetReader
from airflow_databricks_clusters.fleet.row_detail import row_detail
from airflow_databricks_clusters.fleet.rows import fleet_rows, task_instances, with_task_states
from airflow_databricks_clusters.fleet.sweep_policy import Lookup, TaskInstanceRef, identify
from airflow_databricks_clusters.fleet.table import TableQuery, parse_query, select
from airflow_databricks_clusters.wait.states import LIVE_STATES

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

log = logging.getLogger(__name__)

Lookups = Callable[[Collection[TaskInstanceRef]], dict[TaskInstanceRef, Lookup]]


def configured_conn_ids() -> list[str]:
    from airflow.configuration import conf

    fallback = CONFIG_DEFAULTS["conn_ids"]
    text = conf.get(CONFIG_SECTION, "conn_ids", fallback=fallback) or ""
    return [name.strip() for name in text.split(",") if name.strip()] or [fallback]


def configured_cache_seconds() -> float:
    from airflow.configuration import conf

    return conf.getfloat(CONFIG_SECTION, "cache_seconds", fallback=float(CONFIG_DEFAULTS["cache_seconds"]))


def metadata_lookups(refs: Collection[TaskInstanceRef]) -> dict[TaskInstanceRef, Lookup]:
    """The task instances' states from Airflow's metadata database (the API server's own)."""
    from airflow.utils.session import create_session

    from airflow_databricks_clusters.fleet.task_instances import read_lookups

    if not refs:
        return {}
    with create_session() as session:
        return read_lookups(refs, session)


def _authorized(user: BaseUser, dag_ids: Iterable[str], method: str) -> set[str]:
    """The DAG ids among ``dag_ids`` the user may ``method`` (GET: read, PUT: edit), asked of the auth
    manager per team when the deployment runs teams, as Airflow's own DAG endpoints ask."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.configuration import conf

    wanted = set(dag_ids)
    if not wanted:
        return set()
    by_team: dict[str | None, set[str]] = {None: wanted}
    if conf.getboolean("core", "multi_team", fallback=False):
        from airflow.models.dag import DagModel

        teams = DagModel.get_dag_id_to_team_name_mapping(sorted(wanted))
        by_team = defaultdict(set)
        for dag_id in wanted:
            by_team[teams.get(dag_id)].add(dag_id)
    manager = get_auth_manager()
    found: set[str] = set()
    for team, ids in by_team.items():
        found |= manager.filter_authorized_dag_ids(dag_ids=ids, user=user, method=method, team_name=team)  # type: ignore[arg-type]
    return found


def _read_safely(
    read_lookups: Lookups, refs: Collection[TaskInstanceRef]
) -> tuple[dict[TaskInstanceRef, Lookup], str | None]:
    if not refs:
        return {}, None
    try:
        return read_lookups(refs), None
    except Exception as err:
        # Rows still show; none is called orphaned on what could not be read.
        log.warning("Could not read task instance states for the Clusters page: %s", err)
        return {}, f"task instance states could not be read: {type(err).__name__}"


def table_answer(
    fleet: FleetReader,
    query: TableQuery,
    read_lookups: Lookups,
    authorized: Callable[[Collection[str], str], set[str]],
) -> dict[str, Any]:
    """The ``/api/clusters`` answer: one page of the rows the user may read (``authorized(dag_ids,
    method)``: those of ``dag_ids`` the user may GET or PUT), and what the page's controls show.

    Task instances are read for the live clusters (the orphan rule needs them, across all pages), then for
    the ended rows of the page shown; no more, whatever the fleet's size.
    """
    snapshots = fleet.snapshots(fleet.conn_ids)
    live_refs = {
        ref
        for s in snapshots
        for ref in task_instances((c for c in s.clusters if c.get("state") in LIVE_STATES), s.owner)
    }
    found, lookup_error = _read_safely(read_lookups, live_refs)
    now = time.time()
    rows = [
        row
        for s in snapshots
        for row in fleet_rows(
            s.conn_id, s.clusters, owner=s.owner, lookups=found, now=now, cluster_url=s.cluster_url
        )
    ]
    readable = authorized({row.dag_id for row in rows}, "GET")
    table = select([row for row in rows if row.dag_id in readable], query)
    ended = {row.task_instance for row in table.rows if not row.live}
    more, more_error = _read_safely(read_lookups, ended)
    shown = with_task_states(table.rows, more)
    editable = authorized({row.dag_id for row in shown if row.live}, "PUT")
    return {
        "clusters": [row.as_json(can_terminate=row.dag_id in editable) for row in shown],
        "matching": table.matching,
        "page": table.page,
        "pages": table.pages,
        "per_page": table.per_page,
        "counts": table.counts,
        "dag_ids": table.dag_ids,
        "states": table.states,
        "conn_ids": list(fleet.conn_ids),
        "workspaces": [
            {"conn_id": s.conn_id, "error": s.error, "read_at": s.read_at_epoch, "complete": s.complete}
            for s in snapshots
        ],
        "lookup_error": lookup_error or more_error,
        "cache_seconds": fleet.max_age_seconds,
    }


def create_app(reader: FleetReader | None = None, lookups: Lookups | None = None) -> FastAPI:
    """The app; ``reader`` and ``lookups`` default to the configured workspaces and the metadata DB."""
    fleet = reader or FleetReader(configured_conn_ids(), max_age_seconds=configured_cache_seconds())
    read_lookups = lookups or metadata_lookups
    app = FastAPI(title="Databricks clusters", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        # The page holds no data; its script reads /api/clusters as the logged-in user.
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})

    @app.get("/api/clusters")
    def clusters(request: Request, user: GetUserDep) -> dict[str, Any]:
        try:
            query = parse_query(dict(request.query_params), fleet.conn_ids)
        except ValueError as err:
            raise HTTPException(400, str(err)) from None
        return table_answer(fleet, query, read_lookups, lambda ids, method: _authorized(user, ids, method))

    @app.get("/api/clusters/{conn_id}/{cluster_id}")
    def detail(conn_id: str, cluster_id: str, user: GetUserDep) -> dict[str, Any]:
        # An opened row: the one request for the cluster's events (its row came from the snapshot).
        if conn_id not in fleet.conn_ids:
            raise HTTPException(404, f"Connection {conn_id} is not one the Clusters page shows.")
        snapshot = fleet.snapshot(conn_id)
        cluster = snapshot.cluster(cluster_id)
        ref = identify(cluster, owner=snapshot.owner) if cluster is not None else None
        if (
            cluster is None
            or not isinstance(ref, TaskInstanceRef)
            or not _authorized(user, [ref.dag_id], "GET")
        ):
            raise HTTPException(404, f"Cluster {cluster_id} is not a cluster of this plugin you can see.")
        try:
            events = fleet.events(conn_id, cluster)
        except DatabricksClustersError as err:
            raise HTTPException(
                502, f"The events of {cluster_id} could not be read: {type(err).__name__}: {err}"
            ) from None
        return row_detail(cluster, events)

    @app.post("/api/clusters/{conn_id}/{cluster_id}/terminate")
    def terminate(conn_id: str, cluster_id: str, request: Request, user: GetUserDep) -> dict[str, Any]:
        # A cross-site form cannot send JSON without a CORS preflight, which only the origins the
        # deployment allows (``[api] access_control_allow_origins``) pass: the session cookie alone cannot
        # make a page elsewhere terminate a cluster.
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "Send the terminate request as application/json.")
        if conn_id not in fleet.conn_ids:
            raise HTTPException(404, f"Connection {conn_id} is not one the Clusters page shows.")
        hook = fleet.hook(conn_id)
        try:
            owner = str(hook.current_user().get("userName") or "")
            cluster = hook.get_cluster(cluster_id)
            ref = identify(cluster, owner=owner)
            # A cluster the user may not read is answered as one that does not exist.
            if not isinstance(ref, TaskInstanceRef) or not _authorized(user, [ref.dag_id], "GET"):
                raise HTTPException(404, f"Cluster {cluster_id} is not a cluster of this plugin you can see.")
            if not _authorized(user, [ref.dag_id], "PUT"):
                raise HTTPException(403, f"You may not edit DAG {ref.dag_id}, so not terminate its clusters.")
            state = str(cluster.get("state"))
            if state in LIVE_STATES:
                hook.terminate_cluster(cluster_id)
                state = "TERMINATING"
                log.info(
                    "Cluster %s of %s terminated from the Clusters page by %s",
                    cluster_id,
                    ref,
                    user.get_name(),
                )
        except ClusterNotFound:
            raise HTTPException(404, f"Cluster {cluster_id} does not exist in {conn_id}.") from None
        except DatabricksClustersError as err:
            raise HTTPException(
                502, f"The workspace of {conn_id} refused: {type(err).__name__}: {err}"
            ) from None
        finally:
            hook.close()
        fleet.invalidate(conn_id)
        return {"cluster_id": cluster_id, "state": state}

    return app
