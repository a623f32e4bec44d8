"""What a cluster's library statuses mean for a task that installs libraries: pure, no I/O, no Airflow.

``libraries/cluster-status`` answers ``{cluster_id, library_statuses: [{library, status, messages,
is_library_for_all_clusters}]}``. For the libraries a task asked for, ``assess_libraries`` says: keep
waiting (some are PENDING, RESOLVING, INSTALLING, or not listed yet), done (every one INSTALLED, or RESTORED
after a restart), or failed, naming each library that will not be installed and the workspace's message
(FAILED; SKIPPED, which a workspace never installs; UNINSTALL_ON_RESTART, which someone removed). A status
the API adds later is waited on. ``missing`` is what a retry or a reused cluster still has to install.
``LibraryWatch`` follows one wait and says which library changed state, and after how long. The sync wait,
the trigger and the sensor decide through the one wait engine (``wait.engine.ClusterWait``), which asks here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.cluster_spec.libraries import label, library_key
from airflow_databricks_clusters.wait.states import Verdict

PENDING = "PENDING"
RESOLVING = "RESOLVING"
INSTALLING = "INSTALLING"
INSTALLED = "INSTALLED"
FAILED = "FAILED"
UNINSTALL_ON_RESTART = "UNINSTALL_ON_RESTART"
SKIPPED = "SKIPPED"
RESTORED = "RESTORED"
#: Not in the answer yet: a status this client gives a library the workspace does not list.
NOT_LISTED = "NOT_LISTED"

#: States in which a library is there for the task to use.
INSTALLED_STATES = frozenset({INSTALLED, RESTORED})
#: States from which a library will not become installed without someone acting, and why.
FAILED_STATES: dict[str, str] = {
    FAILED: "the installation failed",
    SKIPPED: "the workspace skipped it (not compatible with the cluster's runtime)",
    UNINSTALL_ON_RESTART: "it is marked to be uninstalled at the next restart (someone removed it)",
}


@dataclass(frozen=True)
class LibraryFailure:
    """A library that will not be installed: its label, its status and the workspace's message."""

    library: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"{self.library} is {self.status}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"library": self.library, "status": self.status, "message": self.message}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> LibraryFailure:
        return cls(str(value.get("library")), str(value.get("status")), str(value.get("message") or ""))


@dataclass(frozen=True)
class LibrariesVerdict:
    """The verdict on the wanted libraries, the failures that make it FAILED, and what is still awaited
    (``label (STATUS)``)."""

    verdict: Verdict
    failures: tuple[LibraryFailure, ...] = ()
    pending: tuple[str, ...] = ()


def statuses_by_key(statuses: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Each listed status by its library's key (``cluster_spec.libraries.library_key``)."""
    return {
        library_key(entry.get("library") or {}): entry
        for entry in statuses
        if isinstance(entry, Mapping) and isinstance(entry.get("library"), Mapping)
    }


def status_of(library: Mapping[str, Any], listed: Mapping[tuple[str, str], Mapping[str, Any]]) -> str:
    entry = listed.get(library_key(library))
    return str(entry.get("status") or NOT_LISTED) if entry is not None else NOT_LISTED


def _message(entry: Mapping[str, Any] | None, status: str) -> str:
    messages = [str(m) for m in (entry or {}).get("messages") or () if str(m).strip()]
    return "; ".join(messages) if messages else FAILED_STATES.get(status, "")


def assess_libraries(
    wanted: Sequence[Mapping[str, Any]], statuses: Sequence[Mapping[str, Any]]
) -> LibrariesVerdict:
    """What ``statuses`` (``library_statuses`` of ``cluster-status``) mean for the ``wanted`` libraries."""
    listed = statuses_by_key(statuses)
    failures: list[LibraryFailure] = []
    pending: list[str] = []
    for library in wanted:
        status = status_of(library, listed)
        if status in INSTALLED_STATES:
            continue
        if status in FAILED_STATES:
            entry = listed.get(library_key(library))
            failures.append(LibraryFailure(label(library), status, _message(entry, status)))
        else:
            pending.append(f"{label(library)} ({status})")
    if failures:
        return LibrariesVerdict(Verdict.FAILED, tuple(failures), tuple(pending))
    if pending:
        return LibrariesVerdict(Verdict.WAITING, pending=tuple(pending))
    return LibrariesVerdict(Verdict.DONE)


def missing(
    wanted: Sequence[Mapping[str, Any]], statuses: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The wanted libraries the cluster does not list at all: what a retry or a reused cluster installs.

    One listed in any status is not sent again: a workspace keeps a cluster's libraries across restarts
    and installs them again itself, and a FAILED one stays FAILED until someone uninstalls it.
    """
    listed = statuses_by_key(statuses)
    return [dict(library) for library in wanted if library_key(library) not in listed]


def failure_text(failures: Sequence[LibraryFailure]) -> str:
    """The failures as one sentence of the task's error."""
    return "; ".join(str(failure) for failure in failures)


class LibraryWatch:
    """Follows the wanted libraries through one wait: a log line for each library whose status changed,
    with the time since ``started_at`` (seconds on the caller's clock, as every ``now``)."""

    def __init__(self, cluster_id: str, wanted: Sequence[Mapping[str, Any]], *, started_at: float) -> None:
        self.cluster_id = cluster_id
        self.wanted = [dict(library) for library in wanted]
        self.started_at = started_at
        self.last: dict[str, str] = {}
        self.done = False

    def observe(
        self, statuses: Sequence[Mapping[str, Any]], now: float
    ) -> tuple[LibrariesVerdict, list[str]]:
        """The verdict on this ``cluster-status`` answer, and a line per library whose status changed."""
        listed = statuses_by_key(statuses)
        elapsed = now - self.started_at
        lines = []
        for library in self.wanted:
            name, status = label(library), status_of(library, listed)
            before = self.last.get(name)
            if status != before:
                change = f"{before} -> {status}" if before else status
                lines.append(f"Cluster {self.cluster_id}: library {name} {change} after {elapsed:.0f} s")
                self.last[name] = status
        verdict = assess_libraries(self.wanted, statuses)
        if verdict.verdict is Verdict.DONE and not self.done:
            self.done = True
            lines.append(
                f"Cluster {self.cluster_id}: all {len(self.wanted)} "
                f"librar{'y' if len(self.wanted) == 1 else 'ies'} INSTALLED after {elapsed:.0f} s"
            )
        return verdict, lines
