"""The one retry and error policy of every API call, sync or async. Pure: no I/O.

An attempt ends in an HTTP answer or a transport failure. ``RetryPolicy.decide`` says whether to try again
and after how long, or which typed error to raise. Retryable: 429 (honouring Retry-After), 500/502/503/504,
connection errors and timeouts, with exponential backoff, full jitter and an overall deadline; a
connection the server closed unanswered is retried once at once (a kept-alive connection it dropped). Never
retried: a TLS certificate that fails verification (``UntrustedCertificate`` at once: retrying cannot make
it trusted, and waiting out the deadline would only hide why).

A workspace that cannot be reached at all (``Unreachable``: the connection refused, a host name that does
not resolve, no route, https spoken to a plain-http port) gets a few quick retries, for a proxy that is
restarting, for ``unreachable_seconds`` from the first such attempt in a row; then ``WorkspaceUnreachable``
names the connection, the host and port and what to check. It is almost always the connection's settings
or a workspace that is down, which the long backoff only hid for five minutes. Nothing was sent, so this
holds for a create too.

A call that is not safe to repeat (``clusters/create``, ``jobs/runs/submit``) is retried only when the
workspace certainly did not act on it: the connection was never made, or the answer says so (429, and
503 TEMPORARILY_UNAVAILABLE, which Databricks sends before handling a request). After an ambiguous failure
(the request went out and no answer came back, or a 500/502/504) it raises ``UnknownOutcome`` instead, so
the caller looks the result up rather than creating a second cluster.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_databricks_clusters.client.answers import shown
from airflow_databricks_clusters.errors import (
    ApiError,
    ClusterNotFound,
    InvalidParameter,
    InvalidState,
    PermissionDenied,
    RateLimited,
    TransientApiError,
    UnknownOutcome,
    UntrustedCertificate,
    WorkspaceUnreachable,
)
from airflow_databricks_clusters.redaction import redact

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Answers that prove the request was not handled, so even a create may be sent again.
UNHANDLED_STATUSES = frozenset({429, 503})
NON_IDEMPOTENT_CALLS = frozenset({("POST", "clusters/create"), ("POST", "jobs/runs/submit")})


def is_idempotent(method: str, path: str) -> bool:
    """Whether sending the call twice has the effect of sending it once."""
    return not any(method == m and path.rstrip("/").endswith(p) for m, p in NON_IDEMPOTENT_CALLS)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, the decoded JSON body (or None) and the Retry-After header."""

    status: int
    body: Any
    retry_after: str | None = None


class Unreachable(str, enum.Enum):
    """Why no connection to the workspace could be made at all: nothing was sent."""

    REFUSED = "refused"
    UNRESOLVED = "unresolved"
    NO_ROUTE = "no route"
    NOT_TLS = "not TLS"


#: What each way of being unreachable means, and what the person reading the error should check.
UNREACHABLE_TEXT: dict[Unreachable, tuple[str, str]] = {
    Unreachable.REFUSED: (
        "the connection was refused (nothing listens on that port, or a firewall refuses it)",
        "the connection's host, port and schema, and that the workspace is up and reachable from this "
        "machine (network, proxy, firewall)",
    ),
    Unreachable.UNRESOLVED: (
        "its host name does not resolve",
        "the connection's host (a typo?), port and schema, and this machine's DNS and network",
    ),
    Unreachable.NO_ROUTE: (
        "no network route leads there",
        "the connection's host, port and schema, and this machine's network (VPN, proxy, firewall)",
    ),
    Unreachable.NOT_TLS: (
        "the port does not speak TLS (a plain-http server answered the https handshake)",
        "the connection's schema and port: https needs the workspace's https port; a local emulator "
        "serves plain http, which takes schema http",
    ),
}


@dataclass(frozen=True)
class TransportFailure:
    """No HTTP answer. ``sent`` is False when the connection was never made (the request cannot have
    been handled), True when it may have reached the workspace (read timeout, dropped connection).
    ``untrusted_certificate``: the TLS certificate of ``host`` failed verification, ``message`` says why.
    ``closed_unanswered``: the server closed the connection without a byte of answer, as one does with a
    kept-alive connection it dropped for idleness while the request was on its way.
    ``unreachable``: why no connection could be made to ``host`` (host:port) at all (never sent)."""

    message: str
    sent: bool
    untrusted_certificate: bool = False
    host: str = ""
    closed_unanswered: bool = False
    unreachable: Unreachable | None = None


Attempt = Answer | TransportFailure


@dataclass(frozen=True)
class Decision:
    """Either wait ``wait`` seconds and try again, or stop with ``error`` (None: the answer is good).

    ``unreachable_since``: when the run of unreachable attempts this one belongs to began (seconds since
    the call's first attempt), for the driver to hand to the next ``decide``; None after any other attempt.
    """

    retry: bool
    wait: float = 0.0
    error: Exception | None = None
    unreachable_since: float | None = None


