"""DatabricksClusterSensor: wait for a cluster to reach a state."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_databricks_clusters.links import DatabricksClusterLink, PushesClusterUrl

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_databricks_clusters.hooks import DatabricksClustersHook
    from airflow_databricks_clusters.wait.engine import ClusterWait, WaitOutcome


class DatabricksClusterSensor(PushesClusterUrl, BaseSensorOperator):
    """Wait until a Databricks cluster is in one of ``target_states`` (default RUNNING).

    :param cluster_id: the cluster to watch; templated (e.g. ``create.output``).
    :param target_states: states that end the wait with success.
    :param failed_states: states that fail the task at once, with the termination reason and the last
        cluster events; by default TERMINATING, TERMINATED and ERROR when waiting for a running state.
        These failures do not retry: the cluster will not leave them on its own.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); the deadline is
        the sensor's ``timeout``, kept across triggerer restarts.
    :param databricks_conn_id: the ``databricks`` connection.

    Supports ``mode="reschedule"``, ``poke_interval``, ``timeout``, ``exponential_backoff`` and
    ``soft_fail`` like any sensor. Pushes ``cluster_url`` (the "Databricks Cluster" link).

    Every poke is decided by the engine the create operator's waits use (``wait.engine.ClusterWait``), so
    poke, reschedule and deferred modes end the same way: a failed state or a cluster that does not exist
    fails the task without retries (``ClusterFailed`` / ``ClusterGone`` in the message); the timeout
    raises ``AirflowSensorTimeout`` naming the last state (skipped with ``soft_fail``); an answer that
    cannot be read (a refused token, a malformed body) raises ``ClusterUnreadable``, which retries.
    """

    template_fields: Sequence[str] = ("cluster_id", "target_states")
    operator_extra_links = (DatabricksClusterLink(),)

    def __init__(
        self,
        *,
        cluster_id: str,
        # cluster_states.RUNNING, spelled out so that a DAG file using the sensor does not load the states.
        target_states: Iterable[str] | str = ("RUNNING",),
        failed_states: Iterable[str] | None = None,
        deferrable: bool | None = None,
        databricks_conn_id: str = "databricks_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        # Checked when the task runs: a templated value is only known then.
        self.target_states = target_states
        self.failed_states = None if failed_states is None else tuple(failed_states)
        self.deferrable = (
            conf.getboolean("operators", "default_deferrable", fallback=False)
            if deferrable is None
            else deferrable
        )
        self.databricks_conn_id = databricks_conn_id
        self._started_at: float | None = None
        self._wait: ClusterWait | None = None
        self._wait_timeout = float(self.timeout)  # read again in execute: a cluster policy may change it

    @cached_property
    def hook(self) -> DatabricksClustersHook:
        from airflow_databricks_clusters.hooks import DatabricksClustersHook

        return DatabricksClustersHook(self.databricks_conn_id)

    def _targets(self) -> tuple[str, ...]:
        from airflow_databricks_clusters.wait.states import validate_target_states

        try:
            return validate_target_states(self.target_states)
        except ValueError as err:
            raise AirflowFailException(str(err)) from err

    def _engine(self) -> ClusterWait:
        from airflow_databricks_clusters.wait.engine import ClusterWait

        # One engine per execute: in poke mode it lives across pokes, so only state changes are logged.
        if self._wait is None:
            started = time.time() if self._started_at is None else self._started_at
            self._wait = ClusterWait(
                str(self.cluster_id),
                self._targets(),
                started_at=started,
                deadline=started + self._wait_timeout,
                polling_interval=self.poke_interval,
                failed_states=self.failed_states,
            )
        return self._wait

    def poke(self, context: Context) -> bool:
        """One read of the cluster, decided by the same engine as the sync wait and the trigger."""
        from airflow_databricks_clusters.wait.engine import Poll
        from airflow_databricks_clusters.wait.lifecycle import read_step

        engine = self._engine()
        decision = read_step(self.hook, engine, time.time, self.log)
        if not decision.info:
            self.log.info("Cluster %s is %s", self.cluster_id, (engine.last or {}).get("state"))
        if isinstance(decision.step, Poll):
            return False
        self._raise_for(decision.step)
        return True

    def _raise_for(self, outcome: WaitOutcome) -> None:
        """Nothing when the target was reached; otherwise the task's failure for the outcome."""
        from airflow_databricks_clusters.errors import ClusterFailed
        from airflow_databricks_clusters.wait.engine import OutcomeKind
        from airflow_databricks_clusters.wait.lifecycle import log_failure

        error = outcome.exception()
        if error is None:
            return
        if isinstance(error, ClusterFailed):
            log_failure(error, self.log)
        if self.soft_fail:
            raise AirflowSkipException(str(error)) from error
        if outcome.kind is OutcomeKind.TIMED_OUT:
            raise AirflowSensorTimeout(str(error)) from error
        if outcome.kind is OutcomeKind.API_ERROR:
            raise error  # a refused token or a broken answer: a retry may see it fixed
        # The cluster will not leave a failed state, nor reappear, on its own: a retry cannot help.
        raise AirflowFailException(str(error)) from error

    def execute(self, context: Context) -> Any:
        self._targets()
        self._wait_timeout = float(self.timeout)
        # The wait's deadline counts from the first try, as the sensor's own timeout does; recorded before
        # Airflow's clock starts, so this wait's timeout (with the cluster's state) is the one reported.
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            self._started_at = first.timestamp() if first else time.time()
        else:
            self._started_at = time.time()
        self.push_cluster_url(context, self.hook.cluster_url(str(self.cluster_id)))
        if not self.deferrable:
            # The engine's deadline decides the timeout, so it is reported like the sync and deferred
            # waits report it (with the cluster's last state). Airflow's own check, later by a poke
            # interval and a minute, only backs it up.
            self.timeout = self._wait_timeout + self.poke_interval + 60
            try:
                return super().execute(context)
            finally:
                self.timeout = self._wait_timeout
        from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger

        # One poke first: a cluster already there needs no trip through the triggerer.
        if self.poke(context):
            return None
        self.defer(
            trigger=DatabricksClusterStateTrigger(
                cluster_id=str(self.cluster_id),
                databricks_conn_id=self.databricks_conn_id,
                target_states=list(self._targets()),
                failed_states=None if self.failed_states is None else list(self.failed_states),
                end_time=self._started_at + self._wait_timeout,
                polling_interval=self.poke_interval,
                started_at=self._started_at,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self._wait_timeout) + timedelta(minutes=10),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Resume after the trigger fired: the same outcome, the same failure as a poke would give."""
        from airflow_databricks_clusters.wait.engine import WaitOutcome

        outcome = WaitOutcome.from_event(event)
        self._raise_for(outcome)
        self.log.info("Cluster %s reached %s", self.cluster_id, outcome.state)
