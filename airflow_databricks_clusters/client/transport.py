"""The two thin HTTP transports (requests for sync, httpx for async) under one retry policy.

Each sends one request and reports a ``client.retry.Answer`` or a ``client.retry.TransportFailure``
(saying whether the request may have reached the workspace); the loops here ask ``RetryPolicy.decide`` what
to do next. The HTTP clients are imported inside the functions: a DAG file that imports the operators loads
neither. TLS verification stays on; a certificate that fails it is reported as such
(``untrusted_certificate``), for the policy to stop at once. A connection that could not be made at all is
reported with why (``unreachable``), told from the exception chain the same way for both clients, so the
policy gives both the same few quick retries. Log lines carry method, path, status and time; never a header
or a body.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import http.client
import logging
import os
import socket
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_databricks_clusters import __version__
from airflow_databricks_clusters.client.answers import decode_body
from airflow_databricks_clusters.client.rate_limit import RateLimit
from airflow_databricks_clusters.client.retry import (
    Answer,
    Attempt,
    RetryPolicy,
    TransportFailure,
    Unreachable,
    retry_after_seconds,
)

log = logging.getLogger(__name__)
USER_AGENT = f"airflow-databricks-clusters/{__version__}"


def sync_session() -> Any:
    """A pooled ``requests`` session sending the package's User-Agent."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def send_sync(
    session: Any,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    body: Any,
    headers: Mapping[str, str],
    timeout: float,
    form: Mapping[str, str] | None = None,
    proxies: Mapping[str, str] | None = None,
    ca_file: str | None = None,
) -> Attempt:
    """One request with ``requests``: a JSON ``body``, or a ``form`` (the OAuth token request); through
    ``proxies`` (by URL scheme) when given, as the official provider passes them, ahead of the
    environment's; trusting only ``ca_file``'s certificates when given (a cluster's private CA: per
    request, as ``REQUESTS_CA_BUNDLE`` would override a session's)."""
    import requests

    try:
        response = session.request(
            method, url, params=params, json=body, data=form, headers=dict(headers), timeout=timeout,
            proxies=dict(proxies) if proxies else None, **({"verify": ca_file} if ca_file else {}),
        )  # fmt: skip
    except requests.exceptions.ConnectTimeout as err:
        return TransportFailure(f"connect timeout: {err}", sent=False)
    except requests.exceptions.ConnectionError as err:
        if any(isinstance(cause, http.client.RemoteDisconnected) for cause in _causes(err)):
            return TransportFailure(f"connection error: {err}", sent=True, closed_unanswered=True)
        return _failure(url, err, f"connection error: {err}", sent=not _never_connected(err))
    except requests.exceptions.Timeout as err:
        return TransportFailure(f"read timeout: {err}", sent=True)
    except requests.exceptions.RequestException as err:
        return TransportFailure(f"{type(err).__name__}: {err}", sent=True)
    return Answer(response.status_code, decode_body(response.content), response.headers.get("Retry-After"))


def _causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and what it wraps: the clients nest the real cause in ``reason``, ``args`` or ``__cause__``."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        args = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        current = args[0] if args else current.__cause__ or current.__context__


def _never_connected(err: Exception) -> bool:
    """Whether a requests ConnectionError happened before any byte was sent (refused, DNS, ...)."""
    import urllib3.exceptions

    never = urllib3.exceptions.NewConnectionError | ConnectionRefusedError
    return any(isinstance(cause, never) for cause in _causes(err))


#: What OpenSSL says when the peer answers a TLS handshake with something that is not TLS (a plain-http
#: server's "HTTP/1.1 400" read as a TLS record): only ever during a handshake, so before any request.
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)
NO_ROUTE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH})


