"""The one retry and error policy of every API call, sync or async. Pure: no I/O.

An attempt ends in an HTTP answer or a transport failure. ``RetryPolicy.decide`` says whether to try again
and after how long, or which typed error to raise. Retryable: 429 (honouring Retry-After), 500/502/503/504,
connection errors and timeouts, with exponential backoff, full jitter and an overall deadline; a
connection the server closed unanswered is retried once at once (a kept-alive connection it dropped). Never
retried: a TLS certificate that fails verification (``UntrustedCertificate`` at once: retrying cannot make
it trusted, and waiting out the deadline would only hide why).

A call that is not safe to repeat (``clusters/create``, ``jobs/runs/submit``) is retried only when the
workspace certainly did not act on it: the connection was never made, or the answer says so (429, and
503 TEMPORARILY_UNAVAILABLE, which Databricks sends before handling a request). After an ambiguous failure
(the request went out and no answer came back, or a 500/502/504) it raises ``UnknownOutcome`` instead, so
the caller looks the result up rather than creating a second cluster.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class TransportFailure:
    """No HTTP answer. ``sent`` is False when the connection was never made (the request cannot have
    been handled), True when it may have reached the workspace (read timeout, dropped connection).
    ``untrusted_certificate``: the TLS certificate of ``host`` failed verification, ``message`` says why.
    ``closed_unanswered``: the server closed the connection without a byte of answer, as one does with a
    kept-alive connection it dropped for idleness while the request was on its way."""

    message: str
    sent: bool
    untrusted_certificate: bool = False
    host: str = ""
    closed_unanswered: bool = False


Attempt = Answer | TransportFailure


@dataclass(frozen=True)
class Decision:
    """Either wait ``wait`` seconds and try again, or stop with ``error`` (None: the answer is good)."""

    retry: bool
    wait: float = 0.0
    error: Exception | None = None


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
    """Backoff ``min(max_delay, base_delay * 2**attempt)`` with full jitter, within ``deadline_seconds``."""

    deadline_seconds: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def decide(self, attempt: Attempt, *, number: int, elapsed: float, method: str, path: str) -> Decision:
        """What to do after attempt ``number`` (0-based), ``elapsed`` seconds after the first began."""
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
