"""The retry policy: what is retried, how long it waits, and when a create must not be sent again."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.client.retry import (
    Answer,
    RetryPolicy,
    TransportFailure,
    Unreachable,
    error_for,
    is_idempotent,
)
from airflow_databricks_clusters.errors import (
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

GET = ("GET", "/api/2.1/clusters/get")
CREATE = ("POST", "/api/2.1/clusters/create")


def policy(deadline: float = 300) -> RetryPolicy:
    # The largest jitter draw, so waits are the backoff ceiling and the test is deterministic.
    return RetryPolicy(deadline_seconds=deadline, jitter=lambda low, high: high)


def decide(
    attempt: Answer | TransportFailure, call: tuple[str, str] = GET, number: int = 0, elapsed: float = 0
):
    return policy().decide(attempt, number=number, elapsed=elapsed, method=call[0], path=call[1])


def test_success_is_not_retried() -> None:
    decision = decide(Answer(200, {}))
    assert not decision.retry and decision.error is None


def test_429_waits_retry_after() -> None:
    decision = decide(Answer(429, {"error_code": "REQUEST_LIMIT_EXCEEDED"}, retry_after="7"))
    assert decision.retry and decision.wait == 7


def test_backoff_doubles_and_is_capped() -> None:
    waits = [decide(Answer(500, {}), number=n).wait for n in range(8)]
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    draws: list[tuple[float, float]] = []
    RetryPolicy(jitter=lambda low, high: draws.append((low, high)) or 0.5).decide(
        Answer(502, {}), number=3, elapsed=0, method="GET", path="/x"
    )
    assert draws == [(0.0, 8.0)]


def test_the_deadline_ends_retrying_with_the_typed_error() -> None:
    rate_limited = policy(deadline=10).decide(
        Answer(429, {"message": "slow down"}, retry_after="5"), number=3, elapsed=6, method="GET", path="/x"
    )
    assert not rate_limited.retry and isinstance(rate_limited.error, RateLimited)
    dropped = policy(deadline=1).decide(
        TransportFailure("reset", sent=True), number=2, elapsed=0, method="GET", path="/x"
    )
    assert isinstance(dropped.error, TransientApiError)


def test_a_create_is_never_resent_after_an_ambiguous_failure() -> None:
    for attempt in (TransportFailure("connection reset", sent=True), Answer(500, {}), Answer(504, {})):
        decision = decide(attempt, CREATE)
        assert not decision.retry and isinstance(decision.error, UnknownOutcome)


def test_a_create_refused_before_handling_is_retried() -> None:
    assert decide(TransportFailure("connection refused", sent=False), CREATE).retry
    assert decide(Answer(429, {}, retry_after="1"), CREATE).retry
    assert decide(Answer(503, {}), CREATE).retry


def test_idempotent_calls() -> None:
    assert is_idempotent(*GET) and is_idempotent("POST", "/api/2.1/clusters/delete")
    assert not is_idempotent(*CREATE) and not is_idempotent("POST", "/api/2.2/jobs/runs/submit")
    assert decide(TransportFailure("reset", sent=True)).retry


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {"error_code": "INVALID_PARAMETER_VALUE", "message": "Cluster x does not exist"},
            ClusterNotFound,
        ),
        (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}, ClusterNotFound),
        (400, {"error_code": "INVALID_STATE", "message": "unexpected state Running."}, InvalidState),
        (
            400,
            {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid spark version"},
            InvalidParameter,
        ),
        (403, {"error_code": 403, "message": "Invalid access token."}, PermissionDenied),
        (429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow"}, RateLimited),
        (
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            PermissionDenied,
        ),
        (503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "later"}, TransientApiError),
    ],
)
def test_error_answers_become_typed_errors(status: int, body: dict, kind: type) -> None:
    error = error_for(status, body, "GET", "/api/2.1/clusters/get")
    assert type(error) is kind
    assert error.status == status and error.error_code == str(body.get("error_code", body.get("error")))
    assert body.get("message", body.get("error_description")) in str(error)
    assert "GET /api/2.1/clusters/get" in str(error)


def test_a_client_error_is_not_retried() -> None:
    decision = decide(Answer(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "no"}))
    assert not decision.retry and isinstance(decision.error, InvalidParameter)


CERTIFICATE = TransportFailure(
    "certificate verify failed: self-signed certificate",
    sent=False,
    untrusted_certificate=True,
    host="dbc-1.cloud.databricks.com:443",
)


@pytest.mark.parametrize("call", [GET, CREATE, ("POST", "/oidc/v1/token")])
def test_a_certificate_that_fails_verification_is_not_retried(call: tuple[str, str]) -> None:
    # Not even the first time, long before the deadline: a certificate does not fix itself.
    decision = decide(CERTIFICATE, call, number=0, elapsed=0)
    assert not decision.retry and type(decision.error) is UntrustedCertificate
    assert str(decision.error) == (
        f"{call[0]} {call[1]}: no HTTP answer: the TLS certificate of dbc-1.cloud.databricks.com:443 could "
        "not be verified (certificate verify failed: self-signed certificate); not retried. A workspace "
        "behind a private CA needs its CA certificate named in REQUESTS_CA_BUNDLE and SSL_CERT_FILE"
    )
    assert decision.error.host == "dbc-1.cloud.databricks.com:443"


@pytest.mark.parametrize("failure", [TransportFailure("connection refused", sent=False),
                                     TransportFailure("connection reset by peer", sent=True),
                                     TransportFailure("read timeout", sent=True)])  # fmt: skip
def test_other_connection_errors_are_still_retried(failure: TransportFailure) -> None:
    decision = decide(failure, number=3, elapsed=10)
    assert decision.retry and decision.wait == 8


def test_an_error_message_that_echoes_a_secret_is_redacted() -> None:
    # A workspace (or a proxy before it) may echo what it was sent; the message becomes exception text.
    body = {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": 'Bad spark_env_vars: {"DB_PASSWORD": "hunter22"}',
    }
    error = error_for(400, body, "POST", "/api/2.1/clusters/create")
    assert "hunter22" not in str(error) and "DB_PASSWORD" in str(error)
    oauth = error_for(
        401, {"error": "invalid_client", "error_description": "bad token=abc123xyz"}, "POST", "t"
    )
    assert "abc123xyz" not in str(oauth)


def test_a_connection_closed_unanswered_is_retried_once_at_once_then_backs_off() -> None:
    dropped = TransportFailure(
        "Server disconnected without sending a response", sent=True, closed_unanswered=True
    )
    first = decide(dropped)
    assert first.retry and first.wait == 0
    assert decide(dropped, number=1).wait == 2  # a second drop is no stale connection: the usual backoff
    # Not even then is a create sent again: the server may have acted before it closed.
    assert isinstance(decide(dropped, CREATE).error, UnknownOutcome)


def unreachable(why: Unreachable = Unreachable.REFUSED) -> TransportFailure:
    return TransportFailure("[Errno 111] Connection refused", sent=False, host="127.0.0.1:1", unreachable=why)


def run_of_unreachable_attempts(
    policy: RetryPolicy, call: tuple[str, str] = GET, attempt_seconds: float = 0.0
) -> tuple[list[float], Exception | None, float]:
    """Drive ``policy`` as the transports do through attempts that all fail unreachable, each taking
    ``attempt_seconds``: the waits it asked for, the error it ended with, and when."""
    now, since, waits = 0.0, None, []
    for number in range(100):
        began = now
        now += attempt_seconds
        decision = policy.decide(
            unreachable(), number=number, elapsed=now, method=call[0], path=call[1], began=began,
            unreachable_since=since, conn_id="databricks_default",
        )  # fmt: skip
        if not decision.retry:
            return waits, decision.error, now
        since = decision.unreachable_since
        waits.append(decision.wait)
        now += decision.wait
    raise AssertionError("still retrying after 100 attempts")


@pytest.mark.parametrize("call", [GET, CREATE, ("POST", "/oidc/v1/token")])
def test_an_unreachable_workspace_gets_a_few_quick_retries_then_says_what_to_check(
    call: tuple[str, str],
) -> None:
    # The largest jitter draw: the longest the policy ever waits. A create too: no connection, nothing sent.
    waits, error, ended = run_of_unreachable_attempts(policy(), call)
    assert waits == [1.0, 1.0, 2.0] and ended == 4.0
    assert type(error) is WorkspaceUnreachable and isinstance(error, TransientApiError)
    assert str(error) == (
        "Cannot reach the Databricks workspace of connection databricks_default at 127.0.0.1:1: the "
        "connection was refused (nothing listens on that port, or a firewall refuses it); 4 attempts in "
        f"4.0 s ({call[0]} {call[1]}: [Errno 111] Connection refused). Check the connection's host, port "
        "and schema, and that the workspace is up and reachable from this machine (network, proxy, "
        "firewall)."
    )
    assert (error.conn_id, error.host, error.method, error.path) == (
        "databricks_default",
        "127.0.0.1:1",
        *call,
    )


def test_the_quick_retries_keep_within_their_budget_with_any_jitter() -> None:
    for draw in (lambda low, high: low, lambda low, high: (low + high) / 2, lambda low, high: high):
        waits, _, ended = run_of_unreachable_attempts(RetryPolicy(jitter=draw))
        assert 3 <= len(waits) <= 7 and ended <= RetryPolicy().unreachable_seconds + 2


def test_slow_unreachable_attempts_count_against_the_budget() -> None:
    # A resolver that takes 2 s to say a name does not exist: the time of the attempts counts too.
    waits, error, ended = run_of_unreachable_attempts(policy(), attempt_seconds=2.0)
    assert waits == [2.0] and ended == 6.0 and isinstance(error, WorkspaceUnreachable)


@pytest.mark.parametrize(
    ("why", "says", "check"),
    [
        (Unreachable.REFUSED, "the connection was refused", "that the workspace is up"),
        (Unreachable.UNRESOLVED, "its host name does not resolve", "host (a typo?)"),
        (Unreachable.NO_ROUTE, "no network route leads there", "this machine's network"),
        (Unreachable.NOT_TLS, "the port does not speak TLS", "a local emulator serves plain http"),
    ],
)
def test_each_way_of_being_unreachable_says_what_happened_and_what_to_check(
    why: Unreachable, says: str, check: str
) -> None:
    decision = policy().decide(
        unreachable(why), number=4, elapsed=10, began=10, unreachable_since=4, method="GET", path="/x"
    )
    assert not decision.retry and isinstance(decision.error, WorkspaceUnreachable)
    assert f"at 127.0.0.1:1: {says}" in str(decision.error) and check in str(decision.error)
    assert "of connection" not in str(decision.error)  # no connection id given: none made up


def test_a_refusal_after_a_long_run_of_5xx_still_gets_its_quick_retries() -> None:
    # Two minutes of 503s, then the proxy restarts: its refusals start a run of their own.
    decision = policy().decide(unreachable(), number=9, elapsed=120.0, began=120.0, method="GET", path="/x")
    assert decision.retry and decision.unreachable_since == 120.0
    after_an_answer = policy().decide(Answer(503, {}), number=10, elapsed=121.0, method="GET", path="/x")
    assert after_an_answer.retry and after_an_answer.unreachable_since is None


def test_the_call_deadline_still_bounds_the_quick_retries() -> None:
    decision = policy(deadline=0.5).decide(unreachable(), number=0, elapsed=0, method="GET", path="/x")
    assert not decision.retry and isinstance(decision.error, WorkspaceUnreachable)


def test_timeouts_and_dropped_connections_keep_the_long_policy() -> None:
    # Not "unreachable": the request may have gone out, and a slow workspace is no typo in the connection.
    for failure in (
        TransportFailure("read timeout", sent=True),
        TransportFailure("connect timeout", sent=False),
    ):
        decision = decide(failure, number=4, elapsed=200)
        assert decision.retry and decision.wait == 16 and decision.unreachable_since is None
    assert isinstance(decide(TransportFailure("read timeout", sent=True), CREATE).error, UnknownOutcome)


def test_the_sync_and_async_drivers_run_the_same_quick_retries() -> None:
    import asyncio

    from airflow_databricks_clusters.client.transport import call_async, call_sync

    def drive(run: str) -> tuple[list[float], str]:
        now, waits = [0.0], []

        def send() -> TransportFailure:
            return unreachable()

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            now[0] += seconds

        async def asend() -> TransportFailure:
            return send()

        async def asleep(seconds: float) -> None:
            sleep(seconds)

        options = {"method": "GET", "path": "/x", "clock": lambda: now[0], "conn_id": "databricks_default"}
        with pytest.raises(WorkspaceUnreachable) as caught:
            if run == "sync":
                call_sync(send, policy(), sleep=sleep, **options)  # type: ignore[arg-type]
            else:
                asyncio.run(call_async(asend, policy(), sleep=asleep, **options))  # type: ignore[arg-type]
        return waits, str(caught.value)

    sync = drive("sync")
    assert sync == drive("async")
    assert sync[0] == [1.0, 1.0, 2.0]
    assert sync[1].startswith("Cannot reach the Databricks workspace of connection databricks_default at ")
    assert "4 attempts in 4.0 s (GET /x: [Errno 111] Connection refused)" in sync[1]
