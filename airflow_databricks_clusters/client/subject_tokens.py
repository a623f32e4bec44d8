"""The subject token of an OIDC token federation (``client/federation.py``): obtained fresh for each
exchange, never cached, never logged, never written anywhere.

Blocking I/O (a file, AWS STS, or the user's callable): the async hook runs it in a thread, so that the
triggerer's event loop never waits on it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from airflow_databricks_clusters.client.federation import Federation
from airflow_databricks_clusters.errors import DatabricksClustersError


class SubjectTokenUnavailable(DatabricksClustersError):
    """The subject token could not be obtained; nothing was sent to the workspace."""


def subject_token(federation: Federation) -> str:
    """The OIDC token to exchange, from the federation's source."""
    if federation.source == "token_provider":
        return _supplied(str(federation.token_provider))
    if federation.source == "aws":
        return _aws(federation)
    return _projected_volume(str(federation.k8s_token_path))


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


def _projected_volume(path: str) -> str:
    try:
        text = Path(path).read_text()
    except FileNotFoundError as err:
        raise SubjectTokenUnavailable(
            f"federated_k8s: no token file at {path}; the pod needs a projected serviceAccountToken "
            "volume mounted there"
        ) from err
    except OSError as err:
        raise SubjectTokenUnavailable(f"federated_k8s: cannot read {path} ({err.strerror})") from err
    return _non_empty(text, f"the token file {path}")
