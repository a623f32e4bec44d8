"""A real Airflow auth manager that scopes users to DAGs, for the Clusters page's permission tests.

Airflow's own ``SimpleAuthManager`` grants by role for every DAG alike, so it cannot show that a user
sees only the clusters of the DAGs they may read. This subclass keeps all of its machinery (users, JWTs,
roles for everything else) and answers ``is_authorized_dag`` from a per-user table, as a deployment's
auth manager (FAB's DAG-level permissions, Keycloak) would.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

#: user -> (DAGs they may read, DAGs they may edit)
GRANTS: dict[str, tuple[set[str], set[str]]] = {
    "reader": ({"dag_a"}, set()),
    "editor": ({"dag_a"}, {"dag_a"}),
    "stranger": ({"dag_b"}, {"dag_b"}),
}


class DagScopedAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        readable, editable = GRANTS.get(user.username, (set(), set()))
        dag_id = details.id if details is not None else None
        return dag_id in (readable if method == "GET" else editable)