def _unreachable(err: BaseException) -> tuple[Unreachable, str] | None:
    """Why no connection could be made, and the root cause's own words; None for any other failure.

    Read from the exception chain, where requests (urllib3) and httpx (httpcore, anyio) both keep the
    socket's or OpenSSL's error, so the two transports report the same thing in the same words.
    """
    for cause in _causes(err):
        if isinstance(cause, socket.gaierror):
            return Unreachable.UNRESOLVED, _os_error_text(cause)
        if isinstance(cause, ConnectionRefusedError):
            return Unreachable.REFUSED, _os_error_text(cause)
        if isinstance(cause, ssl.SSLError) and cause.reason in NOT_TLS_REASONS:
            return Unreachable.NOT_TLS, str(cause)
        if isinstance(cause, OSError) and cause.errno in NO_ROUTE_ERRNOS:
            return Unreachable.NO_ROUTE, _os_error_text(cause)
    return None


def _os_error_text(err: OSError) -> str:
    """``[Errno 111] Connection refused`` from both clients (asyncio's own text for it names the address
    instead); a resolver error keeps its own words, which ``os.strerror`` does not know."""
    if isinstance(err, socket.gaierror) or err.errno is None:
        return f"[Errno {err.errno}] {err.strerror}" if err.strerror else str(err)
    return f"[Errno {err.errno}] {os.strerror(err.errno)}"


def host_port(url: str) -> str:
    """The host and port a URL connects to, the scheme's default port written out (``host:443``)."""
    parts = urlsplit(url)
    if parts.port is not None:
        return parts.netloc
    return f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}"


def _failure(url: str, err: Exception, message: str, *, sent: bool) -> TransportFailure:
    """A failed connection, told apart from a certificate that failed verification (the policy never
    retries that one; the handshake failed, so nothing was sent) and from a workspace that cannot be
    reached at all (a few quick retries, then an error that says what to check)."""
    for cause in _causes(err):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or str(cause)
            return TransportFailure(
                f"certificate verify failed: {why}", sent=False, untrusted_certificate=True,
                host=urlsplit(url).netloc,
            )  # fmt: skip
    unreachable = _unreachable(err)
    if unreachable is not None:
        why, detail = unreachable
        return TransportFailure(detail, sent=False, host=host_port(url), unreachable=why)
    return TransportFailure(message, sent=sent)


def async_client(proxies: Mapping[str, str] | None = None) -> Any:
    """A pooled ``httpx.AsyncClient`` for one owner (a hook), to be closed by it; requests of a scheme in
    ``proxies`` (``http``, ``https``) go through that proxy.

    The TLS context is built once per process and trust settings (``ssl_context``): building one loads
    the CA bundle, some 40 ms of CPU that blocked a triggerer's event loop on every poll when each call
    made its own client.
    """
    import httpx

    verify = ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    mounts = {
        f"{scheme}://": httpx.AsyncHTTPTransport(verify=verify, proxy=httpx.Proxy(url))
        for scheme, url in (proxies or {}).items()
    }
    return httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, verify=verify, mounts=mounts or None)


@functools.cache
def ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The context httpx would build for these trust settings (it reads the same two variables)."""
    import httpx

    return httpx.create_ssl_context()


class RateGate:
    """The async driver of ``client.rate_limit.RateLimit``: one per event loop, so one per triggerer process.

    ``await gate.turn()`` before each request; ``gate.answered(attempt)`` after it, so that a 429 holds
    back every request of the process for its Retry-After.
    """

    def __init__(self, limit: RateLimit | None = None) -> None:
        self.limit = limit or RateLimit()

    async def turn(self) -> None:
        while True:
            delay = self.limit.reserve(time.monotonic())
            try:
                if delay > 0:
                    await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self.limit.release()
                raise
            if self.limit.held_for(time.monotonic()) <= 0:
                return
            # A 429 met by another request while this one waited: queue again behind the pause, spaced
            # as before, rather than all at once when it ends.
            self.limit.release()

    def answered(self, attempt: Attempt) -> None:
        if isinstance(attempt, Answer) and attempt.status == 429:
            self.limit.hold(time.monotonic(), retry_after_seconds(attempt.retry_after))


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RateGate] = weakref.WeakKeyDictionary()


def rate_gate() -> RateGate:
    """The rate gate of the running event loop."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = RateGate()
    return gate