def error_for(status: int, body: Any, method: str, path: str) -> ApiError:
    """The typed exception for an error answer of the workspace."""
    if not isinstance(body, dict):
        # An HTML page from a proxy, or JSON that is not an object: its start is the best message there is.
        body = {"message": shown(body)} if body not in (None, {}) else {}
    # The OAuth token endpoint answers as OAuth does: {"error": ..., "error_description": ...}.
    code = body.get("error_code", body.get("error"))
    # Redacted: the message may echo what was sent, and it becomes exception text and log lines.
    message = redact(
        str(body.get("message") or body.get("error_description") or body.get("error") or f"HTTP {status}")
    )
    code_text = None if code is None else str(code)
    kind: type[ApiError] = InvalidParameter
    if (
        status == 404
        or code_text == "RESOURCE_DOES_NOT_EXIST"
        or (code_text == "INVALID_PARAMETER_VALUE" and message.endswith("does not exist"))
    ):
        kind = ClusterNotFound
    elif code_text == "INVALID_STATE":
        kind = InvalidState
    elif status in (401, 403):
        kind = PermissionDenied
    elif status == 429:
        kind = RateLimited
    elif status >= 500:
        kind = TransientApiError
    return kind(message, status=status, error_code=code_text, method=method, path=path)


def retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(int(value.strip())), 0.0)
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff ``min(max_delay, base_delay * 2**attempt)`` with full jitter, within ``deadline_seconds``.

    An unreachable workspace is retried for ``unreachable_seconds`` from the start of the first such
    attempt in a row, each wait as long as the run so far (at least ``unreachable_first_delay``, at most
    ``unreachable_max_delay``), jittered down to half of it.
    """

    deadline_seconds: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 30.0
    unreachable_seconds: float = 5.0
    unreachable_first_delay: float = 1.0
    unreachable_max_delay: float = 2.0
    jitter: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def decide(
        self,
        attempt: Attempt,
        *,
        number: int,
        elapsed: float,
        method: str,
        path: str,
        began: float | None = None,
        unreachable_since: float | None = None,
        conn_id: str | None = None,
    ) -> Decision:
        """What to do after attempt ``number`` (0-based), ``elapsed`` seconds after the first began.

        ``began``: when this attempt began (default ``elapsed``); ``unreachable_since``: the previous
        decision's; ``conn_id``: the connection, for the error that names it.
        """
        idempotent = is_idempotent(method, path)
        if isinstance(attempt, Answer):
            if attempt.status < 400:
                return Decision(retry=False)
            error: Exception = error_for(attempt.status, attempt.body, method, path)
            if attempt.status not in RETRYABLE_STATUSES:
                return Decision(retry=False, error=error)
            if not idempotent and attempt.status not in UNHANDLED_STATUSES:
                return Decision(
                    retry=False,
                    error=UnknownOutcome(f"HTTP {attempt.status}: {error}", method=method, path=path),
                )
            wait = retry_after_seconds(attempt.retry_after)
        else:
            if attempt.untrusted_certificate:
                # Before the idempotency rule: the handshake failed, so not even a create went out.
                error = UntrustedCertificate(attempt.host, attempt.message, method=method, path=path)
                return Decision(retry=False, error=error)
            if attempt.unreachable is not None:
                # Before the idempotency rule too: no connection was made, so not even a create went out.
                since = unreachable_since if unreachable_since is not None else began
                return self._unreachable(
                    attempt,
                    attempt.unreachable,
                    since=elapsed if since is None else since,
                    number=number,
                    elapsed=elapsed,
                    method=method,
                    path=path,
                    conn_id=conn_id,
                )
            if attempt.sent and not idempotent:
                return Decision(retry=False, error=UnknownOutcome(attempt.message, method=method, path=path))
            if attempt.closed_unanswered and number == 0:
                # Most likely a pooled connection the server had just dropped: at once, on a new one.
                return Decision(retry=True, wait=0.0)
            error = TransientApiError(attempt.message, method=method, path=path)
            wait = None
        if wait is None:
            wait = self.jitter(0.0, min(self.max_delay, self.base_delay * 2**number))
        if elapsed + wait > self.deadline_seconds:
            return Decision(retry=False, error=error)
        return Decision(retry=True, wait=wait)

    def _unreachable(
        self,
        attempt: TransportFailure,
        why: Unreachable,
        *,
        since: float,
        number: int,
        elapsed: float,
        method: str,
        path: str,
        conn_id: str | None,
    ) -> Decision:
        """A few quick retries from ``since``, the start of this run of unreachable attempts; then the
        error that says what to check."""
        so_far = max(elapsed - since, 0.0)
        ceiling = min(self.unreachable_max_delay, max(self.unreachable_first_delay, so_far))
        wait = self.jitter(ceiling / 2, ceiling)
        if so_far + wait <= self.unreachable_seconds and elapsed + wait <= self.deadline_seconds:
            return Decision(retry=True, wait=wait, unreachable_since=since)
        reason, check = UNREACHABLE_TEXT[why]
        error = WorkspaceUnreachable(
            attempt.host or "the connection's host",
            reason,
            check,
            detail=attempt.message,
            conn_id=conn_id,
            attempts=number + 1,
            seconds=elapsed,
            method=method,
            path=path,
        )
        return Decision(retry=False, error=error)
