"""Driving one cluster's life through the hook, synchronously: wait, find again, reuse, terminate.

I/O through ``DatabricksClustersHook`` only; no Airflow import, so the operators stay glue and these
steps can be tested against the emulator on their own. The async wait lives in ``triggers.py`` and
reaches its verdicts through the same ``cluster_states.StateWatch``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from airflow_databricks_clusters.cluster_states import (
    FAILURE_EVENT_COUNT,
    LIVE_STATES,
    RUNNING,
    STARTING_STATES,
    TERMINATED,
    TERMINATING,
    StateWatch,
    Verdict,
    event_line,
    termination_reason_text,
)
from airflow_databricks_clusters.errors import (
    ApiError,
    ClusterFailed,
    ClusterNotFound,
    ClusterTimeout,
    DatabricksClustersError,
    RateLimited,
    TransientApiError,
)

if TYPE_CHECKING:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

log = logging.getLogger(__name__)


class Logger(Protocol):
    """What these steps log through: a stdlib logger, or the task's own ``self.log`` in an operator."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...
    def warning(self, msg: Any, /, *args: Any) -> Any: ...
    def error(self, msg: Any, /, *args: Any) -> Any: ...


def wait_for_state(
    hook: DatabricksClustersHook,
    cluster_id: str,
    target_states: Iterable[str],
    *,
    timeout_seconds: float,
    polling_interval: float,
    failed_states: Iterable[str] | None = None,
    logger: Logger = log,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll ``clusters/get`` until the cluster reaches a target state; return that answer.

    Logs every state change with the time since the wait began. Raises ``ClusterFailed`` (with the
    termination reason and the last events) when a failed state is reached, ``ClusterTimeout`` when
    ``timeout_seconds`` pass first. Transient API errors that outlive the hook's retries are logged and
    polled through until the deadline.
    """
    started = clock()
    deadline = started + timeout_seconds
    watch = StateWatch(cluster_id, target_states, started_at=started, failed_states=failed_states)
    while True:
        try:
            cluster = hook.get_cluster(cluster_id)
        except (TransientApiError, RateLimited) as err:
            logger.warning("Cluster %s: could not read its state (%s); retrying", cluster_id, err)
        else:
            verdict, line = watch.observe(cluster, clock())
            if line:
                logger.info(line)
            if verdict is Verdict.DONE:
                return cluster
            if verdict is Verdict.FAILED:
                raise failure(hook, cluster)
        remaining = deadline - clock()
        if remaining <= 0:
            raise ClusterTimeout(
                cluster_id, watch.last_state or "unknown", watch.target_states, clock() - started
            )
        sleep(min(polling_interval, remaining))


def last_events(
    hook: DatabricksClustersHook, cluster_id: str, limit: int = FAILURE_EVENT_COUNT
) -> list[dict[str, Any]]:
    """The newest ``limit`` cluster events, or none when they cannot be read (a report must not fail)."""
    try:
        return list(hook.get_events(cluster_id, order="DESC", limit=limit))
    except ApiError as err:
        log.warning("Cluster %s: could not read its events: %s", cluster_id, err)
        return []


def failure(
    hook: DatabricksClustersHook, cluster: Mapping[str, Any], events: list[dict[str, Any]] | None = None
) -> ClusterFailed:
    """A ``ClusterFailed`` for a cluster that stopped on its way to a target state."""
    cluster_id = str(cluster.get("cluster_id"))
    return ClusterFailed(
        cluster_id,
        str(cluster.get("state")),
        state_message=str(cluster.get("state_message") or ""),
        termination_reason=cluster.get("termination_reason"),
        events=last_events(hook, cluster_id) if events is None else events,
    )


def log_failure(err: ClusterFailed, logger: Logger = log) -> None:
    """Tell the person watching the task why the cluster failed: reason first, then the event trail."""
    logger.error(
        "Cluster %s is %s: %s",
        err.cluster_id,
        err.state,
        termination_reason_text(err.termination_reason) or err.state_message or "no reason given",
    )
    for event in err.events:
        logger.error("  event %s", event_line(event))


def find_task_clusters(hook: DatabricksClustersHook, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every cluster (any state) that carries all ``tags``: live ones first, then the newest first."""
    clusters = hook.list_clusters(tags=tags)
    return sorted(
        clusters,
        key=lambda c: (c.get("state") in LIVE_STATES, c.get("start_time") or 0),
        reverse=True,
    )


def bring_back(
    hook: DatabricksClustersHook,
    cluster: Mapping[str, Any],
    *,
    polling_interval: float,
    timeout_seconds: float,
    logger: Logger = log,
    before_start: Callable[[str], None] | None = None,
) -> None:
    """Make a found cluster of this task instance head for RUNNING again, without creating another.

    RUNNING and the starting states need nothing. TERMINATED (by a user, autotermination, or an earlier
    try's cleanup) is started again; TERMINATING is first waited out, because ``start`` refuses it.
    ``before_start(cluster_id)`` runs on the terminated cluster just before ``start`` (the create operator
    edits it there to the spec of the try that starts it).
    """
    cluster_id = str(cluster["cluster_id"])
    state = str(cluster.get("state"))
    if state == RUNNING or state in STARTING_STATES:
        logger.info("Reusing cluster %s of this task instance (state %s)", cluster_id, state)
        return
    if state == TERMINATING:
        logger.info("Cluster %s of this task instance is TERMINATING; waiting to start it again", cluster_id)
        wait_for_state(
            hook,
            cluster_id,
            [TERMINATED],
            timeout_seconds=timeout_seconds,
            polling_interval=polling_interval,
            logger=logger,
        )
    reason = termination_reason_text(cluster.get("termination_reason"))
    logger.info(
        "Starting cluster %s of this task instance again (it was %s%s)",
        cluster_id,
        state,
        f": {reason}" if reason else "",
    )
    if before_start is not None:
        before_start(cluster_id)
    hook.start_cluster(cluster_id)


def terminate_quietly(
    hook: DatabricksClustersHook,
    cluster_id: str,
    why: str,
    logger: Logger = log,
) -> bool:
    """Terminate a cluster on a failure path; never raise, so the original error stays the one reported.

    Returns whether the terminate call was accepted (an unknown cluster counts as done).
    """
    logger.warning("Terminating cluster %s: %s", cluster_id, why)
    try:
        hook.terminate_cluster(cluster_id)
    except ClusterNotFound:
        logger.info("Cluster %s no longer exists", cluster_id)
    except (ApiError, DatabricksClustersError, OSError) as err:
        logger.error("Could not terminate cluster %s: %s. Terminate it by hand.", cluster_id, err)
        return False
    return True
