"""``DatabricksClusterSweeperOperator``: terminates the clusters no operator can clean up any more. Glue only.

The decisions are ``fleet.sweep_policy``'s; the API calls the hook's; terminating is
``wait.lifecycle.terminate_live``.
What is left here is Airflow's part: parameters and templating, reading task instances through the Task
SDK (never the metadata database), the log, and the report as XCom. Importing this module at DAG parse
time loads no HTTP client and none of the policy: those are imported when the task runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_databricks_clusters.fleet.sweep_policy import Lookup, TaskInstanceRef, Verdict
    from airflow_databricks_clusters.hooks import DatabricksClustersHook
    from airflow_databricks_clusters.wait.lifecycle import Logger

#: The default age floor, in minutes.
DEFAULT_MIN_AGE_MINUTES = 30
#: Terminate calls a sweep makes at once: a fleet's leaks end in seconds, within a workspace's rate limits.
TERMINATES_AT_ONCE = 8
#: DAG runs named in one Task SDK call (each call's query string stays a few kilobytes).
RUNS_PER_CALL = 100


class TaskInstanceReader(Protocol):
    """The part of the Task SDK's ``RuntimeTaskInstance`` (``context["ti"]``) a sweep reads through."""

    def get_task_states(
        self,
        dag_id: str,
        map_index: int | None = None,
        task_ids: list[str] | None = None,
        task_group_id: str | None = None,
        logical_dates: Any = None,
        run_ids: list[str] | None = None,
    ) -> dict[str, Any]: ...

    def get_dr_count(
        self,
        dag_id: str,
        logical_dates: Any = None,
        run_ids: list[str] | None = None,
        states: list[str] | None = None,
    ) -> int: ...


