"""One poller per workspace per event loop: every cluster wait of a triggerer shares its reads.

A trigger registers its cluster (``watch``) and asks for a fresh read no later than its next poll
(``Watch.read(within=...)``). The workspace's poller starts with the first wait of a connection, runs
rounds while any wait is registered, and stops (closing its pooled HTTP client) with the last. Each round
reads every watched cluster with as few requests as ``wait.poll_plan`` says (one ``clusters/get`` each for a
few, the paged live-cluster ``clusters/list`` for many) and wakes every waiting trigger with its cluster,
or with the API error that kept the round from reading it. Rounds start when the first wait is due, so the
polling interval a trigger asks for is the longest it goes without a fresh state; waits that arrive one
by one join the next round instead of each starting one (``wait.poll_plan.round_gap``).

A wait that installs libraries registers with ``libraries=True``: its cluster is then read alone each
round, and, once in a state the wait asks for, its ``libraries/cluster-status`` with it (the statuses under
``library_statuses``). Only those waits cost that request; every other cluster is read as before.

Everything a wait decides stays its own (``wait.engine.ClusterWait`` in the trigger): its deadline,
its messages, the events it reads for a failure, its ``on_kill``. The poller only reads states, through
its hook, and so through the hook's retry policy, the process's rate gate and OAuth token cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.client import answers
from airflow_databricks_clusters.errors import ApiError, MalformedAnswer, PermissionDenied
from airflow_databricks_clusters.wait.engine import LIBRARY_STATUSES, wait_view
from airflow_databricks_clusters.wait.poll_plan import (
    LISTED_STATES,
    next_round_at,
    reads_by_list,
    round_gap,
    unlisted,
)

if TYPE_CHECKING:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

log = logging.getLogger(__name__)

#: What one round gave a wait: its cluster as the API answers it, or the error that kept it unread.
Read = dict[str, Any] | ApiError
#: A long-lived poller reads its connection again after this long (a rotated token, a moved host).
CONNECTION_TTL_SECONDS = 300.0
LIST_PATH = "/api/2.1/clusters/list"
#: List reads at most in one round, before the clusters still unseen are read alone.
LIST_PASSES = 2
#: Clusters read alone at once; the process's rate gate spaces them further.
CONCURRENT_GETS = 8


class Watch:
    """One wait's place in its workspace's poller: ``read`` the next fresh state of ``cluster_id`` (with
    its library statuses in the ``library_states`` it names, for a wait that installs libraries)."""

    def __init__(
        self, poller: WorkspacePoller, cluster_id: str, library_states: frozenset[str] = frozenset()
    ) -> None:
        self.poller = poller
        self.cluster_id = cluster_id
        self.library_states = library_states
        self.due: float | None = None
        self._answer: asyncio.Future[Read] | None = None

    @property
    def waiting(self) -> bool:
        return self._answer is not None and not self._answer.done()

    async def read(self, within: float) -> Read:
        """The cluster as a round reads it, starting no later than ``within`` seconds from now."""
        if not self.poller.running:
            raise RuntimeError(f"the poller of connection {self.poller.conn_id} has stopped")
        self._answer = asyncio.get_running_loop().create_future()
        self.due = time.monotonic() + max(0.0, within)
        self.poller.wake()
        try:
            return await self._answer
        finally:
            self._answer = None
            self.due = None

    def deliver(self, read: Read | BaseException) -> None:
        if self._answer is None or self._answer.done():
            return
        if isinstance(read, BaseException) and not isinstance(read, ApiError):
            self._answer.set_exception(read)
        else:
            self._answer.set_result(read)


class WorkspacePoller:
    """The rounds of one connection in one event loop; made and ended by ``watch``."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self._hook: DatabricksClustersHook | None = None
        self._hook_made = 0.0
        self._renew_hook = False
        self._watches: dict[Watch, float] = {}  # each wait and its polling interval
        self._by_cluster: dict[str, set[Watch]] = {}
        self._reading_alone: dict[str, asyncio.Task[None]] = {}  # clusters with a get under way
        self._gets = asyncio.Semaphore(CONCURRENT_GETS)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._list_pages = 1
        self._last_started: float | None = None
        self.rounds = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        self._wake.set()

    def add(self, cluster_id: str, interval: float, library_states: frozenset[str] = frozenset()) -> Watch:
        watch = Watch(self, cluster_id, library_states)
        self._watches[watch] = interval
        self._by_cluster.setdefault(cluster_id, set()).add(watch)
        if self._task is None:
            log.info("Polling workspace of connection %s for cluster waits", self.conn_id)
            # In a context of its own: the first trigger's (its log routing, its task ids) is not the
            # poller's, which reads for every trigger.
            self._task = contextvars.Context().run(
                asyncio.get_running_loop().create_task, self._run(), name=f"poller:{self.conn_id}"
            )
        return watch

    def remove(self, watch: Watch) -> None:
        self._watches.pop(watch, None)
        others = self._by_cluster.get(watch.cluster_id, set())
        others.discard(watch)
        if not others:
            self._by_cluster.pop(watch.cluster_id, None)
        self.wake()

    def _deliver(self, cluster_id: str, read: Read | BaseException) -> None:
        for watch in list(self._by_cluster.get(cluster_id, ())):
            watch.deliver(read)

    # -- rounds --------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self._watches:
                due = [w for w in self._watches if w.waiting and w.cluster_id not in self._reading_alone]
                start = next_round_at(
                    [w.due for w in due if w.due is not None],
                    self._last_started,
                    # One wait alone polls exactly at its interval and its deadline, as it always did.
                    round_gap(self._watches.values()) if len(self._watches) > 1 else 0.0,
                )
                delay = None if start is None else start - time.monotonic()
                if delay is not None and delay <= 0:
                    await self._round({w.cluster_id for w in due}, _library_states(due))
                    continue
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            await self._stop()

    async def _stop(self) -> None:
        # Before the first await: a wait registering from now on makes a new poller.
        if _pollers_of_loop().get(self.conn_id) is self:
            del _pollers_of_loop()[self.conn_id]
        for task in self._reading_alone.values():
            task.cancel()
        for watch in self._watches:  # only when this task was cancelled with waits still registered
            watch.deliver(RuntimeError(f"the poller of connection {self.conn_id} was stopped"))
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.aclose()
        log.info("Stopped polling workspace of connection %s after %d round(s)", self.conn_id, self.rounds)

    async def _current_hook(self) -> DatabricksClustersHook:
        """The poller's hook; made again from the connection every ``CONNECTION_TTL_SECONDS`` and after a
        refusal (a rotated token), keeping the one it has when the connection cannot be read just now."""
        from airflow_databricks_clusters.hooks import DatabricksClustersHook

        stale = time.monotonic() - self._hook_made > CONNECTION_TTL_SECONDS or self._renew_hook
        if self._hook is not None and not stale:
            return self._hook
        fresh = DatabricksClustersHook(self.conn_id)
        try:
            await fresh.aconnect()
        except Exception as err:
            if self._hook is None:
                raise
            log.warning("Connection %s could not be read again (%s); polling with the one read before",
                        self.conn_id, err)  # fmt: skip
            self._hook_made = time.monotonic()
            return self._hook
        old, self._hook, self._hook_made, self._renew_hook = self._hook, fresh, time.monotonic(), False
        if old is not None:
            await old.aclose()
        return fresh

    async def _round(self, watched: set[str], library_states: dict[str, frozenset[str]]) -> None:
        """Read ``watched``: the live list first when it is the cheaper way, handed out as soon as it is
        read; then each cluster it did not show on its own, each handed out as it comes, so that one slow
        read holds back no other wait. The clusters of ``library_states`` are read alone, with their
        library statuses when in one of those states."""
        self._last_started = time.monotonic()
        self.rounds += 1
        try:
            hook = await self._current_hook()
        except Exception as err:
            for cluster_id in watched:
                self._deliver(cluster_id, err)
            return
        alone: frozenset[str] = frozenset(watched) - library_states.keys()
        # A second pass when many clusters were not on the list: most likely they changed while it was
        # read (a name edited, a state the filter was about to include), and one more list costs less
        # than reading each of them alone.
        for _ in range(LIST_PASSES):
            if not reads_by_list(len(alone), self._list_pages):
                break
            try:
                listed = await self._list(hook, alone)
            except MalformedAnswer as err:
                log.warning("Connection %s: the cluster list was unreadable (%s); reading each cluster alone",
                            self.conn_id, err)  # fmt: skip
                break
            except Exception as err:
                self._renew_hook = isinstance(err, PermissionDenied)
                for cluster_id in alone:
                    self._deliver(cluster_id, err)
                return
            alone = unlisted(alone, listed)
        for cluster_id in alone | library_states.keys():
            self._reading_alone[cluster_id] = asyncio.get_running_loop().create_task(
                self._read_alone(hook, cluster_id, library_states.get(cluster_id, frozenset()))
            )

    async def _list(self, hook: DatabricksClustersHook, watched: frozenset[str]) -> set[str]:
        """Read the live list, handing each watched cluster to its waits as its page comes; the ids shown.

        Sorted by name, which a state change does not move, so no cluster slips between two pages as it
        turns RUNNING. Only what a wait reads of each entry is kept (``wait_view``): a thousand full
        records per round would only feed the garbage collector, whose full passes stall the event loop.
        """
        listed: set[str] = set()
        pages = 0
        async for page in hook.alist_cluster_pages(states=LISTED_STATES, sort_by="CLUSTER_NAME"):
            pages += 1
            for cluster in page:
                cluster_id = str(cluster.get("cluster_id"))
                if cluster_id in watched:
                    listed.add(cluster_id)
                    self._deliver(cluster_id, _checked(cluster))
        self._list_pages = max(1, pages)
        return listed

    async def _read_alone(
        self, hook: DatabricksClustersHook, cluster_id: str, library_states: frozenset[str]
    ) -> None:
        read: Read | BaseException
        try:
            async with self._gets:
                cluster = wait_view(await hook.aget_cluster(cluster_id))
                if cluster.get("state") in library_states:
                    cluster[LIBRARY_STATUSES] = await hook.alibrary_statuses(cluster_id)
                read = cluster
        except PermissionDenied as err:
            self._renew_hook = True
            read = err
        except Exception as err:  # handed to this cluster's waits only
            read = err
        finally:
            self._reading_alone.pop(cluster_id, None)
        self._deliver(cluster_id, read)
        self.wake()


