"""Exception types shared by every layer of the plugin.

Pure Python on purpose: ``cluster_spec/build.py`` raises these without importing Airflow, the hook raises
them from HTTP answers, and the operators let them propagate (Airflow fails the task on any exception).
None of them ever carries a secret: messages are built from field names, values the user typed that are
not secrets, and the workspace's own error bodies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class DatabricksClustersError(Exception):
    """Base class of every error this plugin raises on purpose."""


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a cluster spec: which field, the value given and what is allowed."""

    field: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.field}: got {self.value!r}; allowed: {self.allowed}"


class SpecError(DatabricksClustersError, ValueError):
    """The task parameters do not make a valid cluster spec. Raised before any API call.

    ``problems`` lists every problem found, so a user fixes them all in one go.
    """

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        if not problems:
            raise ValueError("SpecError needs at least one problem")
        self.problems: tuple[SpecProblem, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"Invalid Databricks cluster spec ({len(self.problems)} {noun}):\n{lines}")


class ApiError(DatabricksClustersError):
    """The workspace answered with an error (after the retry policy gave up, where it retries).

    ``status`` is the HTTP status, ``error_code`` Databricks' code (``INVALID_PARAMETER_VALUE``, or the
    string form of a numeric code such as the ``403`` of a bad token), ``message`` its text.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.message = message
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method and path else ""
        code = f" {error_code}" if error_code else ""
        status_text = f"HTTP {status}" if status is not None else "no HTTP answer"
        super().__init__(f"{where}{status_text}{code}: {message}")


class ClusterNotFound(ApiError):
    """The cluster id is unknown to the workspace (or was permanently deleted)."""


class InvalidState(ApiError):
    """The call is not allowed in the cluster's current state (``INVALID_STATE``)."""


class InvalidParameter(ApiError):
    """The workspace refused a parameter (``INVALID_PARAMETER_VALUE``, ``MALFORMED_REQUEST``, ...)."""


class PermissionDenied(ApiError):
    """Authentication or authorisation failed (401/403): a bad token or missing permission."""


class RateLimited(ApiError):
    """429 ``REQUEST_LIMIT_EXCEEDED`` kept coming until the retry deadline passed."""


class TransientApiError(ApiError):
    """5xx, a timeout or a dropped connection that outlived the retry deadline."""


