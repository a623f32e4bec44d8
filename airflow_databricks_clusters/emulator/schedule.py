"""When each cluster next has something due: what lets a request bring the workspace up to date by
looking only at the clusters whose time has come, however many clusters it holds.

A heap of ``(due, place, cluster id)``. Each cluster has at most one live entry, at or before the moment
its next step (or its autotermination) falls due; the workspace plans a cluster again after anything that
may bring that moment forward. An entry is only a promise to look: a cluster whose moment moved later
since (activity postponing its autotermination) is looked at early, finds nothing due, and is planned
again. Entries replaced by earlier ones stay in the heap, ignored, until popped or compacted away.
"""

from __future__ import annotations

import heapq
import itertools

#: Rebuild the heap from the live entries when it holds this many more than them (and twice as many).
_SLACK = 64


class DueSchedule:
    """The clusters' next due moments; the caller holds the workspace's lock."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        #: cluster id -> the due moment of its live entry
        self._live: dict[str, float] = {}
        #: cluster id -> its place in the workspace (creation order), which breaks ties
        self._place: dict[str, int] = {}
        self._places = itertools.count()

    def add(self, cluster_id: str) -> None:
        """A new cluster (or one loaded from the state file), placed after every other."""
        self._place[cluster_id] = next(self._places)

    def remove(self, cluster_id: str) -> None:
        """A cluster that is gone; its entries are ignored from now on."""
        self._place.pop(cluster_id, None)
        self._live.pop(cluster_id, None)

    def plan(self, cluster_id: str, due: float | None) -> None:
        """The cluster has something due at ``due`` (None: nothing planned)."""
        if due is None:
            self._live.pop(cluster_id, None)
            return
        current = self._live.get(cluster_id)
        if current is not None and current <= due:
            return  # looked at by then anyway, and planned again from what is due at that point
        self._live[cluster_id] = due
        heapq.heappush(self._heap, (due, self._place[cluster_id], cluster_id))
        if len(self._heap) > 2 * len(self._live) + _SLACK:
            self._compact()

    def take_due(self, now: float) -> list[str]:
        """The clusters with an entry due by ``now``, in creation order (the order the workspace has
        always brought its clusters up to date in, which decides who draws which random id or takes a
        scenario first). Their entries are used up: plan each one again once it is advanced."""
        due: list[str] = []
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= now:
            at, _, cluster_id = heapq.heappop(heap)
            if live.get(cluster_id) == at:
                del live[cluster_id]
                due.append(cluster_id)
        due.sort(key=self._place.__getitem__)
        return due

    def __len__(self) -> int:
        """How many entries the heap holds, ignored ones included."""
        return len(self._heap)

    def _compact(self) -> None:
        self._heap = [(at, self._place[cluster_id], cluster_id) for cluster_id, at in self._live.items()]
        heapq.heapify(self._heap)
