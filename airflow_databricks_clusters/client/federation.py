"""OIDC token federation, as the official provider reads it from a ``databricks`` connection. Pure.

No Databricks secret is stored: a short-lived OIDC token of the deployment's own identity (the *subject
token*) is exchanged at the workspace's ``/oidc/v1/token`` (RFC 8693) for a workspace token. Where the
subject token comes from is the connection's extra, in the provider's order:

- ``federated_token_provider``: the dotted path of a ``Callable[[], str]`` that returns it;
- ``federated_aws: true`` (or login ``federated_aws``): AWS STS ``GetWebIdentityToken`` signed for the
  deployment's AWS role, through the Airflow ``aws`` connection ``aws_conn_id`` (default
  ``aws_default``), for the audience ``aws_jwt_audience`` (default ``databricks``), valid
  ``aws_web_identity_token_duration`` seconds (60 to 3600, default 300);
- ``federated_k8s: true`` (or login ``federated_k8s``): a Kubernetes service account token, read from the
  projected volume file ``k8s_projected_volume_token_path`` when the extra names one; else asked of the
  cluster's API server (a TokenRequest for the namespace's ``default`` service account, authenticated
  with the pod's own token at ``k8s_token_path``, in the namespace read from ``k8s_namespace_path``, for
  ``audience`` (default ``https://kubernetes.default.svc``), valid ``expiration_seconds`` (at least 600,
  default 3600), over TLS trusting the cluster CA: the ``ca.crt`` beside the pod's token, else the one
  at the provider's fixed path).

``client_id`` (extra) names the service principal of a service-principal federation policy; without it
the exchange is for an account-wide policy. Kubernetes tokens carry no custom claims, so ``federated_k8s``
needs it, as in the provider. Obtaining the subject token is I/O: ``client/subject_tokens.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The RFC 8693 exchange, as the provider and the Databricks docs send it.
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SCOPE = "all-apis"

DEFAULT_AWS_CONN_ID = "aws_default"
DEFAULT_AWS_AUDIENCE = "databricks"
DEFAULT_AWS_DURATION_SECONDS = 300
#: What STS allows for ``GetWebIdentityToken``'s ``DurationSeconds``.
AWS_DURATION_RANGE = (60, 3600)
#: Where a pod's service account is mounted, and what the provider asks the API server for by default.
K8S_SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_K8S_AUDIENCE = "https://kubernetes.default.svc"
DEFAULT_K8S_EXPIRATION_SECONDS = 3600
#: The shortest token a Kubernetes API server issues (TokenRequest's expirationSeconds).
K8S_MIN_EXPIRATION_SECONDS = 600

_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


class FederationProblem(ValueError):
    """A federation extra that cannot be used; the text names the extra and what it allows."""


@dataclass(frozen=True)
class Federation:
    """Where the subject token comes from, and for which service principal it is exchanged."""

    #: ``token_provider``, ``aws``, ``k8s`` (a projected token file) or ``k8s_token_request`` (asked of
    #: the cluster's API server).
    source: str
    client_id: str | None = None
    token_provider: str | None = None
    aws_conn_id: str = DEFAULT_AWS_CONN_ID
    aws_audience: str = DEFAULT_AWS_AUDIENCE
    aws_duration_seconds: int = DEFAULT_AWS_DURATION_SECONDS
    #: The projected token's file (``k8s``), or the pod's own token that authenticates the TokenRequest.
    k8s_token_path: str | None = None
    k8s_namespace_path: str | None = None
    k8s_audience: str = DEFAULT_K8S_AUDIENCE
    k8s_expiration_seconds: int = DEFAULT_K8S_EXPIRATION_SECONDS

    def describe(self) -> str:
        """The form as a person reads it in a log line or an error (nothing in it is a secret)."""
        if self.source == "token_provider":
            origin = f"the token provider {self.token_provider}"
        elif self.source == "aws":
            origin = f"AWS STS through the connection {self.aws_conn_id} (audience {self.aws_audience})"
        elif self.source == "k8s":
            origin = f"the Kubernetes service account token in {self.k8s_token_path}"
        else:
            origin = f"a Kubernetes TokenRequest (audience {self.k8s_audience})"
        principal = f"service principal {self.client_id}" if self.client_id else "an account-wide policy"
        return f"OIDC token federation: {origin}, for {principal}"

    def identity(self) -> str:
        """A digest of every setting that decides which token the exchange gives: two connections alike
        share a cached token, any difference keeps them apart."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def exchange_form(self, subject_token: str) -> dict[str, str]:
        """The form of the token exchange request (no client secret: the subject token is the proof)."""
        form = {
            "grant_type": GRANT_TYPE,
            "subject_token_type": SUBJECT_TOKEN_TYPE,
            "scope": SCOPE,
            "subject_token": subject_token,
        }
        if self.client_id:
            form["client_id"] = self.client_id
        return form