async def send_async(
    client: Any,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    body: Any,
    headers: Mapping[str, str],
    timeout: float,
    form: Mapping[str, str] | None = None,
) -> Attempt:
    """One request with ``httpx``: a JSON ``body``, or a ``form`` (the OAuth token request)."""
    import httpx

    try:
        response = await client.request(
            method, url, params=params, json=body, data=form, headers=dict(headers), timeout=timeout
        )
    except (httpx.ConnectError, httpx.ConnectTimeout) as err:
        return _failure(url, err, f"connection error: {err!r}", sent=False)
    except httpx.RemoteProtocolError as err:
        unanswered = "without sending a response" in str(err)
        return TransportFailure(f"{type(err).__name__}: {err!r}", sent=True, closed_unanswered=unanswered)
    except httpx.TransportError as err:
        return TransportFailure(f"{type(err).__name__}: {err!r}", sent=True)
    return Answer(response.status_code, decode_body(response.content), response.headers.get("Retry-After"))


def call_sync(
    send: Callable[[], Attempt],
    policy: RetryPolicy,
    *,
    method: str,
    path: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    conn_id: str | None = None,
) -> Any:
    """Send until the policy is satisfied; return the answer's body or raise its error.

    ``conn_id`` names the connection in an error that says the workspace cannot be reached."""
    started = clock()
    number = 0
    waited = 0.0
    since: float | None = None
    while True:
        # The waits asked for count even when a test's sleep is shorter than asked.
        began = max(clock() - started, waited)
        attempt = send()
        elapsed = max(clock() - started, waited)
        decision = policy.decide(
            attempt, number=number, elapsed=elapsed, method=method, path=path, began=began,
            unreachable_since=since, conn_id=conn_id,
        )  # fmt: skip
        since = decision.unreachable_since
        _log_attempt(method, path, attempt, decision.retry, decision.wait)
        if not decision.retry:
            if decision.error is not None:
                raise decision.error
            return attempt.body if isinstance(attempt, Answer) else None
        sleep(decision.wait)
        waited += decision.wait
        number += 1


async def call_async(
    send: Callable[[], Awaitable[Attempt]],
    policy: RetryPolicy,
    *,
    method: str,
    path: str,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    conn_id: str | None = None,
) -> Any:
    """The async twin of ``call_sync``: same policy, never blocks the event loop."""
    started = clock()
    number = 0
    waited = 0.0
    since: float | None = None
    while True:
        began = max(clock() - started, waited)
        attempt = await send()
        elapsed = max(clock() - started, waited)
        decision = policy.decide(
            attempt, number=number, elapsed=elapsed, method=method, path=path, began=began,
            unreachable_since=since, conn_id=conn_id,
        )  # fmt: skip
        since = decision.unreachable_since
        _log_attempt(method, path, attempt, decision.retry, decision.wait)
        if not decision.retry:
            if decision.error is not None:
                raise decision.error
            return attempt.body if isinstance(attempt, Answer) else None
        await sleep(decision.wait)
        waited += decision.wait
        number += 1


def _log_attempt(method: str, path: str, attempt: Attempt, retry: bool, wait: float) -> None:
    if isinstance(attempt, Answer):
        outcome = f"HTTP {attempt.status}"
    elif attempt.unreachable is not None:
        outcome = f"cannot reach {attempt.host}: {attempt.message}"
    else:
        outcome = attempt.message
    if retry and wait == 0 and isinstance(attempt, TransportFailure) and attempt.closed_unanswered:
        log.debug("%s %s: the server closed the connection unanswered; sending again", method, path)
    elif retry:
        log.warning("%s %s: %s; retrying in %.1f s", method, path, outcome, wait)
    else:
        log.debug("%s %s: %s", method, path, outcome)
