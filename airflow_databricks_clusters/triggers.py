"""DatabricksClusterStateTrigger: waits in the triggerer for a cluster to reach a state."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_databricks_clusters.errors import ApiError, ClusterNotFound
from airflow_databricks_clusters.wait.engine import ClusterWait, Poll, WaitOutcome
from airflow_databricks_clusters.wait.states import FAILURE_EVENT_COUNT


class DatabricksClusterStateTrigger(BaseTrigger):
    """Wait in the triggerer until a cluster reaches ``target_states``; fire one event with the outcome.

    Every wait on one connection in a triggerer shares that workspace's poller (``wait/poller.py``):
    one pooled HTTP client, one OAuth token, and rounds that read all the watched clusters at once (a
    ``clusters/get`` each while they are few, the paged ``clusters/list`` of live clusters when many), so
    a thousand waits cost the workspace a few requests per interval and the triggerer almost nothing.
    Alone, a wait reads its cluster with ``clusters/get`` every ``polling_interval``, as it always did.

    :param cluster_id: the cluster to watch.
    :param databricks_conn_id: the ``databricks`` connection (the official provider's connection type).
    :param target_states: states that end the wait with success (e.g. ``["RUNNING"]``).
    :param end_time: absolute deadline, seconds since the epoch. It is part of the serialised trigger, so a
        triggerer restart resumes the same deadline instead of starting a new one.
    :param polling_interval: the longest the wait goes without a fresh read of the cluster, in seconds.
    :param failed_states: states that end the wait with failure; by default TERMINATING, TERMINATED and
        ERROR when waiting for a running state, ERROR only when waiting for TERMINATED.
    :param started_at: when the wait began (seconds since the epoch), for the elapsed times in the log.
    :param terminate_on_kill: terminate the cluster when a user kills the deferred task (mark failed /
        success, clear). Not on a triggerer restart: the wait then simply resumes elsewhere.
    :param libraries: library objects that must also be INSTALLED once a target state is reached (the
        create operator's ``libraries``, installed before it deferred); only such a wait reads the
        cluster's library statuses, and a library that fails ends it as ``failed`` with
        ``library_failures``.
    :param resume_with: what the task needs to go on after the wait (plain JSON), handed back in the event
        as ``resume_with``: the event, not the deferral's kwargs, because ``dag.test()`` replaces those
        with the event alone.

    The event payload is ``wait.engine.WaitOutcome.to_event()``: ``status`` (``success``, ``failed``,
    ``timeout``, ``gone`` or ``error``), ``cluster_id``, ``state``, ``state_message``,
    ``termination_reason``, ``target_states``, ``events`` (the last cluster events on failure),
    ``waited_seconds`` and ``message``; ``WaitOutcome.from_event`` reads it back and ``exception()`` gives
    the exception it stands for. The decisions are those of the sync wait and the sensor
    (``wait.engine.ClusterWait``): transient API errors (5xx, 429, dropped connections beyond the hook's
    retries) do not end the wait; they are retried until ``end_time``.
    """

    def __init__(
        self,
        *,
        cluster_id: str,
        databricks_conn_id: str,
        target_states: Iterable[str],
        end_time: float,
        polling_interval: float = 30.0,
        failed_states: Iterable[str] | None = None,
        started_at: float | None = None,
        terminate_on_kill: bool = False,
        resume_with: dict[str, Any] | None = None,
        libraries: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.cluster_id = cluster_id
        self.databricks_conn_id = databricks_conn_id
        self.target_states = list(target_states)
        self.end_time = float(end_time)
        self.polling_interval = float(polling_interval)
        self.failed_states = None if failed_states is None else list(failed_states)
        self.started_at = time.time() if started_at is None else float(started_at)
        self.terminate_on_kill = terminate_on_kill
        self.resume_with = resume_with
        self.libraries = None if not libraries else [dict(library) for library in libraries]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # A plain wait serialises as before the libraries came: a triggerer of that version still runs it.
        libraries = {"libraries": self.libraries} if self.libraries else {}
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cluster_id": self.cluster_id,
                "databricks_conn_id": self.databricks_conn_id,
                "target_states": self.target_states,
                "end_time": self.end_time,
                "polling_interval": self.polling_interval,
                "failed_states": self.failed_states,
                "started_at": self.started_at,
                "terminate_on_kill": self.terminate_on_kill,
                "resume_with": self.resume_with,
                **libraries,
            },
        )

    def _hook(self, *, paced: bool = True) -> Any:
        # Imported here so that loading this module (the operators import it at DAG parse time) stays cheap.
        from airflow_databricks_clusters.hooks import DatabricksClustersHook

        return DatabricksClustersHook(self.databricks_conn_id, paced=paced)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        outcome = await self._wait()
        if outcome.needs_events:
            outcome = outcome.with_events(await self._last_events())
        payload = outcome.to_event()
        if self.resume_with is not None:
            payload["resume_with"] = self.resume_with
        yield TriggerEvent(payload)

    async def _wait(self) -> WaitOutcome:
        """Feed the wait engine the reads of the workspace's shared poller until it gives an outcome."""
        # Imported here so that loading this module (the operators import it at DAG parse time) stays cheap.
        from airflow_databricks_clusters.wait.poller import watch

        engine = ClusterWait(
            self.cluster_id,
            self.target_states,
            started_at=self.started_at,
            deadline=self.end_time,
            polling_interval=self.polling_interval,
            failed_states=self.failed_states,
            libraries=self.libraries or (),
        )
        library_states = self.target_states if self.libraries else ()
        async with watch(
            self.databricks_conn_id, self.cluster_id, self.polling_interval, library_states
        ) as reads:
            within = 0.0
            while True:
                read = await reads.read(within)
                now = time.time()
                if isinstance(read, ApiError):
                    decision = engine.read_failed(read, now)
                else:
                    decision = engine.observe(read, now)
                for line in (decision.info or "").splitlines():  # a line per library that changed
                    self.log.info(line)
                if decision.warning:
                    self.log.warning(decision.warning)
                if not isinstance(decision.step, Poll):
                    return decision.step
                within = decision.step.seconds

    async def _last_events(self) -> list[dict[str, Any]]:
        try:
            async with self._hook() as hook:
                events: list[dict[str, Any]] = await hook.aget_events(
                    self.cluster_id, limit=FAILURE_EVENT_COUNT
                )
        except ApiError as err:
            self.log.warning("Cluster %s: could not read its events: %s", self.cluster_id, err)
            return []
        return events

    async def on_kill(self) -> None:
        """A user killed the deferred task: terminate the cluster it was waiting for, if asked to."""
        if not self.terminate_on_kill:
            return
        self.log.info("Task killed while deferred: terminating cluster %s", self.cluster_id)
        # Not paced: a kill of many tasks at once must not queue its terminations behind the fleet's polling
        # (Airflow gives on_kill 30 s).
        async with self._hook(paced=False) as hook:
            try:
                await hook.aterminate_cluster(self.cluster_id)
            except ClusterNotFound:
                self.log.info("Cluster %s no longer exists", self.cluster_id)