def _text(extra: Mapping[str, Any], key: str, default: str | None, allowed: str) -> str | None:
    """A non-empty text, stripped; absent or JSON null is ``default`` (null is no setting, not "None")."""
    value = extra.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise FederationProblem(f"extra {key}: got {value!r}; allowed: {allowed}")
    return value.strip()


def _seconds(
    extra: Mapping[str, Any], key: str, default: int, low: int, high: int | None, allowed: str
) -> int:
    """A whole number of seconds (a number, or its text, as the provider's ``int()`` takes it)."""
    value = extra.get(key, default)
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        seconds = int(value)
    except ValueError:
        raise FederationProblem(f"extra {key}: got {value!r}; allowed: {allowed}") from None
    if seconds < low or (high is not None and seconds > high):
        raise FederationProblem(f"extra {key}: got {seconds}; allowed: {allowed}")
    return seconds


def federation(source: str, extra: Mapping[str, Any]) -> Federation:
    """The federation of ``source`` (``token_provider``, ``aws``, ``k8s``) as the extra configures it."""
    client_id = _text(extra, "client_id", None, "the service principal's application id (a text)")
    if source == "token_provider":
        path = _text(extra, "federated_token_provider", None, "a dotted path such as my_package.tokens.get")
        if path is None or not _DOTTED_PATH.fullmatch(path):
            raise FederationProblem(
                f"extra federated_token_provider: got {path!r}; allowed: the dotted path of a "
                "Callable[[], str] (module.function, e.g. my_package.tokens.get)"
            )
        return Federation(source, client_id, token_provider=path)
    if source == "aws":
        low, high = AWS_DURATION_RANGE
        return Federation(
            source,
            client_id,
            aws_conn_id=str(_text(extra, "aws_conn_id", DEFAULT_AWS_CONN_ID, "an Airflow aws connection id")),
            aws_audience=str(_text(extra, "aws_jwt_audience", DEFAULT_AWS_AUDIENCE, "a non-empty text")),
            aws_duration_seconds=_seconds(
                extra, "aws_web_identity_token_duration", DEFAULT_AWS_DURATION_SECONDS, low, high,
                f"whole seconds from {low} to {high} (STS's range)",
            ),
        )  # fmt: skip
    if not client_id:
        # A service account token carries no custom claim an account-wide policy could match.
        raise FederationProblem(
            "federated_k8s needs extra client_id: Kubernetes service account tokens carry no custom "
            "claims, so only a service principal federation policy can trust them; allowed: the "
            "service principal's application id"
        )
    file = "a file's path"
    # As the provider: the projected file when the extra is there at all, else a TokenRequest.
    if "k8s_projected_volume_token_path" in extra:
        allowed = "the path of a projected token file"
        path = _text(extra, "k8s_projected_volume_token_path", None, allowed)
        if path is None:  # written, but null: the provider would try to open None
            raise FederationProblem(f"extra k8s_projected_volume_token_path: got None; allowed: {allowed}")
        return Federation(source, client_id, k8s_token_path=path)
    return Federation(
        "k8s_token_request",
        client_id,
        k8s_token_path=_text(extra, "k8s_token_path", f"{K8S_SERVICE_ACCOUNT}/token", file),
        k8s_namespace_path=_text(extra, "k8s_namespace_path", f"{K8S_SERVICE_ACCOUNT}/namespace", file),
        k8s_audience=str(_text(extra, "audience", DEFAULT_K8S_AUDIENCE, "a non-empty text")),
        k8s_expiration_seconds=_seconds(
            extra, "expiration_seconds", DEFAULT_K8S_EXPIRATION_SECONDS, K8S_MIN_EXPIRATION_SECONDS, None,
            f"whole seconds, at least {K8S_MIN_EXPIRATION_SECONDS} (the API server's shortest token)",
        ),
    )  # fmt: skip
