"""The Clusters page's FastAPI app, mounted in Airflow's API server by the plugin (``fleet/plugin.py``).

``GET /`` is the page (``fleet/page_html.py``); ``GET /api/clusters`` the table's rows;
``POST /api/clusters/{conn_id}/{cluster_id}/terminate`` the terminate action. Every endpoint goes
through Airflow's auth manager as the caller (the UI's session cookie, or a bearer token): a user sees
the clusters of the DAGs they may read and terminates those of the DAGs they may edit. The browser gets
only the fields of ``fleet.rows.FleetRow``: no token, no spec, nothing under a secret key.

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

from airflow_databricks_clusters.errors import ClusterNotFound, DatabricksClustersError
from airflow_databricks_clusters.fleet.page_html import PAGE
from airflow_databricks_clusters.fleet.reader import FleetReader
from airflow_databricks_clusters.fleet.rows import FleetRow, fleet_rows, task_instances
from airflow_databricks_clusters.fleet.sweep_policy import Lookup, TaskInstanceRef, identify
from airflow_databricks_clusters.wait.states import LIVE_STATES

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

log = logging.getLogger(__name__)

DEFAULT_CACHE_SECONDS = 15.0

Lookups = Callable[[Collection[TaskInstanceRef]], dict[TaskInstanceRef, Lookup]]


def configured_conn_ids() -> list[str]:
    from airflow.configuration import conf

    text = conf.get("databricks_clusters", "conn_ids", fallback="databricks_default") or ""
    return [name.strip() for name in text.split(",") if name.strip()] or ["databricks_default"]


def configured_cache_seconds() -> float:
    from airflow.configuration import conf

    return conf.getfloat("databricks_clusters", "cache_seconds", fallback=DEFAULT_CACHE_SECONDS)


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
    def clusters(user: GetUserDep) -> dict[str, Any]:
        snapshots = [fleet.snapshot(conn_id) for conn_id in fleet.conn_ids]
        refs = {ref for s in snapshots for ref in task_instances(s.clusters, s.owner)}
        try:
            found = read_lookups(refs)
            lookup_error = None
        except Exception as err:
            # Rows still show; none is called orphaned on what could not be read.
            log.warning("Could not read task instance states for the Clusters page: %s", err)
            found, lookup_error = {}, f"task instance states could not be read: {type(err).__name__}"
        now = time.time()
        rows: list[FleetRow] = []
        for snapshot in snapshots:
            rows += fleet_rows(
                snapshot.conn_id,
                snapshot.clusters,
                owner=snapshot.owner,
                lookups=found,
                events=snapshot.events,
                now=now,
                cluster_url=snapshot.cluster_url,
            )
        readable = _authorized(user, {row.dag_id for row in rows}, "GET")
        editable = _authorized(user, {row.dag_id for row in rows if row.live} & readable, "PUT")
        return {
            "clusters": [
                row.as_json(can_terminate=row.dag_id in editable) for row in rows if row.dag_id in readable
            ],
            "workspaces": [
                {"conn_id": s.conn_id, "error": s.error, "read_at": s.read_at_epoch} for s in snapshots
            ],
            "lookup_error": lookup_error,
            "cache_seconds": fleet.max_age_seconds,
        }

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
