"""One poller per workspace per event loop: every cluster wait of a triggerer shares its reads.

A trigger registers its cluster (``watch``) and asks for a fresh read no later than its next poll
(``Watch.read(within=...)``). The workspace's poller starts with the first wait of a connection, runs
rounds while any wait is registered, and stops (closing its pooled HTTP client) with the last. Each round
reads every watched cluster with as few requests as ``poll_plan`` says (one ``clusters/get`` each for a
few, the paged live-cluster ``clusters/list`` for many) and wakes every waiting trigger with its cluster,
or with the API error that kept the round from reading it. Rounds start when the first wait is due, so the
polling interval a trigger asks for is the longest it goes without a fresh state; waits that arrive one
by one join the next round instead of each starting one (``poll_plan.round_gap``).

Everything a wait decides stays its own (``cluster_wait.ClusterWait`` in the trigger): its deadline,
its messages, the events it reads for a failure, its ``on_kill``. The poller only reads states, through
its hook, and so through the hook's retry policy, the process's rate gate and OAuth token cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.errors import ApiError
from airflow_databricks_clusters.poll_plan import (
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
#: Clusters read alone at once in one round; the process's rate gate spaces them further.
CONCURRENT_GETS = 8


class Watch:
    """One wait's place in its workspace's poller: ``read`` the next fresh state of ``cluster_id``."""

    def __init__(self, poller: WorkspacePoller, cluster_id: str) -> None:
        self.poller = poller
        self.cluster_id = cluster_id
        self.due: float | None = None
        self._answer: asyncio.Future[Read] | None = None

    @property
    def waiting(self) -> bool:
        return self._answer is not None and not self._answer.done()

    async def read(self, within: float) -> Read:
        """The cluster as a round reads it, starting no later than ``within`` seconds from now."""
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
        self._watches: dict[Watch, float] = {}  # each wait and its polling interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._list_pages = 1
        self._last_started: float | None = None
        self.rounds = 0

    def hook(self) -> DatabricksClustersHook:
        if self._hook is None:
            from airflow_databricks_clusters.hooks import DatabricksClustersHook

            self._hook = DatabricksClustersHook(self.conn_id)
            self._hook_made = time.monotonic()
        return self._hook

    def wake(self) -> None:
        self._wake.set()

    def add(self, cluster_id: str, interval: float) -> Watch:
        watch = Watch(self, cluster_id)
        self._watches[watch] = interval
        if self._task is None:
            log.info("Polling workspace of connection %s for cluster waits", self.conn_id)
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"poller:{self.conn_id}")
        return watch

    def remove(self, watch: Watch) -> None:
        self._watches.pop(watch, None)
        self.wake()

    # -- rounds --------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self._watches:
                waiting = [w for w in self._watches if w.waiting and w.due is not None]
                start = next_round_at(
                    [w.due for w in waiting if w.due is not None],
                    self._last_started,
                    round_gap(self._watches.values()),
                )
                delay = None if start is None else start - time.monotonic()
                if delay is not None and delay <= 0:
                    await self._round([w for w in self._watches if w.waiting])
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            await self._stop()

    async def _stop(self) -> None:
        # Before the first await: a wait registering from now on makes a new poller.
        if _pollers_of_loop().get(self.conn_id) is self:
            del _pollers_of_loop()[self.conn_id]
        for watch in self._watches:  # only when this task was cancelled with waits still registered
            watch.deliver(RuntimeError(f"the poller of connection {self.conn_id} was stopped"))
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.aclose()
        log.info("Stopped polling workspace of connection %s after %d round(s)", self.conn_id, self.rounds)

    async def _fresh_hook(self) -> DatabricksClustersHook:
        if self._hook is not None and time.monotonic() - self._hook_made > CONNECTION_TTL_SECONDS:
            old, self._hook = self._hook, None
            await old.aclose()
        return self.hook()

    async def _round(self, waiting: list[Watch]) -> None:
        self._last_started = time.monotonic()
        self.rounds += 1
        watched = {w.cluster_id for w in waiting}
        try:
            reads = await self._read(await self._fresh_hook(), watched)
        except Exception as err:  # handed to each waiting trigger, which raises it
            for watch in waiting:
                watch.deliver(err)
            return
        for watch in waiting:
            watch.deliver(reads[watch.cluster_id])

    async def _read(self, hook: DatabricksClustersHook, watched: set[str]) -> dict[str, Read]:
        reads: dict[str, Read] = {}
        alone: Iterable[str] = watched
        if reads_by_list(len(watched), self._list_pages):
            listed: dict[str, dict[str, Any]] = {}
            pages = 0
            try:
                async for page in hook.alist_cluster_pages(states=LISTED_STATES):
                    pages += 1
                    listed.update((str(c.get("cluster_id")), c) for c in page)
            except ApiError as err:
                return dict.fromkeys(watched, err)
            self._list_pages = max(1, pages)
            reads.update((cluster_id, listed[cluster_id]) for cluster_id in watched if cluster_id in listed)
            alone = unlisted(watched, listed)
        reads.update(await self._get_each(hook, alone))
        return reads

    async def _get_each(self, hook: DatabricksClustersHook, cluster_ids: Iterable[str]) -> dict[str, Read]:
        limit = asyncio.Semaphore(CONCURRENT_GETS)

        async def get(cluster_id: str) -> tuple[str, Read]:
            async with limit:
                try:
                    return cluster_id, await hook.aget_cluster(cluster_id)
                except ApiError as err:
                    return cluster_id, err

        return dict(await asyncio.gather(*(get(c) for c in cluster_ids)))


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WorkspacePoller]] = (
    weakref.WeakKeyDictionary()
)


def _pollers_of_loop() -> dict[str, WorkspacePoller]:
    return _pollers.setdefault(asyncio.get_running_loop(), {})


@contextlib.asynccontextmanager
async def watch(conn_id: str, cluster_id: str, interval: float) -> AsyncIterator[Watch]:
    """Register a wait for ``cluster_id``, polled at least every ``interval`` seconds, with the poller of
    ``conn_id`` in this event loop (made for it if there is none) for the ``async with`` block."""
    pollers = _pollers_of_loop()
    poller = pollers.get(conn_id)
    if poller is None:
        poller = pollers[conn_id] = WorkspacePoller(conn_id)
    registered = poller.add(cluster_id, interval)
    try:
        yield registered
    finally:
        poller.remove(registered)
