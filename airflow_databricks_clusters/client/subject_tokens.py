"""The subject token of an OIDC token federation (``client/federation.py``): obtained fresh for each
exchange, never cached, never logged, never written anywhere.

Blocking I/O (a file, AWS STS, or the user's callable): the async hook runs it in a thread, so that the
triggerer's event loop never waits on it.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from airflow_databricks_clusters.client.answers import shown
from airflow_databricks_clusters.client.federation import K8S_SERVICE_ACCOUNT, Federation
from airflow_databricks_clusters.client.retry import Answer
from airflow_databricks_clusters.client.transport import send_sync, sync_session
from airflow_databricks_clusters.errors import DatabricksClustersError

#: The API server as the provider names it; in a pod, the environment names its address (as client-go's
#: in-cluster configuration reads it), which is the same server.
K8S_API_SERVER = "https://kubernetes.default.svc"
K8S_TIMEOUT_SECONDS = 30.0


class SubjectTokenUnavailable(DatabricksClustersError):
    """The subject token could not be obtained; nothing was sent to the workspace."""


def subject_token(federation: Federation) -> str:
    """The OIDC token to exchange, from the federation's source."""
    if federation.source == "token_provider":
        return _supplied(str(federation.token_provider))
    if federation.source == "aws":
        return _aws(federation)
    if federation.source == "k8s_token_request":
        return _token_request(federation)
    return _read(
        str(federation.k8s_token_path), "token file",
        "the pod needs a projected serviceAccountToken volume mounted there",
    )  # fmt: skip


def _non_empty(token: object, origin: str) -> str:
    if not isinstance(token, str) or not token.strip():
        raise SubjectTokenUnavailable(f"{origin} gave no token (it must return a non-empty text)")
    return token.strip()


def _supplied(path: str) -> str:
    module_name, _, attribute = path.rpartition(".")
    try:
        provider = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise SubjectTokenUnavailable(
            f"federated_token_provider {path}: cannot import it ({type(err).__name__}: {err})"
        ) from err
    if not callable(provider):
        raise SubjectTokenUnavailable(f"federated_token_provider {path} is not callable")
    return _non_empty(provider(), f"federated_token_provider {path}")


def _aws(federation: Federation) -> str:
    try:
        from airflow.providers.amazon.aws.hooks.sts import StsHook
    except ImportError as err:
        raise SubjectTokenUnavailable(
            "federated_aws needs the amazon provider: pip install 'airflow-databricks-clusters[amazon]'"
        ) from err
    client = StsHook(aws_conn_id=federation.aws_conn_id).get_conn()
    if not hasattr(client, "get_web_identity_token"):
        raise SubjectTokenUnavailable(
            "federated_aws needs STS GetWebIdentityToken, which boto3 and botocore have from 1.41.0"
        )
    answer = client.get_web_identity_token(
        Audience=[federation.aws_audience],
        SigningAlgorithm="RS256",
        DurationSeconds=federation.aws_duration_seconds,
    )
    return _non_empty(answer.get("WebIdentityToken"), f"STS through the connection {federation.aws_conn_id}")


def _read(path: str, what: str, where_it_comes_from: str) -> str:
    """A file of the pod's (a token, the namespace), stripped; named with what to mount when it is missing
    or empty."""
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError as err:
        raise SubjectTokenUnavailable(f"federated_k8s: no {what} at {path}; {where_it_comes_from}") from err
    except OSError as err:
        raise SubjectTokenUnavailable(f"federated_k8s: cannot read {path} ({err.strerror})") from err
    if not text:
        raise SubjectTokenUnavailable(f"federated_k8s: the {what} {path} is empty")
    return text


def _cluster_ca(token_path: str) -> str:
    """The cluster CA: mounted beside the pod's token, else at the provider's fixed path."""
    beside, fixed = Path(token_path).with_name("ca.crt"), Path(K8S_SERVICE_ACCOUNT) / "ca.crt"
    for candidate in (beside, fixed):
        if candidate.is_file():
            return str(candidate)
    raise SubjectTokenUnavailable(
        f"federated_k8s: no cluster CA at {beside} (nor at {fixed}); a TokenRequest trusts only it"
    )


def _api_server() -> str:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return K8S_API_SERVER
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _token_request(federation: Federation) -> str:
    """A token of the namespace's ``default`` service account for the federation's audience, from the
    cluster's API server (the provider's request), trusting only the cluster's CA (``ca.crt`` beside the
    pod's token, where Kubernetes mounts both)."""
    token_path = str(federation.k8s_token_path)
    mounted = (
        "a TokenRequest needs the pod's service account mounted (or extra k8s_projected_volume_token_path)"
    )
    pod_token = _read(token_path, "service account token file", mounted)
    namespace = _read(str(federation.k8s_namespace_path), "namespace file", mounted)
    url = f"{_api_server()}/api/v1/namespaces/{namespace}/serviceaccounts/default/token"
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [federation.k8s_audience],
            "expirationSeconds": federation.k8s_expiration_seconds,
        },
    }
    with sync_session() as session:
        attempt = send_sync(
            session, "POST", url, params=None, body=body, headers={"Authorization": f"Bearer {pod_token}"},
            timeout=K8S_TIMEOUT_SECONDS, ca_file=_cluster_ca(token_path),
        )  # fmt: skip
    if not isinstance(attempt, Answer):
        raise SubjectTokenUnavailable(
            f"federated_k8s: cannot reach the Kubernetes API server at {url}: {attempt.message}"
        )
    if not 200 <= attempt.status < 300:
        raise SubjectTokenUnavailable(
            f"federated_k8s: the Kubernetes API server refused the TokenRequest at {url}: HTTP "
            f"{attempt.status} {shown(attempt.body)}"
        )
    status = attempt.body.get("status") if isinstance(attempt.body, dict) else None
    token = status.get("token") if isinstance(status, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise SubjectTokenUnavailable(
            f"federated_k8s: the TokenRequest at {url} was answered without status.token"
        )
    return token.strip()
