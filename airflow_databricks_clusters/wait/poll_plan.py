"""What one round of a workspace's shared poller reads, and when the next round is due. Pure: no I/O.

A round refreshes every cluster that a wait of the process is watching, with as few requests as the API
allows: one ``clusters/get`` per cluster while there are no more of them than pages the live-cluster list
would take, else the paged ``clusters/list`` filtered to the live states (a ``clusters/get`` then only for
a watched cluster the list does not show: terminated, or gone). ``wait/poller.py`` runs the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from airflow_databricks_clusters.wait.states import KNOWN_STATES, TERMINATED

#: The states a list round asks for: every state but TERMINATED, which a workspace keeps for 30 days and
#: so can outnumber the live clusters many times over. A cluster that is TERMINATED is read alone.
LISTED_STATES = tuple(sorted(KNOWN_STATES - {TERMINATED}))
#: Rounds never start closer together than this (or the shortest polling interval asked for, when that
#: is shorter): waits that arrive one by one join the next round instead of each starting one.
MIN_ROUND_GAP_SECONDS = 1.0


def reads_by_list(watched: int, list_pages: int) -> bool:
    """Whether a round reads the live-cluster list (True) or gets each of the ``watched`` clusters alone:
    whichever takes fewer requests, given how many pages the list took last time (1 before any list)."""
    return watched > max(1, list_pages)


def unlisted(watched: Set[str], listed: Set[str]) -> frozenset[str]:
    """The watched clusters a list round did not show."""
    return frozenset(cluster_id for cluster_id in watched if cluster_id not in listed)


def round_gap(intervals: Iterable[float]) -> float:
    """The least time between two rounds' starts, for waits polling at ``intervals``."""
    return min([MIN_ROUND_GAP_SECONDS, *intervals])


def next_round_at(dues: Iterable[float], last_started: float | None, gap: float) -> float | None:
    """When the next round starts: when the first wait is due, but not sooner than ``gap`` after the
    last round started. None when no wait is waiting."""
    earliest = min(dues, default=None)
    if earliest is None:
        return None
    if last_started is None:
        return earliest
    return max(earliest, last_started + gap)