class WorkspaceUnreachable(TransientApiError):
    """No connection to the workspace could be made: it was refused, the host name does not resolve, no
    route leads there, or an https connection met a port that does not speak TLS (a plain-http server).

    Raised after a few quick retries (seconds; a restarting proxy is back by then), not the minutes a 5xx
    or a 429 gets: it is almost always the connection's settings, or a workspace that is not up. Nothing
    was sent, so not even a create can have taken effect. The message names the connection, the host and
    port tried and what to check. A ``TransientApiError``, so code that handles those handles this too
    (a wait polls through it until its deadline); the task's own retries are the user's to set.

    ``conn_id``, ``host`` (host:port), ``reason`` (what happened), ``check`` (what to look at) and
    ``detail`` (the HTTP client's own words).
    """

    def __init__(
        self,
        host: str,
        reason: str,
        check: str,
        *,
        detail: str = "",
        conn_id: str | None = None,
        attempts: int = 1,
        seconds: float = 0.0,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(detail or reason, method=method, path=path)
        self.conn_id = conn_id
        self.host = host
        self.reason = reason
        self.check = check
        self.detail = detail
        whose = f" of connection {conn_id}" if conn_id else ""
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts in {seconds:.1f} s"
        where = " ".join(part for part in (method, path) if part)
        said = ": ".join(part for part in (where, detail) if part)
        # Its own text, not ApiError's "<call>: no HTTP answer: ...": what to fix comes first.
        self.args = (
            f"Cannot reach the Databricks workspace{whose} at {host}: {reason}; {tries}"
            + (f" ({said})" if said else "")
            + f". Check {check}.",
        )


class UntrustedCertificate(ApiError):
    """The workspace's TLS certificate failed verification: self-signed, expired, issued for another host
    or by a CA this machine does not trust. Raised on the first attempt, never retried (a certificate
    does not fix itself), and nothing was sent: the handshake failed before the request. ``host`` is the
    host and port whose certificate it was.
    """

    def __init__(self, host: str, reason: str, *, method: str | None = None, path: str | None = None) -> None:
        self.host = host
        self.reason = reason
        super().__init__(
            f"the TLS certificate of {host} could not be verified ({reason}); not retried. A workspace "
            "behind a private CA needs its CA certificate named in REQUESTS_CA_BUNDLE and SSL_CERT_FILE",
            method=method,
            path=path,
        )


class MalformedAnswer(ApiError):
    """The workspace answered, but not with the JSON object the API documents for that endpoint.

    The message names the endpoint, what was wrong and the first 200 bytes of the body (values under
    secret-like keys replaced by ``***``). Raised where the answer enters (the hook), so nothing downstream
    ever reads an HTML page or a truncated body as "no clusters" or "an unknown state".
    """


class UnknownOutcome(DatabricksClustersError):
    """A call that is not safe to repeat (``clusters/create``) may or may not have taken effect.

    The request was sent, but no answer came back (dropped connection, timeout, 5xx after the body was
    accepted). The caller must look the result up (the operator finds the cluster by its tags) rather
    than send it again.
    """

    def __init__(self, message: str, *, method: str, path: str) -> None:
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: outcome unknown: {message}")


class ClusterFailed(DatabricksClustersError):
    """The cluster ended in a state that cannot reach the target (TERMINATED or ERROR while waiting).

    Carries the ``termination_reason`` (``code``, ``type``, ``parameters``) and the last cluster events,
    and says both in its message.
    """

    def __init__(
        self,
        cluster_id: str,
        state: str,
        *,
        state_message: str = "",
        termination_reason: Mapping[str, Any] | None = None,
        events: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.cluster_id = cluster_id
        self.state = state
        self.state_message = state_message
        self.termination_reason: dict[str, Any] = dict(termination_reason or {})
        self.events: list[dict[str, Any]] = [dict(e) for e in events]
        super().__init__(self._describe())

    def _describe(self) -> str:
        reason = self.termination_reason
        parts = [f"Cluster {self.cluster_id} is {self.state}"]
        if self.state_message:
            parts.append(f": {self.state_message}")
        if reason:
            params = reason.get("parameters") or {}
            param_text = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
            parts.append(
                f"\n  termination reason: {reason.get('code', '?')} ({reason.get('type', '?')})"
                + (f" [{param_text}]" if param_text else "")
            )
        if self.events:
            parts.append("\n  last events:")
            for event in self.events:
                details = event.get("details") or {}
                parts.append(f"\n    {event.get('timestamp', '?')} {event.get('type', '?')} {details}")
        return "".join(parts)


class ClusterGone(DatabricksClustersError):
    """The cluster a wait was following does not exist (an unknown id, or permanently deleted)."""

    def __init__(self, cluster_id: str, detail: str) -> None:
        self.cluster_id = cluster_id
        self.detail = detail
        super().__init__(f"Cluster {cluster_id} is gone ({detail})")


class ClusterUnreadable(DatabricksClustersError):
    """A wait ended because the cluster's state could not be read (not a passing fault: a refused token,
    a malformed answer, a refused parameter)."""

    def __init__(self, cluster_id: str, detail: str) -> None:
        self.cluster_id = cluster_id
        self.detail = detail
        super().__init__(f"Cluster {cluster_id}: could not read its state: {detail}")


class ClusterTimeout(DatabricksClustersError):
    """The cluster did not reach the target state before the deadline."""

    def __init__(
        self,
        cluster_id: str,
        state: str,
        target_states: Sequence[str],
        waited_seconds: float,
        *,
        libraries_pending: Sequence[str] = (),
    ) -> None:
        self.cluster_id = cluster_id
        self.state = state
        self.target_states = tuple(target_states)
        self.waited_seconds = waited_seconds
        self.libraries_pending = tuple(libraries_pending)
        targets = " or ".join(self.target_states)
        if self.libraries_pending:
            # RUNNING was reached; the libraries were not.
            super().__init__(
                f"Cluster {cluster_id}: libraries not installed within {waited_seconds:.0f} s: "
                + ", ".join(self.libraries_pending)
            )
            return
        super().__init__(
            f"Cluster {cluster_id} did not reach {targets} within {waited_seconds:.0f} s (last state {state})"
        )


class LibrariesFailed(DatabricksClustersError):
    """A library the create task installs ended FAILED (or SKIPPED, or marked for uninstall) on a RUNNING
    cluster. ``failures`` are ``{library, status, message}`` objects; the message names each one."""

    def __init__(self, cluster_id: str, failures: Sequence[Mapping[str, Any]]) -> None:
        self.cluster_id = cluster_id
        self.failures: list[dict[str, Any]] = [dict(f) for f in failures]
        shown = "; ".join(
            f"{f.get('library')} is {f.get('status')}: {f.get('message') or 'no message'}"
            for f in self.failures
        )
        super().__init__(f"Cluster {cluster_id}: library installation failed: {shown}")
