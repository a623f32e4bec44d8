"""A stand-in for the one Kubernetes API server call ``federated_k8s`` makes without a projected token:
``POST /api/v1/namespaces/<ns>/serviceaccounts/default/token`` (a TokenRequest), over TLS with a
certificate of its own CA, authenticated by the pod's service account token.

It answers as the API server does (201 and ``status.token``; 401 for an unknown bearer token, with a
``Status`` body), the token signed by a test ``OidcIssuer`` for ``system:serviceaccount:<ns>:default`` and
the requested audience and lifetime. No Kubernetes runs here, and the call is one request: a stand-in is
smaller than a cluster and exact about what is asked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_databricks_clusters.testing.oidc_issuer import OidcIssuer
from tests.integration.client.listeners import self_signed_certificate, tls_context
from tests.stand_in_server import StandInServer


class KubernetesApi(StandInServer):
    """The stand-in on ``127.0.0.1``; ``mount(directory)`` writes what a pod has mounted (token,
    namespace, the cluster CA) and ``environment()`` the variables a pod has."""

    def __init__(self, issuer: OidcIssuer, directory: Path, namespace: str = "airflow") -> None:
        self.cert_file, key_file = self_signed_certificate(directory)
        super().__init__(tls_context(self.cert_file, key_file))
        self.issuer, self.namespace = issuer, namespace
        self.pod_token = "pod-service-account-token"
        self.requests: list[dict[str, Any]] = []

    def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        status, answer = self.answer(path, headers.get("Authorization", ""), json.loads(body or b"{}"))
        return status, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def mount(self, directory: Path) -> Path:
        """The pod's service account mount (``token``, ``namespace``, ``ca.crt``); the token's path."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(self.pod_token)
        (directory / "namespace").write_text(self.namespace)
        (directory / "ca.crt").write_bytes(self.cert_file.read_bytes())
        return directory / "token"

    def environment(self) -> dict[str, str]:
        return {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.port),
        }

    def answer(self, path: str, authorization: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append({"path": path, "body": body})
        if authorization != f"Bearer {self.pod_token}":
            return 401, {"kind": "Status", "status": "Failure", "message": "Unauthorized", "code": 401}
        if path != f"/api/v1/namespaces/{self.namespace}/serviceaccounts/default/token":
            return 404, {"kind": "Status", "status": "Failure", "message": "the server could not find it"}
        # What an API server defaults when the request leaves them out: its own audience, an hour.
        defaults = {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600}
        spec = {**defaults, **body.get("spec", {})}
        subject = f"system:serviceaccount:{self.namespace}:default"
        token = self.issuer.token(
            subject, audience=spec["audiences"][0], lifetime_seconds=spec["expirationSeconds"]
        )
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "spec": spec,
                     "status": {"token": token, "expirationTimestamp": "2099-01-01T00:00:00Z"}}  # fmt: skip
