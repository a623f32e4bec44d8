"""The one wait engine and its outcomes: decisions, events and exceptions (no I/O)."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.errors import (
    ClusterFailed,
    ClusterGone,
    ClusterNotFound,
    ClusterTimeout,
    ClusterUnreadable,
    InvalidParameter,
    MalformedAnswer,
    PermissionDenied,
    RateLimited,
    TransientApiError,
)
from airflow_databricks_clusters.wait.engine import ClusterWait, OutcomeKind, Poll, WaitOutcome

REASON = {"code": "INIT_SCRIPT_FAILURE", "type": "CLIENT_ERROR", "parameters": {"instance_id": "i-0abc"}}


def engine(targets: tuple[str, ...] = ("RUNNING",), deadline: float = 100.0) -> ClusterWait:
    return ClusterWait("c-1", targets, started_at=0.0, deadline=deadline, polling_interval=10.0)


def test_a_starting_cluster_is_polled_again_after_the_interval_and_the_change_is_logged() -> None:
    decision = engine().observe({"state": "PENDING", "state_message": "Finding instances"}, 5.0)
    assert decision.step == Poll(10.0)
    assert decision.info == "Cluster c-1: PENDING after 5 s (Finding instances)"


def test_the_last_poll_waits_only_until_the_deadline() -> None:
    assert engine().observe({"state": "PENDING"}, 95.0).step == Poll(5.0)


def test_reaching_the_target_carries_the_cluster() -> None:
    step = engine().observe({"state": "RUNNING", "cluster_id": "c-1"}, 42.0).step
    assert isinstance(step, WaitOutcome) and step.reached and step.exception() is None
    assert step.cluster == {"state": "RUNNING", "cluster_id": "c-1"}


def test_a_terminated_cluster_fails_the_wait_with_its_reason_and_needs_its_events() -> None:
    step = (
        engine()
        .observe(
            {"state": "TERMINATED", "state_message": "script failed", "termination_reason": REASON}, 50.0
        )
        .step
    )
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.FAILED and step.needs_events
    outcome = step.with_events([{"timestamp": 1, "type": "TERMINATING", "details": {}}])
    assert not outcome.needs_events
    error = outcome.exception()
    assert isinstance(error, ClusterFailed) and error.termination_reason == REASON
    assert "INIT_SCRIPT_FAILURE (CLIENT_ERROR) [instance_id=i-0abc]" in str(error)
    assert "TERMINATING" in str(error)


def test_the_deadline_times_out_with_the_last_state_seen() -> None:
    step = engine().observe({"state": "PENDING"}, 100.4).step
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.TIMED_OUT
    assert str(step.exception()) == "Cluster c-1 did not reach RUNNING within 100 s (last state PENDING)"


@pytest.mark.parametrize("error", [TransientApiError("HTTP 503"), RateLimited("HTTP 429", status=429)])
def test_passing_api_faults_are_polled_through_until_the_deadline(error: Exception) -> None:
    wait = engine()
    decision = wait.read_failed(error, 10.0)
    assert decision.step == Poll(10.0) and decision.warning and "retrying" in decision.warning
    step = wait.read_failed(error, 100.0).step
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.TIMED_OUT


def test_a_cluster_that_does_not_exist_is_gone() -> None:
    error = ClusterNotFound("Cluster c-1 does not exist", status=400, error_code="INVALID_PARAMETER_VALUE")
    step = engine().read_failed(error, 1.0).step
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.GONE
    assert isinstance(step.exception(), ClusterGone) and "does not exist" in str(step.exception())


@pytest.mark.parametrize(
    "error",
    [
        PermissionDenied("Invalid access token.", status=403),
        InvalidParameter("Invalid cluster_id", status=400, method="GET", path="/api/2.1/clusters/get"),
    ],
)
def test_any_other_api_error_ends_the_wait_at_once_naming_it(error: Exception) -> None:
    step = engine().read_failed(error, 1.0).step
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.API_ERROR
    exception = step.exception()
    assert isinstance(exception, ClusterUnreadable) and str(error) in str(exception)


def test_waiting_for_terminated_nothing_but_error_fails() -> None:
    wait = engine(("TERMINATED",))
    assert isinstance(wait.observe({"state": "TERMINATING"}, 1.0).step, Poll)
    step = wait.observe({"state": "TERMINATED"}, 2.0).step
    assert isinstance(step, WaitOutcome) and step.reached


@pytest.mark.parametrize(
    "outcome",
    [
        WaitOutcome(OutcomeKind.REACHED, "c-1", ("RUNNING",), state="RUNNING", waited_seconds=3.0),
        WaitOutcome(
            OutcomeKind.FAILED,
            "c-1",
            ("RUNNING",),
            state="TERMINATED",
            state_message="boom",
            termination_reason=REASON,
            events=({"timestamp": 1, "type": "TERMINATING", "details": {"reason": REASON}},),
        ),
        WaitOutcome(
            OutcomeKind.TIMED_OUT, "c-1", ("TERMINATED",), state="TERMINATING", waited_seconds=1200.4
        ),
        WaitOutcome(OutcomeKind.GONE, "c-1", ("RUNNING",), message="Cluster c-1 does not exist"),
        WaitOutcome(OutcomeKind.API_ERROR, "c-1", ("RUNNING",), message="HTTP 403: Invalid access token."),
    ],
    ids=lambda o: o.kind.name,
)
def test_an_outcome_survives_the_trip_through_a_trigger_event(outcome: WaitOutcome) -> None:
    back = WaitOutcome.from_event(outcome.to_event())
    assert back == outcome
    assert type(back.exception()) is type(outcome.exception())
    assert str(back.exception()) == str(outcome.exception())


def test_a_timeout_event_names_the_state_the_wait_was_for() -> None:
    outcome = WaitOutcome.from_event(
        {"status": "timeout", "cluster_id": "c-1", "state": "TERMINATING", "target_states": ["TERMINATED"],
         "waited_seconds": 1200.4}
    )  # fmt: skip
    assert isinstance(outcome.exception(), ClusterTimeout)
    expected = "Cluster c-1 did not reach TERMINATED within 1200 s (last state TERMINATING)"
    assert str(outcome.exception()) == expected


def test_a_few_unreadable_answers_are_polled_through_then_the_wait_ends_naming_the_endpoint() -> None:
    wait = engine()
    bad = MalformedAnswer("answered a body that is not JSON", status=200, method="GET", path="/clusters/get")
    assert isinstance(wait.read_failed(bad, 1.0).step, Poll)
    assert isinstance(wait.observe({"state": "PENDING"}, 2.0).step, Poll)  # a good answer resets the count
    assert isinstance(wait.read_failed(bad, 3.0).step, Poll)
    assert isinstance(wait.read_failed(bad, 4.0).step, Poll)
    step = wait.read_failed(bad, 5.0).step
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.API_ERROR
    assert "/clusters/get" in str(step.exception())


def test_an_older_triggers_error_for_a_vanished_cluster_reads_as_gone() -> None:
    outcome = WaitOutcome.from_event(
        {"status": "error", "cluster_id": "c-1", "message": "GET x: HTTP 400: Cluster c-1 does not exist"}
    )
    assert outcome.kind is OutcomeKind.GONE


def test_a_wait_keeps_only_the_fields_it_reads_of_a_cluster() -> None:
    from airflow_databricks_clusters.wait.engine import wait_view

    cluster = {
        "cluster_id": "c1", "state": "TERMINATED", "state_message": "gone",
        "termination_reason": {"code": "USER_REQUEST"}, "executors": [{"node_id": "n"}], "spec": {},
    }  # fmt: skip
    assert wait_view(cluster) == {
        "cluster_id": "c1", "state": "TERMINATED", "state_message": "gone",
        "termination_reason": {"code": "USER_REQUEST"},
    }  # fmt: skip
    assert wait_view({"cluster_id": "c1", "state": "PENDING"}) == {"cluster_id": "c1", "state": "PENDING"}


# -- a wait that installs libraries ------------------------------------------------------------------------

LIB = {"pypi": {"package": "pandas==2.2.2"}}


def library_wait() -> ClusterWait:
    return ClusterWait(
        "c-1", ("RUNNING",), started_at=0.0, deadline=100.0, polling_interval=10.0, libraries=[LIB]
    )


def statuses(state: str, *messages: str) -> list[dict[str, object]]:
    return [{"library": LIB, "status": state, "messages": list(messages)}]


def test_a_plain_wait_never_asks_for_library_statuses() -> None:
    assert not engine().reads_libraries({"state": "RUNNING"})


def test_a_library_wait_asks_for_them_only_in_a_target_state() -> None:
    wait = library_wait()
    assert not wait.reads_libraries({"state": "PENDING"})
    assert wait.reads_libraries({"state": "RUNNING"})


def test_running_is_not_reached_until_the_libraries_are_installed() -> None:
    wait = library_wait()
    assert wait.observe({"state": "RUNNING"}, 1.0).step == Poll(10.0)  # read without its statuses
    decision = wait.observe({"state": "RUNNING", "library_statuses": statuses("INSTALLING")}, 11.0)
    assert decision.step == Poll(10.0)
    assert decision.info == "Cluster c-1: library pypi:pandas==2.2.2 INSTALLING after 11 s"
    step = wait.observe({"state": "RUNNING", "library_statuses": statuses("INSTALLED")}, 21.0).step
    assert isinstance(step, WaitOutcome) and step.reached


def test_a_failed_library_fails_the_wait_through_the_event_naming_it() -> None:
    from airflow_databricks_clusters.errors import LibrariesFailed

    step = (
        library_wait()
        .observe({"state": "RUNNING", "library_statuses": statuses("FAILED", "no such pkg")}, 5.0)
        .step
    )
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.FAILED
    error = WaitOutcome.from_event(step.to_event()).exception()
    assert isinstance(error, LibrariesFailed)
    assert str(error) == "Cluster c-1: library installation failed: pypi:pandas==2.2.2 is FAILED: no such pkg"


def test_a_timeout_while_installing_names_the_libraries_still_awaited() -> None:
    wait = library_wait()
    wait.observe({"state": "RUNNING", "library_statuses": statuses("RESOLVING")}, 50.0)
    step = wait.observe({"state": "RUNNING", "library_statuses": statuses("INSTALLING")}, 100.0).step
    assert isinstance(step, WaitOutcome) and step.kind is OutcomeKind.TIMED_OUT
    error = WaitOutcome.from_event(step.to_event()).exception()
    assert isinstance(error, ClusterTimeout)
    assert "libraries not installed within 100 s: pypi:pandas==2.2.2 (INSTALLING)" in str(error)
