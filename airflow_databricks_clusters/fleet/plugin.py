"""The Airflow plugin: a "Databricks Clusters" page in the UI's navigation.

Registered by this package's ``airflow.plugins`` entry point, so installing the package is enough. The
page is the FastAPI app of ``fleet/page.py``, mounted in the API server at ``/databricks-clusters/``
and shown inside the UI as an external view. Every Airflow process loads plugins (a task, for their
macros), so this module imports nothing heavy: the app is built on its first request, in the API server.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/databricks-clusters"


class _AppOnFirstRequest:
    """An ASGI app that builds ``fleet.page.create_app()`` when the first request reaches it."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_databricks_clusters.fleet.page import create_app

                    self._app = create_app()
        await self._app(scope, receive, send)


class DatabricksClustersPlugin(AirflowPlugin):
    """The Clusters page: every cluster this plugin made in the connected workspace(s), with its task
    instance, state, uptime, spot and on-demand workers and termination reason, one page at a time, sorted
    and filtered (state, DAG, connection, only the orphaned ones: live, and no task will terminate them)
    in the API server; a row opens to its events (nodes lost, a spot fallback, the last events), and any
    live one can be terminated by a user who may edit its DAG. See ``fleet.page``
    for its settings and its permissions (read a DAG to see its clusters, edit it to terminate them)."""

    name = "databricks_clusters"
    # Airflow's plugin attributes are class-level lists by its design.
    fastapi_apps = [  # noqa: RUF012
        {"name": "Databricks clusters", "app": _AppOnFirstRequest(), "url_prefix": URL_PREFIX}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Databricks Clusters",
            "href": f"{URL_PREFIX}/",
            "url_route": "databricks-clusters",
            "destination": "nav",
            "category": "browse",
        }
    ]