class DatabricksClusterSweeperOperator(BaseOperator):
    """Terminate the live clusters of this plugin whose task instance can no longer terminate them.

    A create task that dies without a retry (a worker SIGKILLed with ``retries=0``: the setup fails and its
    teardown is upstream_failed, so it never runs), or whose DAG run is deleted, leaves its cluster running
    until its autotermination, forever with ``autotermination_minutes=0``. Schedule this operator (every
    15 minutes, say; ``dags/databricks_cluster_sweeper.py``) to find those clusters by the tags the create
    operator puts on every cluster (``airflow_dag_id``, ``airflow_task_id``, ``airflow_run_id``,
    ``airflow_map_index``) and terminate them.

    It lists the workspace's live clusters (PENDING, RUNNING, RESTARTING, RESIZING), reads the state of each
    one's task instance through Airflow's Task SDK (one batch of calls per DAG, not one per cluster), and
    terminates a cluster when its task instance is failed, upstream_failed, skipped or removed; when it
    succeeded and its DAG run has finished (the teardown did not terminate it); or when its DAG run no
    longer exists. It never touches a cluster without those tags, one created by another workspace user
    than the connection's, one whose task instance is running, deferred, queued, scheduled, up for retry or
    reschedule, restarting or without a state, the cluster of a create that succeeded while its DAG run
    still runs (the pipeline is using it), nor one that started less than ``min_age_minutes`` ago. A tag
    value that may be a hashed rewrite of an id (``cluster_spec.build._tag_value``) is not trusted to say a
    run is gone.

    :param databricks_conn_id: the ``databricks`` connection; only clusters created by its user (or service
        principal) are swept. Two Airflow deployments sharing a workspace need different users (or
        ``dag_ids``): the other one's runs do not exist here, so its clusters would look orphaned.
    :param min_age_minutes: the age floor: clusters that started less than this many minutes ago are kept,
        whatever their task instance says (default 30). Templated; a number or its text.
    :param dry_run: report what it would terminate and terminate nothing (default False). Templated;
        ``true``/``false`` text is read too.
    :param dag_ids: sweep only the clusters of these DAGs (default: every DAG). Templated; a list, JSON list
        text or comma-separated text.

    One sweep lists the live clusters once, reads their task instances in batches (``RUNS_PER_CALL`` runs
    per call) and terminates the leaks ``TERMINATES_AT_ONCE`` at a time: at 1,000 live clusters it takes
    seconds (``benchmarks/fleet_scale.py``). Its DAG (``dags/databricks_cluster_sweeper.py``) runs with
    ``max_active_runs=1``, so a sweep that outlasts its interval never overlaps the next.

    Logs one line per live cluster (its task instance and state, what was done, and why) and a summary
    with the sweep's time. Returns (XCom ``return_value``) the report: ``{"seconds", "dry_run",
    "min_age_minutes", "dag_ids", "terminated", "would_terminate", "not_terminated", "kept",
    "ignored"}``, each list of ``{"cluster_id",
    "cluster_name", "cluster_state", "dag_id", "run_id", "task_id", "map_index", "state", "reason"}``
    (``state``: the task instance's state, ``none`` without one, ``dag_run_gone``, ``not_found`` or
    ``unreadable``; the task instance fields are null for a cluster without tags).

    Failure: a lookup that fails keeps the clusters it was for (reported, with the error), never terminates
    them. Bad parameters fail the task at once, without retries. A cluster list or user lookup that
    cannot be read fails the task with nothing terminated. A terminate call that is refused is reported
    in ``not_terminated``, the report is pushed, and then the task fails, after trying every other cluster.
    """

    # ``dry_run`` is kept as ``sweep_dry_run``: ``BaseOperator.dry_run()`` is a method of every operator.
    template_fields: Sequence[str] = ("min_age_minutes", "sweep_dry_run", "dag_ids")
    ui_color = "#ffd6c9"

    def __init__(
        self,
        *,
        databricks_conn_id: str = "databricks_default",
        min_age_minutes: float | str = DEFAULT_MIN_AGE_MINUTES,
        dry_run: bool | str = False,
        dag_ids: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.min_age_minutes = min_age_minutes
        self.sweep_dry_run = dry_run
        self.dag_ids = dag_ids

    @cached_property
    def hook(self) -> DatabricksClustersHook:
        from airflow_databricks_clusters.hooks import DatabricksClustersHook

        return DatabricksClustersHook(self.databricks_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        import time

        from airflow_databricks_clusters.fleet.sweep_policy import (
            Action,
            TaskInstanceRef,
            decide,
            identify,
            parse_settings,
            report_list,
            summary,
            sweep_report,
        )
        from airflow_databricks_clusters.wait.states import LIVE_STATES

        started = time.monotonic()
        try:
            settings = parse_settings(self.min_age_minutes, self.sweep_dry_run, self.dag_ids)
        except ValueError as err:
            raise AirflowFailException(str(err)) from None
        owner = self.hook.current_user().get("userName")
        if not isinstance(owner, str) or not owner:
            # Whose clusters are whose is the first guard: without it nothing is swept.
            raise AirflowException("The workspace did not say which user the connection is: nothing swept")
        clusters = self.hook.list_clusters(states=sorted(LIVE_STATES))
        refs = {str(c["cluster_id"]): identify(c, owner=owner, dag_ids=settings.dag_ids) for c in clusters}
        lookups = read_task_instances(
            context["ti"], [r for r in refs.values() if isinstance(r, TaskInstanceRef)], self.log
        )
        now = time.time()
        verdicts = []
        for cluster in clusters:
            ref = refs[str(cluster["cluster_id"])]
            lookup = lookups.get(ref) if isinstance(ref, TaskInstanceRef) else None
            verdicts.append(
                decide(
                    cluster,
                    lookup,
                    now=now,
                    min_age_minutes=settings.min_age_minutes,
                    owner=owner,
                    dag_ids=settings.dag_ids,
                )
            )
        leaks = [v for v in verdicts if v.action is Action.TERMINATE]
        terminated = [] if settings.dry_run else terminate_all(self.hook, leaks, self.log)
        for verdict in verdicts:
            done = report_list(verdict, settings.dry_run, terminated).replace("_", " ")
            log = self.log.warning if verdict.action is Action.TERMINATE else self.log.info
            log("%s", verdict.log_line(done))
        report = sweep_report(verdicts, settings, terminated, seconds=time.monotonic() - started)
        self.log.info("%s", summary(report))
        if report["not_terminated"]:
            context["ti"].xcom_push(key="return_value", value=report)
            ids = ", ".join(entry["cluster_id"] for entry in report["not_terminated"])
            raise AirflowException(f"Could not terminate leaked clusters {ids}: terminate them by hand")
        return report


def terminate_all(hook: DatabricksClustersHook, leaks: Sequence[Verdict], logger: Logger) -> list[str]:
    """Terminate the clusters of ``leaks``, ``TERMINATES_AT_ONCE`` at a time; the ids whose terminate was
    accepted. A refused one is logged and left out, never raised: every other one is still tried."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_databricks_clusters.wait.lifecycle import terminate_quietly

    def terminate(verdict: Verdict) -> bool:
        try:
            return terminate_quietly(hook, verdict.cluster_id, f"leak sweep: {verdict.reason}", logger)
        except Exception as err:
            # Whatever one terminate raises, every other leak is still tried and the report still made.
            logger.error("Could not terminate cluster %s: %s. Terminate it by hand.", verdict.cluster_id, err)
            return False

    with ThreadPoolExecutor(max_workers=TERMINATES_AT_ONCE, thread_name_prefix="sweep-terminate") as pool:
        accepted = list(pool.map(terminate, leaks))
    return [verdict.cluster_id for verdict, done in zip(leaks, accepted, strict=True) if done]


def read_task_instances(
    reader: TaskInstanceReader, refs: Iterable[TaskInstanceRef], logger: Logger
) -> dict[TaskInstanceRef, Lookup]:
    """What Airflow knows of each task instance, read through the Task SDK in a few calls per DAG.

    Per DAG: one ``get_task_states`` per map index among its clusters (usually one: create tasks are
    rarely mapped; the map index filter keeps ``task_id_<n>`` keys unambiguous), then one ``get_dr_count``
    for the runs in which no task instance was found (do they exist?) and one for the runs whose create
    succeeded (are they still running?); only a count that says "some" is split run by run. A DAG whose
    lookup fails gets ``Lookup.failed`` for all its task instances.
    """
    from airflow_databricks_clusters.fleet.sweep_policy import Lookup

    by_dag: dict[str, list[TaskInstanceRef]] = defaultdict(list)
    for ref in refs:
        by_dag[ref.dag_id].append(ref)
    found: dict[TaskInstanceRef, Lookup] = {}
    for dag_id, group in sorted(by_dag.items()):
        try:
            found.update(_read_dag(reader, dag_id, group))
        except Exception as err:
            # Whatever went wrong, the clusters stay: a sweep acts only on what it could read.
            logger.warning("Could not read the task instances of DAG %s: %s", dag_id, err)
            found.update({ref: Lookup.failed(f"{type(err).__name__}: {err}") for ref in group})
    return found


def _read_dag(
    reader: TaskInstanceReader, dag_id: str, refs: Sequence[TaskInstanceRef]
) -> dict[TaskInstanceRef, Lookup]:
    from airflow_databricks_clusters.fleet.sweep_policy import (
        ACTIVE_RUN_STATES,
        SUCCESS,
        Lookup,
        RunStatus,
        state_name,
    )

    states: dict[TaskInstanceRef, str | None] = {}
    by_map_index: dict[int, list[TaskInstanceRef]] = defaultdict(list)
    for ref in refs:
        by_map_index[ref.map_index].append(ref)
    for map_index, members in sorted(by_map_index.items()):
        for run_ids in _batches(sorted({m.run_id for m in members})):
            answer = reader.get_task_states(
                dag_id=dag_id,
                map_index=map_index,
                task_ids=sorted({m.task_id for m in members}),
                run_ids=run_ids,
            )
            asked = set(run_ids)
            for ref in members:
                if ref.run_id not in asked:
                    continue
                in_run = answer.get(ref.run_id) or {}
                if ref.state_key in in_run:
                    states[ref] = state_name(in_run[ref.state_key])
    # A run in which any of these task instances was found exists: another of its task instances that was
    # not found (a mapped one not expanded yet) is not in a gone run.
    seen = {r.run_id for r in states}
    unseen = sorted({r.run_id for r in refs} - seen)
    existing = seen | _matching(lambda ids: reader.get_dr_count(dag_id=dag_id, run_ids=ids), unseen)
    succeeded = sorted({r.run_id for r, state in states.items() if state == SUCCESS})
    active = _matching(
        lambda ids: reader.get_dr_count(dag_id=dag_id, run_ids=ids, states=list(ACTIVE_RUN_STATES)),
        succeeded,
    )
    lookups: dict[TaskInstanceRef, Lookup] = {}
    for ref in refs:
        if ref in states:
            run = RunStatus.UNKNOWN
            if ref.run_id in succeeded:
                run = RunStatus.ACTIVE if ref.run_id in active else RunStatus.FINISHED
            lookups[ref] = Lookup.of_task(states[ref], run)
        elif ref.run_id in existing:
            lookups[ref] = Lookup.no_task()
        else:
            lookups[ref] = Lookup.run_gone()
    return lookups


def _batches(run_ids: list[str]) -> list[list[str]]:
    return [run_ids[start : start + RUNS_PER_CALL] for start in range(0, len(run_ids), RUNS_PER_CALL)]


def _matching(count: Callable[[list[str]], int], run_ids: list[str]) -> set[str]:
    """The run ids a ``count`` of DAG runs matches, ``RUNS_PER_CALL`` at a time: a count that says none or
    all settles its ids in one call, one that says some is split in halves, so finding k matches among n
    runs takes about k·log2(n) calls, never one per run.

    Never counts no ids: an empty ``run_ids`` filter counts every run of the DAG.
    """
    found: set[str] = set()
    pending = _batches(run_ids)
    while pending:
        ids = pending.pop()
        if not ids:
            continue
        total = count(ids)
        if total >= len(ids):
            found.update(ids)
        elif total > 0:
            half = len(ids) // 2
            pending += [ids[:half], ids[half:]]
    return found
