"""What the operators of this package share: the hook, the cluster link and its XCom, deferring a wait,
the S3 log report. Airflow glue only, like ``operators.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf

from airflow_databricks_clusters.links import DatabricksClusterLink, PushesClusterUrl

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_databricks_clusters.hooks import DatabricksClustersHook
    from airflow_databricks_clusters.wait.engine import WaitOutcome

#: Extra time Airflow's own deferral timeout allows beyond the trigger's deadline. The trigger reports a
#: timeout itself so the operator can terminate the cluster; Airflow's timeout is only the last resort.
DEFERRAL_MARGIN = timedelta(minutes=10)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class ClusterOperatorBase(PushesClusterUrl, BaseOperator):
    """What every operator here shares: the hook, the cluster link and its XCom, deferring a wait, the S3
    log report."""

    operator_extra_links = (DatabricksClusterLink(),)

    def __init__(
        self,
        *,
        polling_interval: float,
        timeout: float | timedelta,
        deferrable: bool | None = None,
        databricks_conn_id: str = "databricks_default",
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.aws_conn_id = aws_conn_id
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self.polling_interval = float(polling_interval)
        self.timeout_seconds = _seconds(timeout)
        if self.polling_interval <= 0:
            raise ValueError(f"polling_interval: got {polling_interval!r}; allowed: a number of seconds > 0")
        if self.timeout_seconds <= 0:
            raise ValueError(f"timeout: got {timeout!r}; allowed: seconds or a timedelta > 0")

    @cached_property
    def hook(self) -> DatabricksClustersHook:
        from airflow_databricks_clusters.hooks import DatabricksClustersHook

        return DatabricksClustersHook(self.databricks_conn_id)

    def _push_cluster_url(self, context: Context, cluster_id: str) -> None:
        self.push_cluster_url(context, self.hook.cluster_url(cluster_id))

    def _wait(
        self,
        cluster_id: str,
        target_states: Iterable[str],
        *,
        terminate_on_kill: bool,
        end_time: float | None = None,
        resume_with: Mapping[str, Any] | None = None,
        libraries: Sequence[Mapping[str, Any]] = (),
    ) -> WaitOutcome:
        """Wait for ``target_states`` until ``end_time`` (seconds since the epoch; by default ``timeout``
        from now), and then for ``libraries`` to be INSTALLED: in the triggerer when deferrable (resuming
        in ``execute_complete``, given ``resume_with`` in the event), else here. Either way the outcome
        comes from the one engine."""
        # Imported here: a DAG file that imports the operators does not pay for them at parse time.
        from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger
        from airflow_databricks_clusters.wait.lifecycle import wait

        now = time.time()
        end_time = now + self.timeout_seconds if end_time is None else end_time
        if self.deferrable:
            self.defer(
                trigger=DatabricksClusterStateTrigger(
                    cluster_id=cluster_id,
                    databricks_conn_id=self.databricks_conn_id,
                    target_states=list(target_states),
                    end_time=end_time,
                    polling_interval=self.polling_interval,
                    started_at=now,
                    terminate_on_kill=terminate_on_kill,
                    resume_with=None if resume_with is None else dict(resume_with),
                    libraries=[dict(library) for library in libraries] or None,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=max(end_time - now, 0)) + DEFERRAL_MARGIN,
            )
        return wait(
            self.hook,
            cluster_id,
            target_states,
            timeout_seconds=end_time - now,
            polling_interval=self.polling_interval,
            libraries=libraries,
            logger=self.log,
        )

    def _show_cluster_logs(self, cluster: Mapping[str, Any] | str, *, driver: bool = True) -> None:
        """Log the tails of the cluster's logs delivered to S3 (needs ``aws_conn_id`` and an S3 log conf)."""
        if self.aws_conn_id is None:
            return
        try:
            from airflow_databricks_clusters.preflight.aws import cluster_log_tails

            found = self.hook.get_cluster(cluster) if isinstance(cluster, str) else cluster
            tails = cluster_log_tails(self.aws_conn_id, found, driver=driver)
        except Exception as err:
            # A log report must never replace the failure or the result it accompanies.
            self.log.warning("Could not read the cluster's logs from S3: %s", err)
            return
        for tail in tails:
            self.log.info("Last lines of %s:\n%s", tail.url, "\n".join(tail.lines) or "(empty)")
