"""A cluster's life through the hook, synchronously: wait for a state, read its last events, find a task
instance's clusters by their tags, terminate on a failure path without masking the failure.

I/O through ``DatabricksClustersHook`` only; no Airflow import, so the operators stay glue and these
steps can be tested against the emulator on their own (``wait/ensure.py`` builds on them). ``wait`` is the
sync driver of the one wait engine (``wait.engine.ClusterWait``); the trigger and the sensor are the
other two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from airflow_databricks_clusters.errors import (
    ApiError,
    ClusterFailed,
    ClusterNotFound,
    DatabricksClustersError,
    LibrariesFailed,
)
from airflow_databricks_clusters.wait.engine import LIBRARY_STATUSES, ClusterWait, Decision, WaitOutcome
from airflow_databricks_clusters.wait.states import (
    FAILURE_EVENT_COUNT,
    LIVE_STATES,
    event_line,
    termination_reason_text,
)

if TYPE_CHECKING:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

log = logging.getLogger(__name__)


class Logger(Protocol):
    """What these steps log through: a stdlib logger, or the task's own ``self.log`` in an operator."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...
    def warning(self, msg: Any, /, *args: Any) -> Any: ...
    def error(self, msg: Any, /, *args: Any) -> Any: ...


def wait(
    hook: DatabricksClustersHook,
    cluster_id: str,
    target_states: Iterable[str],
    *,
    timeout_seconds: float,
    polling_interval: float,
    failed_states: Iterable[str] | None = None,
    libraries: Sequence[Mapping[str, Any]] = (),
    logger: Logger = log,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitOutcome:
    """Drive a ``ClusterWait`` with ``clusters/get`` until it ends; return how it ended.

    Logs every state change with the time since the wait began; reads the last events for a failure.
    With ``libraries``, also waits for each of them to be INSTALLED (``libraries/cluster-status``, read
    only once the cluster is in a target state).
    """
    started = clock()
    engine = ClusterWait(
        cluster_id,
        target_states,
        started_at=started,
        deadline=started + timeout_seconds,
        polling_interval=polling_interval,
        failed_states=failed_states,
        libraries=libraries,
    )
    while True:
        step = read_step(hook, engine, clock, logger).step
        if isinstance(step, WaitOutcome):
            return step
        sleep(step.seconds)


def read_step(
    hook: DatabricksClustersHook, engine: ClusterWait, clock: Callable[[], float], logger: Logger = log
) -> Decision:
    """One read of the cluster fed to ``engine``: what it decided, logged, with a failure's last events.

    The step of the sync wait's loop, and the whole of one sensor poke.
    """
    try:
        cluster = hook.get_cluster(engine.cluster_id)
        if engine.reads_libraries(cluster):
            cluster[LIBRARY_STATUSES] = hook.library_statuses(engine.cluster_id)
    except ApiError as err:
        decision = engine.read_failed(err, clock())
    else:
        decision = engine.observe(cluster, clock())
    for line in (decision.info or "").splitlines():  # a line per library that changed
        logger.info(line)
    if decision.warning:
        logger.warning(decision.warning)
    step = decision.step
    if isinstance(step, WaitOutcome) and step.needs_events:
        return replace(decision, step=step.with_events(last_events(hook, engine.cluster_id)))
    return decision


def wait_for_state(
    hook: DatabricksClustersHook,
    cluster_id: str,
    target_states: Iterable[str],
    **options: Any,
) -> dict[str, Any]:
    """``wait`` that returns the cluster on reaching a target and raises the outcome's exception otherwise:
    ``ClusterFailed`` (reason and last events), ``ClusterTimeout``, ``ClusterGone``, ``ClusterUnreadable``.
    """
    outcome = wait(hook, cluster_id, target_states, **options)
    error = outcome.exception()
    if error is not None:
        raise error
    return dict(outcome.cluster or {})


def last_events(
    hook: DatabricksClustersHook, cluster_id: str, limit: int = FAILURE_EVENT_COUNT
) -> list[dict[str, Any]]:
    """The newest ``limit`` cluster events, or none when they cannot be read (a report must not fail)."""
    try:
        return list(hook.get_events(cluster_id, order="DESC", limit=limit))
    except ApiError as err:
        log.warning("Cluster %s: could not read its events: %s", cluster_id, err)
        return []


def log_library_failure(err: LibrariesFailed, logger: Logger = log) -> None:
    """Tell the person watching the task which library failed on the cluster, and the workspace's message."""
    for failure in err.failures:
        logger.error(
            "Cluster %s: library %s is %s: %s",
            err.cluster_id,
            failure.get("library"),
            failure.get("status"),
            failure.get("message") or "no message",
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


def find_task_clusters(hook: DatabricksClustersHook, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every cluster (any state) that carries all ``tags``: live ones first, then the newest first.

    An answer that cannot be read raises (``MalformedAnswer``, ...): never read as "no clusters".
    """
    clusters = hook.list_clusters(tags=tags)
    return sorted(
        clusters, key=lambda c: (c.get("state") in LIVE_STATES, c.get("start_time") or 0), reverse=True
    )


def terminate_tagged(
    hook: DatabricksClustersHook, tags: Mapping[str, str], why: str, logger: Logger = log
) -> None:
    """Terminate every live cluster carrying ``tags`` (a task instance's, whose cluster id was never learnt).

    Never raises: a lookup that fails is logged with the tags, so a person can find the cluster by hand.
    """
    try:
        clusters = find_task_clusters(hook, tags)
    except (ApiError, DatabricksClustersError, OSError) as err:
        shown = ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))
        logger.error("Could not look up the clusters tagged %s (%s): terminate them by hand", shown, err)
        return
    terminate_live(hook, clusters, why, logger)


def terminate_live(
    hook: DatabricksClustersHook, clusters: Iterable[Mapping[str, Any]], why: str, logger: Logger = log
) -> list[str]:
    """Terminate the live ones of ``clusters``, never raising; return the ids whose terminate was accepted."""
    return [
        str(cluster["cluster_id"])
        for cluster in clusters
        if cluster.get("state") in LIVE_STATES
        and terminate_quietly(hook, str(cluster["cluster_id"]), why, logger)
    ]
