"""Reading each connected workspace's clusters for the Clusters page, at most once per ``max_age_seconds``.

A read costs the workspace's ``clusters/list`` pages and one ``Me``, however many clusters it holds: the
table is made from the list alone (``fleet.rows``). It lists the clusters that are not at rest (PENDING,
RUNNING, RESTARTING, RESIZING, TERMINATING: what a person acts on, and all the orphan rule needs) first
and publishes them at once, with the previous read's terminated clusters beside them, as a *partial*
snapshot; then it lists the ones at rest (TERMINATED, ERROR, UNKNOWN) and publishes the complete snapshot.
So the first page of a large workspace shows after its live clusters are read, not after all of them.

Many open pages, each refreshing, must not multiply API calls: every request of an API server process
reads the same snapshot of a workspace. A snapshot older than ``max_age_seconds`` is read again in the
background when a request asks for it; until that read publishes, requests get the snapshot they had.
Never two reads of one workspace at once. Only when there is no snapshot yet (the first request, or after
a terminate: ``invalidate``) does a request wait, for the new read's live clusters.

A cluster's events are read only when a person opens its row (``events``): at most
``EVENT_READS_AT_ONCE`` at a time per API server process, a live cluster's kept for ``max_age_seconds``
and a terminated one's (they no longer change) kept for good (the newest ``ENDED_EVENTS_KEPT``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.errors import DatabricksClustersError
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.wait.states import LIVE_STATES

log = logging.getLogger(__name__)

#: Events read for an opened row: enough for its nodes lost and a spot fallback, in one request.
EVENTS_PER_CLUSTER = 200
#: Clusters whose events are kept between openings.
ENDED_EVENTS_KEPT = 2000
#: Events calls one API server process makes at once (a workspace rate-limits them).
EVENT_READS_AT_ONCE = 4
#: The states listed first: every cluster not at rest.
NOT_AT_REST = (*sorted(LIVE_STATES), "TERMINATING")
#: The states listed second.
AT_REST = ("TERMINATED", "ERROR", "UNKNOWN")
#: How long a request with no snapshot to show waits for a read's live clusters.
FIRST_READ_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class WorkspaceSnapshot:
    """One workspace's clusters as read at ``read_at`` (monotonic seconds), or why they could not be.

    ``complete``: False while the clusters at rest are still being listed (those shown are the previous
    read's); ``error``: why the read failed (``clusters`` then holds what was read before it failed).
    """

    conn_id: str
    clusters: Sequence[dict[str, Any]] = ()
    owner: str = ""
    cluster_url: str = ""
    read_at: float = 0.0
    read_at_epoch: float = 0.0
    error: str | None = None
    complete: bool = True

    def cluster(self, cluster_id: str) -> dict[str, Any] | None:
        return next((c for c in self.clusters if str(c.get("cluster_id")) == cluster_id), None)


class _Reads:
    """One workspace's snapshots and the read under way, guarded by ``changed``."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.shown: WorkspaceSnapshot | None = None  # the newest published, partial or complete
        self.last_complete: WorkspaceSnapshot | None = None
        self.reading = False
        # Bumped by ``invalidate``: a read that began before a terminate is never published.
        self.generation = 0


class FleetReader:
    """Snapshots of the clusters of each connection in ``conn_ids``, shared by every request.

    :param max_age_seconds: how old a snapshot may be before a request has the workspace read again.
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
        self._reads = {conn_id: _Reads() for conn_id in self.conn_ids}
        self._events: OrderedDict[tuple[str, str, Any], tuple[float, list[dict[str, Any]]]] = OrderedDict()
        self._events_lock = threading.Lock()
        self._event_reads = threading.BoundedSemaphore(EVENT_READS_AT_ONCE)
        #: Workspace reads begun, for a test or a person to see the cache at work.
        self.reads = 0

    def hook(self, conn_id: str) -> DatabricksClustersHook:
        return self._hook_factory(conn_id)

    def snapshot(self, conn_id: str) -> WorkspaceSnapshot:
        """The newest snapshot of ``conn_id``'s workspace; a stale or missing one has a read begun."""
        return self.snapshots([conn_id])[0]

    def snapshots(self, conn_ids: Sequence[str]) -> list[WorkspaceSnapshot]:
        """The newest snapshot of each workspace, every read that is due begun before any is waited for (a
        first load of N workspaces waits for the slowest, not for their sum)."""
        for conn_id in conn_ids:
            with self._reads[conn_id].changed:
                self._begin_if_due(conn_id)
        return [self._newest(conn_id) for conn_id in conn_ids]

    def _begin_if_due(self, conn_id: str) -> None:
        """Begin a read unless the snapshot is complete and fresh or a read is under way (lock held)."""
        reads = self._reads[conn_id]
        shown = reads.shown
        if shown is not None and shown.complete and self._clock() - shown.read_at < self.max_age_seconds:
            return
        if not reads.reading:
            reads.reading = True
            self.reads += 1
            threading.Thread(
                target=self._read_until_current, args=(conn_id,), name=f"clusters-page-{conn_id}", daemon=True
            ).start()

    def _newest(self, conn_id: str) -> WorkspaceSnapshot:
        reads = self._reads[conn_id]
        deadline = time.monotonic() + FIRST_READ_WAIT_SECONDS
        with reads.changed:
            while reads.shown is None:
                # Forgotten (a terminate) since the read was begun, and maybe after it ended: begin another.
                self._begin_if_due(conn_id)
                left = deadline - time.monotonic()
                if left <= 0:
                    why = f"the workspace was still being read after {FIRST_READ_WAIT_SECONDS:.0f} s"
                    return WorkspaceSnapshot(conn_id, error=why, complete=False)
                reads.changed.wait(left)
            return reads.shown

    def wait_complete(self, conn_id: str, timeout: float) -> WorkspaceSnapshot | None:
        """The workspace's snapshot once a read has published a complete one (None after ``timeout`` s)."""
        reads = self._reads[conn_id]
        self.snapshot(conn_id)
        with reads.changed:
            if reads.changed.wait_for(lambda: reads.shown is not None and reads.shown.complete, timeout):
                return reads.shown
        return None

    def invalidate(self, conn_id: str) -> None:
        """Forget a workspace's snapshot (after a terminate), so the next request waits for a new read, and
        a read that is under way now is read again rather than published."""
        reads = self._reads[conn_id]
        with reads.changed:
            reads.generation += 1
            reads.shown = None

    def _read_until_current(self, conn_id: str) -> None:
        reads = self._reads[conn_id]
        try:
            while True:
                with reads.changed:
                    generation = reads.generation
                final = self._read(conn_id, generation)
                with reads.changed:
                    if final is not None and generation == reads.generation:
                        # Shown and the read marked over in one step: a request after it finds a fresh
                        # snapshot or no read under way, never a read about to end without it.
                        self._show(conn_id, final)
                        reads.reading = False
                        return
        except BaseException:
            with reads.changed:
                reads.reading = False
                reads.changed.notify_all()
            raise

    def _show(self, conn_id: str, snapshot: WorkspaceSnapshot) -> None:
        """Make ``snapshot`` the one requests get (the workspace's lock held)."""
        reads = self._reads[conn_id]
        reads.shown = snapshot
        if snapshot.complete and snapshot.error is None:
            reads.last_complete = snapshot
        reads.changed.notify_all()

    def _read(self, conn_id: str, generation: int) -> WorkspaceSnapshot | None:
        """One read: its live clusters shown as soon as they are listed, then the complete snapshot (or the
        error, with what was read before it) returned. None: a terminate made it stale midway."""
        reads = self._reads[conn_id]
        read_at, read_at_epoch = self._clock(), time.time()
        shown: list[dict[str, Any]] = []
        owner = url = ""
        hook: DatabricksClustersHook | None = None
        try:
            hook = self.hook(conn_id)
            found = hook.current_user().get("userName")
            if not isinstance(found, str) or not found:
                raise DatabricksClustersError("the workspace did not say which user the connection is")
            owner, url = found, hook.cluster_url("{cluster_id}")
            moving = hook.list_clusters(states=NOT_AT_REST)
            moving_ids = {str(c["cluster_id"]) for c in moving}
            # Beside them, the clusters the last read found at rest. One that was live then and has come to
            # rest since is missing until the rest is listed: shown with its old state, it would read as
            # live (a Terminate button on a terminated cluster).
            previous = reads.last_complete
            shown = [
                *moving,
                *(
                    c
                    for c in (previous.clusters if previous is not None else ())
                    if c.get("state") in AT_REST and str(c["cluster_id"]) not in moving_ids
                ),
            ]
            with reads.changed:
                if generation != reads.generation:
                    return None
                self._show(
                    conn_id,
                    WorkspaceSnapshot(conn_id, shown, owner, url, read_at, read_at_epoch, complete=False),
                )
            resting = hook.list_clusters(states=AT_REST)
        except Exception as err:
            # The page shows the workspace as unreadable, with what went wrong and what was read before it;
            # the other workspaces still show.
            log.warning("Clusters page: could not read the clusters of %s: %s", conn_id, err)
            return WorkspaceSnapshot(conn_id, shown, owner, url, read_at, read_at_epoch, error=_describe(err))
        finally:
            if hook is not None:
                hook.close()
        # A cluster that came to rest between the two lists is in both: its later entry is kept. One that
        # started again between them is in neither, until the next read.
        rested = {str(c["cluster_id"]) for c in resting}
        clusters = [c for c in moving if str(c["cluster_id"]) not in rested] + resting
        return WorkspaceSnapshot(conn_id, clusters, owner, url, read_at, read_at_epoch)

    def events(self, conn_id: str, cluster: dict[str, Any]) -> list[dict[str, Any]]:
        """The newest ``EVENTS_PER_CLUSTER`` events of ``cluster`` (an entry of a snapshot), newest first.

        Raises ``DatabricksClustersError`` when the workspace refuses them."""
        cluster_id = str(cluster["cluster_id"])
        # Ended for good: at rest with its termination time (a TERMINATING one still gets events).
        ended = cluster.get("state") in AT_REST and bool(cluster.get("terminated_time"))
        key = (conn_id, cluster_id, cluster.get("terminated_time") if ended else None)
        with self._events_lock:
            kept = self._events.get(key)
            if kept is not None and (ended or self._clock() - kept[0] < self.max_age_seconds):
                self._events.move_to_end(key)
                return kept[1]
        with self._event_reads:
            hook = self.hook(conn_id)
            try:
                read_at = self._clock()
                events = hook.get_events(cluster_id, limit=EVENTS_PER_CLUSTER)
            finally:
                hook.close()
        with self._events_lock:
            self._events[key] = (read_at, events)
            while len(self._events) > ENDED_EVENTS_KEPT:
                self._events.popitem(last=False)
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
