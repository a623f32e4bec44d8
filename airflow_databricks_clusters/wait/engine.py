"""The decision of every wait for a cluster state, made once. Pure: no I/O, no Airflow import.

A wait is told what each read of the cluster gave (an answer, or the error the hook raised) and the time,
and answers with the next step: ``Poll`` again after so many seconds, or a ``WaitOutcome``: reached,
failed (with the termination reason and events), timed out, gone, or ended by an API error. A wait
given ``libraries`` is reached only once the cluster is RUNNING and each of them is INSTALLED
(``wait.library_states``), and fails naming a library that failed; its driver reads the library statuses
only for such a wait, and only of a cluster in a target state (``reads_libraries``). The sync
loop (``wait.lifecycle.wait``), the trigger and the sensor only drive it, so they cannot disagree.

A ``WaitOutcome`` is also the one translation between a wait and the rest of the world: to a trigger
event (``to_event``) and back (``from_event``), and to the exception it stands for (``exception``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_databricks_clusters.errors import (
    ClusterFailed,
    ClusterGone,
    ClusterNotFound,
    ClusterTimeout,
    ClusterUnreadable,
    DatabricksClustersError,
    LibrariesFailed,
    MalformedAnswer,
    RateLimited,
    TransientApiError,
)
from airflow_databricks_clusters.wait.library_states import LibraryWatch
from airflow_databricks_clusters.wait.states import UNKNOWN, StateWatch, Verdict

#: The fields of a cluster that a wait reads and its outcome carries to a trigger event.
WAIT_FIELDS = ("cluster_id", "state", "state_message", "termination_reason")
#: Where a driver puts the ``library_statuses`` of ``libraries/cluster-status`` in the cluster it read, for
#: a wait that installs libraries.
LIBRARY_STATUSES = "library_statuses"

#: Unreadable answers in a row that a wait polls through (a proxy's error page now and then) before it
#: ends, naming the endpoint: a healthy cluster is not terminated for one bad answer, nor is a broken
#: endpoint polled until the deadline.
MALFORMED_READS_TOLERATED = 2


class OutcomeKind(str, enum.Enum):
    """How a wait ended; the value is the ``status`` of the trigger event."""

    REACHED = "success"
    FAILED = "failed"
    TIMED_OUT = "timeout"
    GONE = "gone"
    API_ERROR = "error"


@dataclass(frozen=True)
class WaitOutcome:
    """How a wait ended, with everything a task needs to report it.

    ``events`` (the last cluster events, newest first) are read by the driver for a failure only:
    ``needs_events`` says when, ``with_events`` adds them.
    """

    kind: OutcomeKind
    cluster_id: str
    target_states: tuple[str, ...]
    state: str | None = None
    state_message: str = ""
    termination_reason: dict[str, Any] | None = None
    events: tuple[dict[str, Any], ...] = ()
    waited_seconds: float = 0.0
    message: str = ""
    cluster: dict[str, Any] | None = field(default=None, compare=False)
    #: A library wait's failures (``{library, status, message}``) and what it still awaited.
    library_failures: tuple[dict[str, Any], ...] = ()
    libraries_pending: tuple[str, ...] = ()

    @property
    def reached(self) -> bool:
        return self.kind is OutcomeKind.REACHED

    @property
    def needs_events(self) -> bool:
        return self.kind is OutcomeKind.FAILED and not self.events

    def with_events(self, events: Sequence[Mapping[str, Any]]) -> WaitOutcome:
        return replace(self, events=tuple(dict(e) for e in events))

    def exception(self) -> DatabricksClustersError | None:
        """The exception this outcome stands for; None when the target was reached."""
        if self.kind is OutcomeKind.REACHED:
            return None
        if self.kind is OutcomeKind.FAILED and self.library_failures:
            return LibrariesFailed(self.cluster_id, self.library_failures)
        if self.kind is OutcomeKind.FAILED:
            return ClusterFailed(
                self.cluster_id,
                str(self.state),
                state_message=self.state_message,
                termination_reason=self.termination_reason,
                events=self.events,
            )
        if self.kind is OutcomeKind.TIMED_OUT:
            return ClusterTimeout(
                self.cluster_id,
                self.state or UNKNOWN,
                self.target_states,
                self.waited_seconds,
                libraries_pending=self.libraries_pending,
            )
        if self.kind is OutcomeKind.GONE:
            return ClusterGone(self.cluster_id, self.message)
        return ClusterUnreadable(self.cluster_id, self.message)

    def to_event(self) -> dict[str, Any]:
        """The trigger event payload (plain JSON types, as the triggerer stores it)."""
        return {
            "status": self.kind.value,
            "cluster_id": self.cluster_id,
            "target_states": list(self.target_states),
            "state": self.state,
            "state_message": self.state_message,
            "termination_reason": self.termination_reason,
            "events": [dict(e) for e in self.events],
            "waited_seconds": self.waited_seconds,
            "message": self.message,
            "library_failures": [dict(f) for f in self.library_failures],
            "libraries_pending": list(self.libraries_pending),
        }

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WaitOutcome:
        """The outcome a trigger event carries (events of older versions of this trigger included)."""
        kind = OutcomeKind(event.get("status", OutcomeKind.API_ERROR.value))
        if kind is OutcomeKind.API_ERROR and str(event.get("message") or "").endswith("does not exist"):
            # A trigger deferred before the upgrade reported a vanished cluster as a plain error.
            kind = OutcomeKind.GONE
        return cls(
            kind=kind,
            cluster_id=str(event.get("cluster_id")),
            target_states=tuple(event.get("target_states") or ()),
            state=event.get("state"),
            state_message=str(event.get("state_message") or ""),
            termination_reason=event.get("termination_reason"),
            events=tuple(event.get("events") or ()),
            waited_seconds=float(event.get("waited_seconds") or 0.0),
            message=str(event.get("message") or ""),
            library_failures=tuple(dict(f) for f in event.get("library_failures") or ()),
            libraries_pending=tuple(str(p) for p in event.get("libraries_pending") or ()),
        )


def wait_view(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """Only what a wait reads of ``cluster``: a driver that holds a thousand waits keeps no more of each
    answer than this, so the garbage collector has little to walk."""
    return {key: cluster[key] for key in (*WAIT_FIELDS, LIBRARY_STATUSES) if key in cluster}


@dataclass(frozen=True)
class Poll:
    """Read the cluster again after ``seconds``."""

    seconds: float


Step = Poll | WaitOutcome


@dataclass(frozen=True)
class Decision:
    """The next step, and what to tell the person watching (``info`` lines, one per line of the text, and
    ``warning`` lines)."""

    step: Step
    info: str | None = None
    warning: str | None = None


class ClusterWait:
    """One wait for ``cluster_id`` to reach one of ``target_states`` by ``deadline``.

    ``started_at``, ``deadline`` and every ``now`` are seconds on one clock of the driver's choosing
    (monotonic in a worker, the epoch in the triggerer, whose deadline survives a restart). Failed states
    default to ``wait.states.failed_states_for(target_states)``. A cluster that does not exist ends
    the wait as GONE; a passing API fault (5xx, 429, dropped connection beyond the hook's retries) is
    polled through until the deadline, and so are up to ``MALFORMED_READS_TOLERATED`` unreadable answers
    in a row; any other API error (and the next unreadable answer) ends it as API_ERROR.

    With ``libraries`` (library objects), reaching a target state is not enough: the cluster read must
    carry its ``library_statuses`` (the driver adds them when ``reads_libraries`` says so), and the wait
    is reached when each library is INSTALLED, fails when one will not be, and times out naming those
    still awaited.
    """

    def __init__(
        self,
        cluster_id: str,
        target_states: Iterable[str],
        *,
        started_at: float,
        deadline: float,
        polling_interval: float,
        failed_states: Iterable[str] | None = None,
        libraries: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.cluster_id = cluster_id
        self.libraries = LibraryWatch(cluster_id, libraries, started_at=started_at) if libraries else None
        self.libraries_pending: tuple[str, ...] = ()
        self.watch = StateWatch(cluster_id, target_states, started_at=started_at, failed_states=failed_states)
        self.target_states = self.watch.target_states
        self.started_at = started_at
        self.deadline = deadline
        self.polling_interval = polling_interval
        self.last: dict[str, Any] | None = None
        self.malformed_in_a_row = 0

    def _outcome(self, kind: OutcomeKind, now: float, **extra: Any) -> WaitOutcome:
        cluster = self.last or {}
        return WaitOutcome(
            kind=kind,
            cluster_id=self.cluster_id,
            target_states=self.target_states,
            state=cluster.get("state"),
            state_message=str(cluster.get("state_message") or ""),
            termination_reason=cluster.get("termination_reason"),
            waited_seconds=now - self.started_at,
            cluster=self.last,
            libraries_pending=self.libraries_pending,
            **extra,
        )

    def reads_libraries(self, cluster: Mapping[str, Any]) -> bool:
        """Whether the driver must read the library statuses with this cluster read: only a wait given
        libraries, and only once the cluster is in a target state (a starting cluster installs nothing)."""
        return self.libraries is not None and cluster.get("state") in self.target_states

    def _poll_or_time_out(self, now: float) -> Step:
        remaining = self.deadline - now
        if remaining <= 0:
            return self._outcome(OutcomeKind.TIMED_OUT, now)
        return Poll(min(self.polling_interval, remaining))

    def observe(self, cluster: Mapping[str, Any], now: float) -> Decision:
        """The next step after reading the cluster (a ``clusters/get`` answer) at ``now``."""
        self.last = dict(cluster)
        self.malformed_in_a_row = 0
        verdict, line = self.watch.observe(cluster, now)
        if verdict is Verdict.DONE and self.libraries is not None:
            return self._libraries_step(cluster, now, line)
        if verdict is Verdict.DONE:
            return Decision(self._outcome(OutcomeKind.REACHED, now), info=line)
        if verdict is Verdict.FAILED:
            return Decision(self._outcome(OutcomeKind.FAILED, now), info=line)
        return Decision(self._poll_or_time_out(now), info=line)

    def _libraries_step(self, cluster: Mapping[str, Any], now: float, line: str | None) -> Decision:
        assert self.libraries is not None
        statuses = cluster.get(LIBRARY_STATUSES)
        if not isinstance(statuses, list):  # the driver read the cluster before it reached the target
            return Decision(self._poll_or_time_out(now), info=line)
        verdict, changed = self.libraries.observe(statuses, now)
        info = "\n".join([*([line] if line else []), *changed]) or None
        self.libraries_pending = verdict.pending
        if verdict.verdict is Verdict.DONE:
            return Decision(self._outcome(OutcomeKind.REACHED, now), info=info)
        if verdict.verdict is Verdict.FAILED:
            failures = tuple(failure.to_json() for failure in verdict.failures)
            return Decision(self._outcome(OutcomeKind.FAILED, now, library_failures=failures), info=info)
        return Decision(self._poll_or_time_out(now), info=info)

    def read_failed(self, error: Exception, now: float) -> Decision:
        """The next step after the hook raised ``error`` reading the cluster at ``now``."""
        if isinstance(error, ClusterNotFound):
            return Decision(self._outcome(OutcomeKind.GONE, now, message=str(error)))
        if isinstance(error, MalformedAnswer):
            self.malformed_in_a_row += 1
        if isinstance(error, TransientApiError | RateLimited) or (
            isinstance(error, MalformedAnswer) and self.malformed_in_a_row <= MALFORMED_READS_TOLERATED
        ):
            # The hook already retried; the deadline, not one bad minute of the API, ends the wait.
            warning = f"Cluster {self.cluster_id}: could not read its state ({error}); retrying"
            return Decision(self._poll_or_time_out(now), warning=warning)
        return Decision(self._outcome(OutcomeKind.API_ERROR, now, message=str(error)))
