"""Reading each connected workspace's clusters for the Clusters page, at most once per ``max_age_seconds``.

Many open pages, each refreshing, must not multiply API calls: every page of an API server process reads
the same snapshot of a workspace, and a snapshot older than ``max_age_seconds`` is read again by the first
request that needs it. Never two reads of one workspace at once: while one runs, the others answer the
snapshot before it (or, when there is none yet, wait for that read), so a slow workspace holds one
request, not every one. A terminated cluster's events do not change, so they are read once and kept (the
newest ``ENDED_EVENTS_KEPT`` clusters' worth).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_databricks_clusters.errors import DatabricksClustersError
from airflow_databricks_clusters.fleet.sweep_policy import TaskInstanceRef, identify
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.wait.states import LIVE_STATES

log = logging.getLogger(__name__)

#: Events read per cluster: enough for its nodes lost and a spot fallback, bounded for a long-lived one.
EVENTS_PER_CLUSTER = 200
#: Terminated clusters whose events are kept between reads.
ENDED_EVENTS_KEPT = 2000


@dataclass(frozen=True)
class WorkspaceSnapshot:
    """One workspace's clusters as read at ``read_at`` (monotonic seconds), or why they could not be."""

    conn_id: str
    clusters: Sequence[dict[str, Any]] = ()
    owner: str = ""
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cluster_url: str = ""
    read_at: float = 0.0
    read_at_epoch: float = 0.0
    error: str | None = None


class FleetReader:
    """Snapshots of the clusters of each connection in ``conn_ids``, shared by every request.

    :param max_age_seconds: how old a snapshot may be before a request reads the workspace again.
    :param hook_factory: builds the hook of a connection (a fresh one per read, so a rotated token or an
        edited connection is picked up).
    """

    def __init__(
        self,
        conn_ids: Sequence[str],
        *,
        max_age_seconds: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        hook_factory: Callable[[str], DatabricksClustersHook] | None = None,
    ) -> None:
        self.conn_ids = tuple(conn_ids)
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._hook_factory = hook_factory or _page_hook
        self._snapshots: dict[str, WorkspaceSnapshot] = {}
        self._locks = {conn_id: threading.Lock() for conn_id in self.conn_ids}
        # Bumped by ``invalidate``: a read that began before a terminate must not be kept as fresh.
        self._generations = dict.fromkeys(self.conn_ids, 0)
        self._ended_events: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()
        self._ended_events_lock = threading.Lock()
        #: Workspace reads made (a snapshot each), for a test or a person to see the cache at work.
        self.reads = 0

    def hook(self, conn_id: str) -> DatabricksClustersHook:
        return self._hook_factory(conn_id)

    def snapshot(self, conn_id: str) -> WorkspaceSnapshot:
        if conn_id not in self._locks:
            raise KeyError(conn_id)
        current = self._fresh(conn_id)
        if current is not None:
            return current
        lock = self._locks[conn_id]
        if not lock.acquire(blocking=False):
            previous = self._snapshots.get(conn_id)
            if previous is not None:
                return previous  # another request is reading it: the one before serves meanwhile
            lock.acquire()
        try:
            # Whoever held the lock may have just read it: then this request uses that read.
            current = self._fresh(conn_id)
            while current is None:
                generation = self._generations[conn_id]
                self.reads += 1
                read = self._read(conn_id)
                if generation == self._generations[conn_id]:
                    self._snapshots[conn_id] = current = read
            return current
        finally:
            lock.release()

    def invalidate(self, conn_id: str) -> None:
        """Forget a workspace's snapshot (after a terminate), so the next request reads it again, and a
        read that is under way now is read again rather than kept."""
        self._generations[conn_id] += 1
        self._snapshots.pop(conn_id, None)

    def _fresh(self, conn_id: str) -> WorkspaceSnapshot | None:
        current = self._snapshots.get(conn_id)
        if current is not None and self._clock() - current.read_at < self.max_age_seconds:
            return current
        return None

    def _read(self, conn_id: str) -> WorkspaceSnapshot:
        read_at, read_at_epoch = self._clock(), time.time()
        hook = self.hook(conn_id)
        try:
            owner = hook.current_user().get("userName")
            if not isinstance(owner, str) or not owner:
                raise DatabricksClustersError("the workspace did not say which user the connection is")
            clusters = hook.list_clusters()
            events = {
                str(cluster["cluster_id"]): found
                for cluster in clusters
                if isinstance(identify(cluster, owner=owner), TaskInstanceRef)
                and (found := self._events(hook, conn_id, cluster)) is not None
            }
            url = hook.cluster_url("{cluster_id}")
        except Exception as err:
            # The page shows the workspace as unreadable, with what went wrong; the other workspaces
            # still show.
            log.warning("Clusters page: could not read the clusters of %s: %s", conn_id, err)
            return WorkspaceSnapshot(
                conn_id, read_at=read_at, read_at_epoch=read_at_epoch, error=_describe(err)
            )
        finally:
            hook.close()
        return WorkspaceSnapshot(conn_id, clusters, owner, events, url, read_at, read_at_epoch)

    def _events(
        self, hook: DatabricksClustersHook, conn_id: str, cluster: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        cluster_id = str(cluster["cluster_id"])
        ended = cluster.get("state") not in LIVE_STATES
        key = (conn_id, f"{cluster_id}@{cluster.get('terminated_time')}")
        if ended:
            with self._ended_events_lock:
                kept = self._ended_events.get(key)
                if kept is not None:
                    self._ended_events.move_to_end(key)
                    return kept
        try:
            events = hook.get_events(cluster_id, limit=EVENTS_PER_CLUSTER)
        except DatabricksClustersError:
            return None  # its nodes lost show as unknown; the rest of the row is still right
        if ended:
            with self._ended_events_lock:
                self._ended_events[key] = events
                while len(self._ended_events) > ENDED_EVENTS_KEPT:
                    self._ended_events.popitem(last=False)
        return events


def _page_hook(conn_id: str) -> DatabricksClustersHook:
    # A page waits for its answer: a few retries, not the five minutes a task may wait out.
    return DatabricksClustersHook(conn_id, timeout_seconds=10.0, retry_deadline_seconds=20.0)


def _describe(err: BaseException) -> str:
    # This plugin's errors are written to be shown (no secret: redaction happens where they are made);
    # anything else, from a library, is named by its type only.
    if not isinstance(err, DatabricksClustersError):
        return f"{type(err).__name__} (see the API server's log)"
    return f"{type(err).__name__}: {err}".splitlines()[0][:500]
