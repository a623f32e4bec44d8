"""The Libraries API: libraries installed on clusters, and how far each install has got.

A library asked for on a cluster is installed while the cluster is up (RUNNING or RESIZING) and only then:
``library_seconds`` after the later of the request and the cluster's last start or restart (its
``last_restarted_time``) it is INSTALLED, or FAILED with the failure in ``messages`` when the
``library_failure`` scenario took it. Before that it is PENDING, then RESOLVING (packages and requirement
files, whose metadata is fetched first), then INSTALLING. On a cluster that is not up a library is
PENDING: it waits for the next start. After every restart, and a terminate and start, the cluster's
libraries install again. Uninstalling marks a library UNINSTALL_ON_RESTART; it is gone once the cluster
has started or restarted since. The same library asked for twice is one library (a second install of one
marked for uninstall keeps it); uninstalling one the cluster does not have is ignored. A terminated
cluster keeps its libraries; a permanently deleted one has none (``cluster-status`` answers that the
cluster does not exist, ``all-cluster-statuses`` leaves it out).

Lazy like the rest of the workspace: a status is worked out from the clock when it is read, so nothing is
planned and a read costs the libraries of the one cluster read. Held under the workspace's lock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.library_spec import (
    RESOLVED_KINDS,
    checked_libraries,
    failure_message,
    kind_of,
    name_of,
)
from airflow_databricks_clusters.emulator.request_params import one
from airflow_databricks_clusters.emulator.workspace import Workspace

#: Cluster states in which libraries install (the nodes are up).
UP_STATES = frozenset({"RUNNING", "RESIZING"})
#: Where each status begins, as a share of ``library_seconds`` after the install began.
_RESOLVED_PHASES = ((0.0, "PENDING"), (0.25, "RESOLVING"), (0.5, "INSTALLING"))
_FILE_PHASES = ((0.0, "PENDING"), (0.25, "INSTALLING"))
#: Statuses in which a library waits on nothing more of its own.
SETTLED = frozenset({"INSTALLED", "FAILED", "UNINSTALL_ON_RESTART", "SKIPPED", "RESTORED"})


class ClusterLibraries:
    """The libraries of every cluster of one workspace. ``library_seconds``: how long one install takes
    (emulated seconds, from when the cluster is up)."""

    def __init__(self, workspace: Workspace, *, library_seconds: float = 1.0) -> None:
        self.workspace = workspace
        self.library_seconds = library_seconds
        #: cluster id -> its libraries in the order they were asked for
        self._libraries: dict[str, list[dict[str, Any]]] = {}

    # -- the API -------------------------------------------------------------------------------------------

    def install(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST libraries/install``: add libraries to the cluster (installed while it is up)."""
        with self.workspace.lock:
            cluster = self._cluster(body.get("cluster_id"))
            wanted = checked_libraries(body.get("libraries"))
            self.add(cluster, wanted)
            self._changed()
            return {}

    def uninstall(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST libraries/uninstall``: mark libraries to go at the cluster's next start or restart."""
        with self.workspace.lock:
            cluster = self._cluster(body.get("cluster_id"))
            wanted = checked_libraries(body.get("libraries"))
            now = self.workspace.now()
            for entry in self._current(cluster):
                if entry["library"] in wanted and entry.get("uninstall_at") is None:
                    entry["uninstall_at"] = now
            self._changed()
            return {}

    def cluster_status(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET libraries/cluster-status``: the cluster's libraries, those to stay in the order they were
        asked for, then those marked for uninstall."""
        with self.workspace.lock:
            return self._answer(self._cluster(one(params.get("cluster_id"))))

    def all_cluster_statuses(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET libraries/all-cluster-statuses``: every cluster that has libraries, with their statuses."""
        with self.workspace.lock:
            statuses = []
            for cluster_id in list(self._libraries):
                try:
                    cluster = self.workspace.clusters_get({"cluster_id": cluster_id})
                except ApiError:  # permanently deleted: its libraries went with it
                    del self._libraries[cluster_id]
                    continue
                answer = self._answer(cluster)
                if answer.get("library_statuses"):
                    statuses.append(answer)
            return {"statuses": statuses}

    # -- for job runs and fast-forward ---------------------------------------------------------------------

    def add(self, cluster: Mapping[str, Any], libraries: list[dict[str, Any]]) -> None:
        """Ask for checked libraries on a cluster (``clusters/get`` view): the same library once."""
        entries = self._libraries.setdefault(cluster["cluster_id"], self._current(cluster))
        now = self.workspace.now()
        for library in libraries:
            same = next((e for e in entries if e["library"] == library), None)
            if same is not None:
                same.pop("uninstall_at", None)
                continue
            failure = self.workspace.take_scenario(
                "library_failure", cluster, accept=_matching(name_of(library))
            )
            entry: dict[str, Any] = {"library": copy.deepcopy(library), "added_at": now}
            if failure is not None:
                entry["failure"] = failure.get("message") or failure_message(library, cluster["cluster_id"])
            entries.append(entry)

    def statuses(self, cluster: Mapping[str, Any], libraries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The status of each of ``libraries`` on the cluster (``clusters/get`` view), as
        ``cluster-status`` shows it; PENDING for one the cluster does not have."""
        entries = self._current(cluster)
        now = self.workspace.now()
        found = []
        for library in libraries:
            entry = next((e for e in entries if e["library"] == library), None)
            if entry is None:
                found.append({"library": library, "status": "PENDING", "is_library_for_all_clusters": False})
            else:
                found.append(self._status(entry, cluster, now))
        return found

    def settled_at(self, cluster: Mapping[str, Any], libraries: list[dict[str, Any]]) -> float | None:
        """When the last of ``libraries`` ended its install on the cluster (up now); None while one has
        not (or the cluster does not have it, or is not up)."""
        if cluster["state"] not in UP_STATES:
            return None
        entries = [e for e in self._current(cluster) if e["library"] in libraries]
        if any(library not in [e["library"] for e in entries] for library in libraries):
            return None
        ends = [self._begun(entry, cluster) + self.library_seconds for entry in entries]
        now = self.workspace.now()
        if any(end > now for end in ends):
            return None
        return max(ends, default=now)

    def settles_at(self, cluster_id: Any) -> float | None:
        """When a library of the cluster next changes status while the cluster is up; None when every one
        rests, the cluster is not up (its own changes come first), or it does not exist."""
        with self.workspace.lock:
            try:
                cluster = self._cluster(cluster_id)
            except ApiError:
                return None
            if cluster["state"] not in UP_STATES:
                return None
            now = self.workspace.now()
            moments = [self._next_change(entry, cluster, now) for entry in self._current(cluster)]
            due = [moment for moment in moments if moment is not None]
            return min(due, default=None)

    # -- inside ------------------------------------------------------------------------------------------

    def _cluster(self, cluster_id: Any) -> dict[str, Any]:
        """The cluster's ``clusters/get`` view, brought up to now; the workspace's error when unknown."""
        return self.workspace.clusters_get({"cluster_id": cluster_id})

    def _current(self, cluster: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The cluster's libraries, less those uninstalled before its last start or restart."""
        entries = self._libraries.get(cluster["cluster_id"], [])
        restarted = _restarted(cluster)
        kept = [e for e in entries if e.get("uninstall_at") is None or e["uninstall_at"] >= restarted]
        if len(kept) != len(entries):
            entries[:] = kept
        if not entries:  # a cluster without libraries holds no place (all-cluster-statuses skips it)
            self._libraries.pop(cluster["cluster_id"], None)
        return entries

    def _answer(self, cluster: Mapping[str, Any]) -> dict[str, Any]:
        now = self.workspace.now()
        entries = self._current(cluster)
        ordered = [e for e in entries if e.get("uninstall_at") is None]
        ordered += [e for e in entries if e.get("uninstall_at") is not None]
        answer: dict[str, Any] = {"cluster_id": cluster["cluster_id"]}
        if ordered:
            answer["library_statuses"] = [self._status(e, cluster, now) for e in ordered]
        return answer

    def _begun(self, entry: Mapping[str, Any], cluster: Mapping[str, Any]) -> float:
        """When the library's install on the cluster's current run began."""
        return max(float(entry["added_at"]), _restarted(cluster))

    def _status(self, entry: Mapping[str, Any], cluster: Mapping[str, Any], now: float) -> dict[str, Any]:
        status, messages = "PENDING", []
        if entry.get("uninstall_at") is not None:
            status = "UNINSTALL_ON_RESTART"
        elif cluster["state"] in UP_STATES:
            elapsed = now - self._begun(entry, cluster)
            if elapsed >= self.library_seconds:
                status = "FAILED" if entry.get("failure") else "INSTALLED"
                messages = [entry["failure"]] if entry.get("failure") else []
            else:
                for share, name in _phases(entry["library"]):
                    if elapsed >= share * self.library_seconds:
                        status = name
        answer: dict[str, Any] = {"library": copy.deepcopy(entry["library"]), "status": status}
        if messages:
            answer["messages"] = messages
        answer["is_library_for_all_clusters"] = False
        return answer

    def _next_change(self, entry: Mapping[str, Any], cluster: Mapping[str, Any], now: float) -> float | None:
        if entry.get("uninstall_at") is not None:
            return None
        begun = self._begun(entry, cluster)
        moments = [begun + share * self.library_seconds for share, _ in _phases(entry["library"])]
        return next((m for m in [*moments, begun + self.library_seconds] if m > now), None)

    def _changed(self) -> None:
        if self.workspace.on_change is not None:
            self.workspace.on_change()

    # -- persistence ---------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        with self.workspace.lock:
            return copy.deepcopy(self._libraries)

    def load_json(self, data: Mapping[str, Any]) -> None:
        with self.workspace.lock:
            self._libraries = {str(k): copy.deepcopy(list(v)) for k, v in data.items()}


def _matching(name: str) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a ``library_failure``'s options pick the library called ``name`` (no ``match``: any)."""
    return lambda options: str(options.get("match") or "") in name


def _phases(library: Mapping[str, Any]) -> tuple[tuple[float, str], ...]:
    return _RESOLVED_PHASES if kind_of(library) in RESOLVED_KINDS else _FILE_PHASES


def _restarted(cluster: Mapping[str, Any]) -> float:
    """When the cluster last started or restarted (epoch seconds); 0 if it never has."""
    return float(cluster.get("last_restarted_time") or 0) / 1000