def _library_states(due: list[Watch]) -> dict[str, frozenset[str]]:
    """The clusters whose library statuses a round reads, each with the states in which it reads them."""
    states: dict[str, frozenset[str]] = {}
    for watch in due:
        if watch.library_states:
            states[watch.cluster_id] = states.get(watch.cluster_id, frozenset()) | watch.library_states
    return states


def _checked(listed: dict[str, Any]) -> Read:
    """A list entry, held to what a ``clusters/get`` answer must be before a wait decides on it."""
    try:
        return wait_view(answers.cluster(listed, "GET", LIST_PATH))
    except MalformedAnswer as err:
        return err


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WorkspacePoller]] = (
    weakref.WeakKeyDictionary()
)


def _pollers_of_loop() -> dict[str, WorkspacePoller]:
    return _pollers.setdefault(asyncio.get_running_loop(), {})


@contextlib.asynccontextmanager
async def watch(
    conn_id: str, cluster_id: str, interval: float, library_states: Iterable[str] = ()
) -> AsyncIterator[Watch]:
    """Register a wait for ``cluster_id``, polled at least every ``interval`` seconds, with the poller of
    ``conn_id`` in this event loop (made for it if there is none) for the ``async with`` block. With
    ``library_states``, each read in one of those states carries the cluster's library statuses."""
    pollers = _pollers_of_loop()
    poller = pollers.get(conn_id)
    if poller is None or (poller._task is not None and poller._task.done()):
        poller = pollers[conn_id] = WorkspacePoller(conn_id)
    registered = poller.add(cluster_id, interval, frozenset(library_states))
    try:
        yield registered
    finally:
        poller.remove(registered)
