"""DatabricksClusterSensor: wait for a cluster to reach a state."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_databricks_clusters.cluster_states import (
    RUNNING,
    Verdict,
    assess,
    failed_states_for,
    validate_target_states,
)
from airflow_databricks_clusters.links import CLUSTER_URL_XCOM_KEY, DatabricksClusterLink
from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger, error_from_event

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_databricks_clusters.hooks import DatabricksClustersHook


class DatabricksClusterSensor(BaseSensorOperator):
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
    """

    template_fields: Sequence[str] = ("cluster_id", "target_states")
    operator_extra_links = (DatabricksClusterLink(),)

    def __init__(
        self,
        *,
        cluster_id: str,
        target_states: Iterable[str] = (RUNNING,),
        failed_states: Iterable[str] | None = None,
        deferrable: bool | None = None,
        databricks_conn_id: str = "databricks_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.target_states = validate_target_states(target_states)
        self.failed_states = None if failed_states is None else tuple(failed_states)
        self.deferrable = (
            conf.getboolean("operators", "default_deferrable", fallback=False)
            if deferrable is None
            else deferrable
        )
        self.databricks_conn_id = databricks_conn_id

    @cached_property
    def hook(self) -> DatabricksClustersHook:
        from airflow_databricks_clusters.hooks import DatabricksClustersHook

        return DatabricksClustersHook(self.databricks_conn_id)

    def _failed(self) -> frozenset[str]:
        if self.failed_states is None:
            return failed_states_for(self.target_states)
        return frozenset(self.failed_states)

    def poke(self, context: Context) -> bool:
        from airflow_databricks_clusters.lifecycle import failure, log_failure

        cluster = self.hook.get_cluster(self.cluster_id)
        state = str(cluster.get("state"))
        self.log.info("Cluster %s is %s %s", self.cluster_id, state, cluster.get("state_message") or "")
        verdict = assess(state, self.target_states, self._failed())
        if verdict is Verdict.FAILED:
            err = failure(self.hook, cluster)
            log_failure(err, self.log)
            raise AirflowFailException(str(err))
        return verdict is Verdict.DONE

    def execute(self, context: Context) -> Any:
        context["ti"].xcom_push(key=CLUSTER_URL_XCOM_KEY, value=self.hook.cluster_url(self.cluster_id))
        if not self.deferrable:
            return super().execute(context)
        # One poke first: a cluster already there needs no trip through the triggerer.
        if self.poke(context):
            return None
        now = time.time()
        self.defer(
            trigger=DatabricksClusterStateTrigger(
                cluster_id=self.cluster_id,
                databricks_conn_id=self.databricks_conn_id,
                target_states=list(self.target_states),
                failed_states=list(self._failed()),
                end_time=now + self.timeout,
                polling_interval=self.poke_interval,
                started_at=now,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + timedelta(minutes=10),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Resume after the trigger fired."""
        status = event.get("status")
        if status == "success":
            self.log.info("Cluster %s reached %s", self.cluster_id, event.get("state"))
            return
        if status == "failed":
            # The cluster will not leave a failed state on its own: retrying the sensor cannot help.
            raise AirflowFailException(str(error_from_event(event)))
        message = f"Cluster {self.cluster_id}: {status}: {event.get('message') or event.get('state')}"
        if status == "timeout":
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        raise AirflowException(message)
