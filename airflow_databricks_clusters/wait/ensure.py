"""Ensuring a task instance has its one cluster: find it, reuse it, start it again, or create it.

Airflow-free (I/O through ``DatabricksClustersHook`` only), so it is tested against the emulator on its
own and the create operator only calls it. Its promises:

- **Never two.** Every cluster carries its task instance's tags. Before creating, the tags (and the id an
  earlier try recorded) are looked up; a found cluster is reused. Every create carries the task instance's
  ``idempotency_token``, so a create whose outcome is unknown (the answer was lost, or came back
  unreadable) is sent again with the same token, and the workspace answers it with the cluster the first
  one made, if it made one. The tags are the second line: after an unknown outcome they are looked up
  once more (and instead of answers that keep coming back unreadable), and every other live cluster
  carrying them is terminated (the newest one is kept). A lookup that cannot be read is an error, never
  "no clusters".
- **Never leaked.** Every exit after a create call either hands back a cluster id or terminates, by its
  tags, whatever that call may have created.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.cluster_spec.build import idempotency_token
from airflow_databricks_clusters.errors import ApiError, ClusterNotFound, UnknownOutcome
from airflow_databricks_clusters.wait.lifecycle import (
    Logger,
    find_task_clusters,
    terminate_live,
    terminate_quietly,
    terminate_tagged,
    wait_for_state,
)
from airflow_databricks_clusters.wait.states import (
    LIVE_STATES,
    RUNNING,
    STARTING_STATES,
    TERMINATED,
    TERMINATING,
    termination_reason_text,
)

if TYPE_CHECKING:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

log = logging.getLogger(__name__)

#: How many create calls one ``ensure_cluster`` sends at most, each after the tags showed no cluster.
CREATE_ATTEMPTS = 3


class Action(str, enum.Enum):
    """What ``ensure_cluster`` did to hand back a cluster."""

    REUSED = "reused"  # a live cluster of this task instance
    STARTED = "started"  # a terminated one, edited to this try's spec and started again
    CREATED = "created"
    FOUND = "found"  # a create whose answer was lost, sent again with its token: the workspace answered


@dataclass(frozen=True)
class Ensured:
    """The cluster of the task instance, what was done to get it, and the surplus clusters terminated."""

    cluster_id: str
    action: Action
    surplus_terminated: tuple[str, ...] = ()


Prepare = Callable[[dict[str, Any]], dict[str, Any]]


def _identity(spec: dict[str, Any]) -> dict[str, Any]:
    return spec


def ensure_cluster(
    hook: DatabricksClustersHook,
    spec: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    recorded_id: str | None = None,
    prepare: Prepare = _identity,
    polling_interval: float,
    timeout_seconds: float,
    logger: Logger = log,
    create_attempts: int = CREATE_ATTEMPTS,
) -> Ensured:
    """The one cluster of the task instance that ``tags`` name, heading for RUNNING.

    :param spec: the validated create spec (with ``tags`` among its ``custom_tags``).
    :param recorded_id: the id an earlier try recorded (Airflow 3.3's ``task_state_store``), if any.
    :param prepare: runs just before the spec is sent, to create or to edit a terminated cluster before
        starting it again (pre-flight checks, fresh ECR credentials); returns the spec to send.
    :param polling_interval, timeout_seconds: for waiting out a TERMINATING cluster before starting it.

    Raises what the workspace or ``prepare`` raised; after a create call, only once whatever it may have
    created has been terminated.
    """
    found = _tagged(hook, tags, recorded_id)
    keeper = found[0] if found else None
    surplus = tuple(_terminate_surplus(hook, found[1:], logger))
    if keeper is not None:
        action = _bring_back(hook, keeper, dict(spec), prepare, polling_interval, timeout_seconds, logger)
        return Ensured(str(keeper["cluster_id"]), action, surplus)
    return _create(hook, prepare(dict(spec)), tags, logger, create_attempts)


def _tagged(
    hook: DatabricksClustersHook, tags: Mapping[str, str], recorded_id: str | None
) -> list[dict[str, Any]]:
    """This task instance's clusters, the one to keep first: the newest live one, else the recorded one,
    else the newest."""
    found = find_task_clusters(hook, tags)
    if recorded_id and all(c["cluster_id"] != recorded_id for c in found):
        with contextlib.suppress(ClusterNotFound):
            found.append(hook.get_cluster(recorded_id))
    return sorted(
        found,
        key=lambda c: (
            c.get("state") in LIVE_STATES,
            c["cluster_id"] == recorded_id,
            c.get("start_time") or 0,
        ),
        reverse=True,
    )


def _terminate_surplus(
    hook: DatabricksClustersHook, others: list[dict[str, Any]], logger: Logger
) -> list[str]:
    why = "another cluster of this task instance is kept; one task instance runs one cluster"
    return terminate_live(hook, others, why, logger)


def _bring_back(
    hook: DatabricksClustersHook,
    cluster: Mapping[str, Any],
    spec: dict[str, Any],
    prepare: Prepare,
    polling_interval: float,
    timeout_seconds: float,
    logger: Logger,
) -> Action:
    """Make a found cluster head for RUNNING again, without creating another.

    RUNNING and the starting states need nothing. TERMINATED (by a user, autotermination, or an earlier
    try's cleanup) is edited to this try's spec (a task cleared after a fix runs the fix) and started;
    TERMINATING is first waited out, because ``start`` refuses it.
    """
    cluster_id = str(cluster["cluster_id"])
    state = str(cluster.get("state"))
    if state == RUNNING or state in STARTING_STATES:
        logger.info("Reusing cluster %s of this task instance (state %s)", cluster_id, state)
        return Action.REUSED
    reason = termination_reason_text(cluster.get("termination_reason"))
    logger.info(
        "Starting cluster %s of this task instance again (it was %s%s)",
        cluster_id,
        state,
        f": {reason}" if reason else "",
    )
    respec_and_start(
        hook,
        cluster_id,
        state,
        prepare(spec),
        polling_interval=polling_interval,
        timeout_seconds=timeout_seconds,
        logger=logger,
        why="this try's spec",
    )
    return Action.STARTED


def respec_and_start(
    hook: DatabricksClustersHook,
    cluster_id: str,
    state: str,
    spec: Mapping[str, Any],
    *,
    polling_interval: float,
    timeout_seconds: float,
    logger: Logger,
    why: str,
    before_start: Callable[[], None] | None = None,
) -> None:
    """Edit a stopped cluster to ``spec`` and start it again: the same cluster, never a second one.

    A TERMINATING cluster is first waited out, because ``edit`` and ``start`` refuse it. ``before_start``
    runs between the edit and the start, and may raise to keep the cluster stopped. A start that fails is
    followed by a terminate: it may have taken effect before the failure, and nothing would hold the
    cluster then.
    """
    if state == TERMINATING:
        logger.info("Cluster %s is TERMINATING; waiting for TERMINATED to start it again", cluster_id)
        wait_for_state(
            hook,
            cluster_id,
            [TERMINATED],
            timeout_seconds=timeout_seconds,
            polling_interval=polling_interval,
            logger=logger,
        )
    logger.info("Updating cluster %s to %s before starting it", cluster_id, why)
    hook.edit_cluster({**spec, "cluster_id": cluster_id})
    if before_start is not None:
        before_start()
    try:
        hook.start_cluster(cluster_id)
    except BaseException as err:
        terminate_quietly(hook, cluster_id, f"starting it again failed ({type(err).__name__})", logger)
        raise


def _create(
    hook: DatabricksClustersHook,
    spec: dict[str, Any],
    tags: Mapping[str, str],
    logger: Logger,
    attempts: int,
) -> Ensured:
    """Create the cluster with the task instance's token; send it again with the same token after an
    unknown outcome, then check the tags; clean up on every failing exit."""
    spec = {**spec, "idempotency_token": idempotency_token(tags)}
    uncertain = False
    attempt = 1
    answered: str | None = None
    try:
        while True:
            try:
                cluster_id = hook.create_cluster(spec)
            except UnknownOutcome as err:
                uncertain = True
                if attempt > 1:
                    # The resent create's answer was lost too (a proxy mangling every create answer):
                    # the token kept it to one cluster at most, and the tags find that one.
                    found = find_task_clusters(hook, tags)
                    if found:
                        logger.info("The create call did take effect: cluster %s", found[0]["cluster_id"])
                        extra = tuple(_terminate_surplus(hook, found[1:], logger))
                        return Ensured(str(found[0]["cluster_id"]), Action.FOUND, extra)
                if attempt >= attempts:
                    raise
                attempt += 1
                logger.warning(
                    "%s; sending the create again with the same idempotency token, which the workspace "
                    "answers with the cluster the first call made, if it made one (attempt %d of %d)",
                    err,
                    attempt,
                    attempts,
                )
                continue
            answered = cluster_id
            if uncertain:
                # The second line: a workspace that did not honour the token made a second cluster, or
                # the first one listed late. Keep the one answered; terminate any other.
                others = [c for c in find_task_clusters(hook, tags) if c["cluster_id"] != cluster_id]
                surplus = tuple(_terminate_surplus(hook, others, logger))
                logger.info(
                    "The create sent again was answered with cluster %s; %s",
                    cluster_id,
                    f"terminated {len(surplus)} other(s) carrying this task instance's tags"
                    if surplus
                    else "no other cluster carries this task instance's tags",
                )
                return Ensured(cluster_id, Action.FOUND, surplus)
            logger.info("Created cluster %s", cluster_id)
            return Ensured(cluster_id, Action.CREATED)
    except BaseException as err:
        # A workspace that answered with an error created nothing; after anything else (a lost answer, a
        # lookup that could not be read, a kill) a cluster may exist that nobody holds the id of.
        why = f"the create step failed ({type(err).__name__})"
        if answered is not None:
            # Its id is known: terminated even when the tags cannot be read (the lookup that just failed).
            terminate_quietly(hook, answered, why, logger)
        if uncertain or not isinstance(err, ApiError):
            terminate_tagged(hook, tags, why, logger)
        raise
