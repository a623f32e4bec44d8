"""Operators that create a Databricks cluster for a DAG and terminate it afterwards.

Airflow glue only: the spec comes from ``spec.py``, the API calls from ``hooks.py``, the waiting and
reuse steps from ``lifecycle.py`` and the verdicts from ``cluster_states.py``. Importing this module at
DAG parse time loads no HTTP client, no AWS code and no emulator: those load when a task runs.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, TriggerRule, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_databricks_clusters.cluster_states import (
    RUNNING,
    TERMINATED,
    cluster_summary,
    lifetime_report,
    lifetime_text,
    spot_report,
)
from airflow_databricks_clusters.errors import (
    ClusterFailed,
    ClusterNotFound,
    SpecError,
    UnknownOutcome,
)
from airflow_databricks_clusters.links import CLUSTER_URL_XCOM_KEY, DatabricksClusterLink
from airflow_databricks_clusters.triggers import DatabricksClusterStateTrigger, error_from_event

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_databricks_clusters.hooks import DatabricksClustersHook

#: The key under which the create operator records its cluster id in ``task_state_store`` (Airflow 3.3+).
TASK_STATE_CLUSTER_ID_KEY = "databricks_cluster_id"
#: XCom key of the create operator's spot/on-demand summary.
CLUSTER_SUMMARY_XCOM_KEY = "cluster_summary"
#: Extra time Airflow's own deferral timeout allows beyond the trigger's deadline. The trigger reports a
#: timeout itself so the operator can terminate the cluster; Airflow's timeout is only the last resort.
DEFERRAL_MARGIN = timedelta(minutes=10)

#: Cluster fields the create operator takes as named parameters (and templates).
CLUSTER_FIELD_PARAMS: tuple[str, ...] = (
    "cluster_name",
    "spark_version",
    "node_type_id",
    "driver_node_type_id",
    "num_workers",
    "autoscale",
    "spark_conf",
    "spark_env_vars",
    "custom_tags",
    "aws_attributes",
    "availability",
    "first_on_demand",
    "spot_bid_price_percent",
    "zone_id",
    "instance_profile_arn",
    "ebs_volume_type",
    "ebs_volume_count",
    "ebs_volume_size",
    "docker_image",
    "init_scripts",
    "cluster_log_conf",
    "autotermination_minutes",
    "enable_elastic_disk",
    "instance_pool_id",
    "driver_instance_pool_id",
    "policy_id",
    "apply_policy_default_values",
    "ssh_public_keys",
    "data_security_mode",
    "single_user_name",
    "runtime_engine",
)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class _ClusterOperatorBase(BaseOperator):
    """What every operator here shares: the hook, the cluster link and its XCom, the S3 log report."""

    operator_extra_links = (DatabricksClusterLink(),)

    def __init__(
        self,
        *,
        databricks_conn_id: str = "databricks_default",
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.aws_conn_id = aws_conn_id

    @cached_property
    def hook(self) -> DatabricksClustersHook:
        from airflow_databricks_clusters.hooks import DatabricksClustersHook

        return DatabricksClustersHook(self.databricks_conn_id)

    def _push_cluster_url(self, context: Context, cluster_id: str) -> None:
        context["ti"].xcom_push(key=CLUSTER_URL_XCOM_KEY, value=self.hook.cluster_url(cluster_id))

    def _show_cluster_logs(self, cluster: Mapping[str, Any] | str, *, driver: bool = True) -> None:
        """Log the tails of the cluster's logs delivered to S3 (needs ``aws_conn_id`` and an S3 log conf)."""
        if self.aws_conn_id is None:
            return
        try:
            from airflow_databricks_clusters.aws import cluster_log_tails

            found = self.hook.get_cluster(cluster) if isinstance(cluster, str) else cluster
            tails = cluster_log_tails(self.aws_conn_id, found, driver=driver)
        except Exception as err:
            # A log report must never replace the failure or the result it accompanies.
            self.log.warning("Could not read the cluster's logs from S3: %s", err)
            return
        for tail in tails:
            self.log.info("Last lines of %s:\n%s", tail.url, "\n".join(tail.lines) or "(empty)")


class DatabricksCreateClusterOperator(_ClusterOperatorBase):
    """Create a Databricks cluster on AWS, wait until it is RUNNING and return its ``cluster_id``.

    The cluster spec is built from ``cluster_json`` (a dict, a JSON text, or a path to a ``.json`` file such
    as the one ``databricks clusters create --json-file`` takes) with the named cluster parameters laid over
    it (``aws_attributes``, ``spark_conf``, ``custom_tags`` and ``spark_env_vars`` are merged key by key).
    Every field is templated, so DAG ``params`` from a manual trigger reach the spec; numbers and booleans
    that arrive as strings are coerced. An invalid spec fails the task before any API call, without
    retries, naming each bad field and what it allows.

    :param cluster_json: a base spec: dict, JSON text, or path to a ``.json`` file (rendered as a template).
    :param cluster_name, spark_version, node_type_id, driver_node_type_id, num_workers, spark_conf,
        spark_env_vars, custom_tags, init_scripts, cluster_log_conf, autotermination_minutes,
        enable_elastic_disk, instance_pool_id, driver_instance_pool_id, policy_id,
        apply_policy_default_values, ssh_public_keys, data_security_mode, single_user_name,
        runtime_engine: the Clusters API fields of the same name.
    :param autoscale: ``{"min_workers": a, "max_workers": b}`` or ``(a, b)``.
    :param aws_attributes: the API object; ``availability`` (SPOT, ON_DEMAND, SPOT_WITH_FALLBACK),
        ``first_on_demand``, ``spot_bid_price_percent``, ``zone_id``, ``instance_profile_arn`` and
        ``ebs_volume_type|count|size`` may also be given as parameters of their own.
    :param docker_image: an image URL, or ``{"url": ..., "basic_auth": {"username", "password"}}`` (the
        password is masked in logs and rendered fields).
    :param single_node: build a single-node cluster (no workers) with the settings Databricks requires.
    :param wait_for_running: wait for RUNNING (default); if False, return as soon as the cluster exists.
    :param deferrable: wait in the triggerer instead of the worker (default
        ``[operators] default_deferrable``).
    :param polling_interval: seconds between state checks.
    :param timeout: how long to wait for RUNNING (seconds or timedelta); an absolute deadline that survives
        a triggerer restart.
    :param delete_on_error: terminate the cluster when the task fails after creating it (start failure,
        timeout, kill, an error while waiting). A failing setup does not run its teardown, so this is what
        keeps a failed create from leaking a cluster. Default True.
    :param databricks_conn_id: the ``databricks`` connection (PAT or OAuth service principal), the same one
        the official provider's operators use.
    :param aws_conn_id: an ``aws`` connection (amazon provider) for the AWS side: the pre-flight lookups in
        ECR, IAM and S3, ``docker_auth="ecr"``, and the cluster's S3 logs in the task log when it fails to
        start. None (default): nothing is asked of AWS and those checks are reported as skipped.
    :param docker_auth: ``"ecr"`` fills ``docker_image.basic_auth`` with temporary ECR credentials (12
        hours) for clusters that do not pull with their instance profile; needs ``aws_conn_id``. The
        password is masked and never logged, rendered or pushed to XCom.
    :param preflight_checks: before the create call, look up what would make the cluster fail late (the
        runtime, node types, zone, pools and policy in the workspace; the instance profile in the workspace
        and IAM; the image in ECR; the S3 log bucket) and fail the task, without retries, with one message
        listing every problem. Checks that cannot run (no ``aws_conn_id``, no permission) are skipped, and
        said so, not passed. Default True.
    :param skip_preflight_checks: names of checks to switch off: ``spark_version``, ``node_types``,
        ``zone``, ``instance_profile``, ``instance_pool``, ``policy``, ``ecr_image``, ``s3_log_bucket``.

    Returns (XCom ``return_value``) the cluster id, so ``create.output`` feeds ``existing_cluster_id`` of a
    downstream task. Pushes ``cluster_url`` (the cluster's page; the "Databricks Cluster" link) as soon as
    the cluster exists, and ``cluster_summary`` once RUNNING: workers on spot and on demand, whether
    SPOT_WITH_FALLBACK fell back to on-demand.

    Idempotent across retries and worker crashes: every cluster carries tags naming its dag_id, task_id,
    run_id and map_index. Before creating, the operator looks for a cluster with this task instance's tags
    (and, on Airflow 3.3+, the id it recorded in ``task_state_store``) and reuses it: RUNNING is done, a
    starting cluster is waited for, a TERMINATED one is started again. When a create call's outcome is
    unknown (the connection dropped after sending), the tags are looked up instead of creating again. A
    terminated cluster that is started again is first edited to the spec this try built, so a task cleared
    after a fix runs the fix.

    Fails with the cluster's termination reason (code, type, parameters) and its last events in the log and
    the exception when the cluster ends TERMINATED (or ERROR) while starting; with ``aws_conn_id`` and an S3
    ``cluster_log_conf``, the last lines of the init-script logs (and the driver's) follow in the log.
    """

    template_fields: Sequence[str] = ("cluster_json", *CLUSTER_FIELD_PARAMS)
    template_ext: Sequence[str] = (".json",)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "cluster_json": "json",
        "spark_conf": "json",
        "spark_env_vars": "json",
        "custom_tags": "json",
        "aws_attributes": "json",
        "docker_image": "json",
        "init_scripts": "json",
        "cluster_log_conf": "json",
        "autoscale": "json",
    }
    ui_color = "#ff6a3d"

    def __init__(
        self,
        *,
        cluster_json: Mapping[str, Any] | str | None = None,
        cluster_name: str | None = None,
        spark_version: str | None = None,
        node_type_id: str | None = None,
        driver_node_type_id: str | None = None,
        num_workers: int | str | None = None,
        autoscale: Mapping[str, Any] | Sequence[int] | str | None = None,
        spark_conf: Mapping[str, Any] | None = None,
        spark_env_vars: Mapping[str, Any] | None = None,
        custom_tags: Mapping[str, str] | None = None,
        aws_attributes: Mapping[str, Any] | None = None,
        availability: str | None = None,
        first_on_demand: int | str | None = None,
        spot_bid_price_percent: int | str | None = None,
        zone_id: str | None = None,
        instance_profile_arn: str | None = None,
        ebs_volume_type: str | None = None,
        ebs_volume_count: int | str | None = None,
        ebs_volume_size: int | str | None = None,
        docker_image: str | Mapping[str, Any] | None = None,
        init_scripts: Sequence[str | Mapping[str, Any]] | None = None,
        cluster_log_conf: str | Mapping[str, Any] | None = None,
        autotermination_minutes: int | str | None = None,
        enable_elastic_disk: bool | str | None = None,
        instance_pool_id: str | None = None,
        driver_instance_pool_id: str | None = None,
        policy_id: str | None = None,
        apply_policy_default_values: bool | str | None = None,
        ssh_public_keys: Sequence[str] | None = None,
        data_security_mode: str | None = None,
        single_user_name: str | None = None,
        runtime_engine: str | None = None,
        single_node: bool = False,
        wait_for_running: bool = True,
        deferrable: bool | None = None,
        polling_interval: float = 15.0,
        timeout: float | timedelta = timedelta(minutes=30),
        delete_on_error: bool = True,
        docker_auth: str | None = None,
        preflight_checks: bool = True,
        skip_preflight_checks: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from airflow_databricks_clusters.preflight import validate_check_names

        self.cluster_json = cluster_json
        self.cluster_name = cluster_name
        self.spark_version = spark_version
        self.node_type_id = node_type_id
        self.driver_node_type_id = driver_node_type_id
        self.num_workers = num_workers
        self.autoscale = autoscale
        self.spark_conf = spark_conf
        self.spark_env_vars = spark_env_vars
        self.custom_tags = custom_tags
        self.aws_attributes = aws_attributes
        self.availability = availability
        self.first_on_demand = first_on_demand
        self.spot_bid_price_percent = spot_bid_price_percent
        self.zone_id = zone_id
        self.instance_profile_arn = instance_profile_arn
        self.ebs_volume_type = ebs_volume_type
        self.ebs_volume_count = ebs_volume_count
        self.ebs_volume_size = ebs_volume_size
        self.docker_image = docker_image
        self.init_scripts = init_scripts
        self.cluster_log_conf = cluster_log_conf
        self.autotermination_minutes = autotermination_minutes
        self.enable_elastic_disk = enable_elastic_disk
        self.instance_pool_id = instance_pool_id
        self.driver_instance_pool_id = driver_instance_pool_id
        self.policy_id = policy_id
        self.apply_policy_default_values = apply_policy_default_values
        self.ssh_public_keys = ssh_public_keys
        self.data_security_mode = data_security_mode
        self.single_user_name = single_user_name
        self.runtime_engine = runtime_engine
        self.single_node = single_node
        self.wait_for_running = wait_for_running
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self.polling_interval = float(polling_interval)
        self.timeout_seconds = _seconds(timeout)
        if self.polling_interval <= 0:
            raise ValueError(f"polling_interval: got {polling_interval!r}; allowed: a number of seconds > 0")
        if self.timeout_seconds <= 0:
            raise ValueError(f"timeout: got {timeout!r}; allowed: seconds or a timedelta > 0")
        self.delete_on_error = delete_on_error
        if docker_auth not in (None, "ecr"):
            raise ValueError(f"docker_auth: got {docker_auth!r}; allowed: None or 'ecr'")
        if docker_auth == "ecr" and self.aws_conn_id is None:
            raise ValueError("docker_auth: 'ecr' needs aws_conn_id (the AWS connection that reads ECR)")
        self.docker_auth = docker_auth
        self.preflight_checks = preflight_checks
        self.skip_preflight_checks = validate_check_names(skip_preflight_checks)
        self._cluster_id: str | None = None
        self._tags: dict[str, str] | None = None

    # -- spec -------------------------------------------------------------------------------------------

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        _mask_docker_password(self.docker_image)
        _mask_docker_password(_docker_image_of(self.cluster_json))

    def _task_tags(self, context: Context) -> dict[str, str]:
        from airflow_databricks_clusters.spec import task_instance_tags

        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        return task_instance_tags(self.dag_id, self.task_id, context["run_id"], map_index)

    def build_spec(self, context: Context) -> dict[str, Any]:
        """The validated Clusters API JSON for this task instance (its tags included)."""
        from airflow_databricks_clusters.spec import build_cluster_spec

        fields = {name: getattr(self, name) for name in CLUSTER_FIELD_PARAMS}
        given = {name: value for name, value in fields.items() if value is not None}
        try:
            return build_cluster_spec(
                cluster_json=self.cluster_json or None,
                single_node=self.single_node,
                tags=self._task_tags(context),
                **given,
            )
        except SpecError as err:
            # Retrying cannot fix a bad spec: fail without using up the task's retries.
            raise AirflowFailException(str(err)) from err

    # -- execute ----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> str:
        spec = self.build_spec(context)
        from airflow_databricks_clusters.spec import redact_spec

        self.log.info("Cluster spec: %s", json.dumps(redact_spec(spec), sort_keys=True))
        # Known before the create call, so a kill in the middle of it can still find the cluster.
        self._tags = self._task_tags(context)
        cluster_id = self._find_or_create(context, spec, self._tags)
        self._cluster_id = cluster_id
        try:
            self._record(context, cluster_id)
            if not self.wait_for_running:
                return cluster_id
            if self.deferrable:
                self._defer(cluster_id)
            from airflow_databricks_clusters.lifecycle import wait_for_state

            wait_for_state(
                self.hook,
                cluster_id,
                [RUNNING],
                timeout_seconds=self.timeout_seconds,
                polling_interval=self.polling_interval,
                logger=self.log,
            )
            return self._finish(context, cluster_id)
        except BaseException as err:
            self._after_failure(cluster_id, err)
            raise

    def _find_or_create(self, context: Context, spec: dict[str, Any], tags: dict[str, str]) -> str:
        from airflow_databricks_clusters.lifecycle import bring_back, find_task_clusters

        found = self._recorded_cluster(context)
        if found is None:
            candidates = find_task_clusters(self.hook, tags)
            found = candidates[0] if candidates else None
            if len(candidates) > 1:
                self.log.warning(
                    "Found %d clusters tagged for this task instance; reusing %s",
                    len(candidates),
                    found and found.get("cluster_id"),
                )
        if found is not None:
            bring_back(
                self.hook,
                found,
                polling_interval=self.polling_interval,
                timeout_seconds=self.timeout_seconds,
                logger=self.log,
                before_start=self._respec(spec),
            )
            return str(found["cluster_id"])
        self._preflight(spec)
        spec = self._with_docker_auth(spec)
        try:
            cluster_id = self.hook.create_cluster(spec)
        except UnknownOutcome as err:
            # The create may have taken effect: the tags say whether it did. Only when no cluster carries
            # them is a second create call safe.
            self.log.warning("%s; looking the cluster up by its tags", err)
            candidates = find_task_clusters(self.hook, tags)
            if candidates:
                cluster_id = str(candidates[0]["cluster_id"])
                self.log.info("The create call did take effect: cluster %s", cluster_id)
            else:
                self.log.info("No cluster carries this task instance's tags; creating it again")
                cluster_id = self.hook.create_cluster(spec)
        self.log.info("Created cluster %s", cluster_id)
        return cluster_id

    def _preflight(self, spec: Mapping[str, Any]) -> None:
        """Look up what would make the cluster fail late; fail without retries when something would."""
        if not self.preflight_checks:
            return
        from airflow_databricks_clusters.preflight import (
            Outcome,
            PreflightFailed,
            raise_on_failure,
            run_preflight,
        )

        results = run_preflight(
            spec, self.hook, aws_conn_id=self.aws_conn_id, skip=self.skip_preflight_checks
        )
        passed = sorted({r.check for r in results if r.outcome is Outcome.PASSED})
        self.log.info("Pre-flight checks passed: %s", ", ".join(passed) or "none")
        for result in results:
            if result.outcome is Outcome.FAILED:
                self.log.error("Pre-flight %s", result)
            elif result.outcome is Outcome.SKIPPED:
                self.log.warning("Pre-flight %s", result)
        try:
            raise_on_failure(results)
        except PreflightFailed as err:
            raise AirflowFailException(str(err)) from err

    def _with_docker_auth(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec with temporary ECR credentials in ``docker_image.basic_auth`` (``docker_auth="ecr"``)."""
        if self.docker_auth != "ecr":
            return spec
        from airflow_databricks_clusters.aws import AwsProblem, ecr_basic_auth

        image = spec.get("docker_image") or {}
        try:
            auth = ecr_basic_auth(self.aws_conn_id, str(image.get("url", "")))
        except AwsProblem as err:
            raise AirflowFailException(str(err)) from err
        self.log.info("Using temporary ECR credentials for %s", image.get("url"))
        return {**spec, "docker_image": {**image, "basic_auth": auth}}

    def _respec(self, spec: dict[str, Any]) -> Callable[[str], None]:
        """What runs on a terminated cluster of this task instance before it is started again.

        A cleared or retried task runs what the task says now (a fixed image tag, new parameters), not
        what an earlier try created: the cluster is checked like a new one and edited to the current
        spec, with fresh ECR credentials (they last 12 hours).
        """

        def respec(cluster_id: str) -> None:
            self._preflight(spec)
            self.log.info("Updating cluster %s to this try's spec before starting it", cluster_id)
            self.hook.edit_cluster({**self._with_docker_auth(spec), "cluster_id": cluster_id})

        return respec

    def _recorded_cluster(self, context: Context) -> dict[str, Any] | None:
        store = context.get("task_state_store")
        if store is None:
            return None
        cluster_id = store.get(TASK_STATE_CLUSTER_ID_KEY)
        if not cluster_id:
            return None
        try:
            cluster: dict[str, Any] = self.hook.get_cluster(str(cluster_id))
        except ClusterNotFound:
            self.log.info("Cluster %s recorded by an earlier try no longer exists", cluster_id)
            return None
        return cluster

    def _record(self, context: Context, cluster_id: str) -> None:
        self._push_cluster_url(context, cluster_id)
        store = context.get("task_state_store")
        if store is not None:
            store.set(TASK_STATE_CLUSTER_ID_KEY, cluster_id)

    def _defer(self, cluster_id: str) -> None:
        now = time.time()
        self.defer(
            trigger=DatabricksClusterStateTrigger(
                cluster_id=cluster_id,
                databricks_conn_id=self.databricks_conn_id,
                target_states=[RUNNING],
                end_time=now + self.timeout_seconds,
                polling_interval=self.polling_interval,
                started_at=now,
                terminate_on_kill=self.delete_on_error,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout_seconds) + DEFERRAL_MARGIN,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resume after the trigger fired: finish on RUNNING, otherwise fail (terminating the cluster)."""
        cluster_id = str(event["cluster_id"])
        self._cluster_id = cluster_id
        try:
            if event["status"] != "success":
                raise error_from_event(event)
            return self._finish(context, cluster_id)
        except BaseException as err:
            self._after_failure(cluster_id, err)
            raise

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except BaseException as err:
            if self._cluster_id is None:
                # Airflow failed the deferral itself (its timeout, a trigger crash): the event with the
                # cluster id never arrived, but the tags find the cluster.
                self._cleanup_by_tags(context, err)
            raise

    def _finish(self, context: Context, cluster_id: str) -> str:
        from airflow_databricks_clusters.lifecycle import last_events

        cluster = self.hook.get_cluster(cluster_id)
        summary = cluster_summary(cluster, last_events(self.hook, cluster_id, limit=50))
        self.log.info(spot_report(summary))
        context["ti"].xcom_push(key=CLUSTER_SUMMARY_XCOM_KEY, value=summary)
        return cluster_id

    def _after_failure(self, cluster_id: str, err: BaseException) -> None:
        from airflow.sdk.exceptions import TaskDeferred

        from airflow_databricks_clusters.lifecycle import log_failure, terminate_quietly

        if isinstance(err, TaskDeferred):
            return
        if isinstance(err, ClusterFailed):
            log_failure(err, self.log)
            self._show_cluster_logs(cluster_id)
        if self.delete_on_error:
            terminate_quietly(self.hook, cluster_id, f"the task failed ({type(err).__name__})", self.log)
        else:
            self.log.warning("delete_on_error=False: cluster %s is left as it is", cluster_id)

    def _cleanup_by_tags(self, context: Context, err: BaseException) -> None:
        if self.delete_on_error:
            self._terminate_tagged(self._task_tags(context), f"the task failed ({type(err).__name__})")

    def _terminate_tagged(self, tags: Mapping[str, str], why: str) -> None:
        """Terminate every live cluster carrying this task instance's tags (its id was never learnt)."""
        from airflow_databricks_clusters.cluster_states import LIVE_STATES
        from airflow_databricks_clusters.lifecycle import find_task_clusters, terminate_quietly

        for cluster in find_task_clusters(self.hook, tags):
            if cluster.get("state") in LIVE_STATES:
                terminate_quietly(self.hook, str(cluster["cluster_id"]), why, self.log)

    def on_kill(self) -> None:
        """The task was killed in the worker: terminate the cluster it created (when delete_on_error).

        Killed during the create call itself, before the id came back, the cluster is found by its tags.
        """
        if not self.delete_on_error:
            return
        from airflow_databricks_clusters.lifecycle import terminate_quietly

        if self._cluster_id:
            terminate_quietly(self.hook, self._cluster_id, "the task was killed", self.log)
        elif self._tags:
            self._terminate_tagged(self._tags, "the task was killed during the create call")


def _docker_image_of(cluster_json: Any) -> Any:
    return cluster_json.get("docker_image") if isinstance(cluster_json, Mapping) else None


def _mask_docker_password(docker_image: Any) -> None:
    if not isinstance(docker_image, Mapping):
        return
    password = (docker_image.get("basic_auth") or {}).get("password")
    if password:
        from airflow.sdk.log import mask_secret

        mask_secret(password)


class DatabricksTerminateClusterOperator(_ClusterOperatorBase):
    """Terminate a cluster, typically as the teardown of the task that created it.

    ``trigger_rule`` is ALL_DONE by default and the operator is made for
    ``create >> work >> terminate.as_teardown(setups=create)``: it runs whatever happened in between.
    An empty, unknown or already terminated cluster is success (nothing to do), so a teardown never fails
    because its setup failed before creating anything.

    :param cluster_id: the cluster to terminate (e.g. ``create.output``); templated.
    :param permanent: also delete the cluster permanently (it disappears from the cluster list).
    :param wait_for_termination: wait until TERMINATED (default), in the worker or deferred.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param polling_interval: seconds between state checks.
    :param timeout: how long to wait for TERMINATED (seconds or timedelta).
    :param databricks_conn_id: the ``databricks`` connection.
    :param aws_conn_id: an ``aws`` connection; with it, and an S3 ``cluster_log_conf``, the report is
        followed by the last lines of the cluster's delivered logs (init scripts, driver stderr and log4j).

    Logs a lifetime report (uptime, the states the cluster passed, nodes lost and replaced, the termination
    reason) and returns it as its XCom ``return_value`` (None when there was nothing to terminate).
    """

    template_fields: Sequence[str] = ("cluster_id",)
    ui_color = "#c6d3e0"

    def __init__(
        self,
        *,
        cluster_id: str | None,
        permanent: bool = False,
        wait_for_termination: bool = True,
        deferrable: bool | None = None,
        polling_interval: float = 10.0,
        timeout: float | timedelta = timedelta(minutes=20),
        trigger_rule: str = TriggerRule.ALL_DONE,
        **kwargs: Any,
    ) -> None:
        super().__init__(trigger_rule=trigger_rule, **kwargs)
        self.cluster_id = cluster_id
        self.permanent = permanent
        self.wait_for_termination = wait_for_termination
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self.polling_interval = float(polling_interval)
        self.timeout_seconds = _seconds(timeout)

    def _target(self) -> str | None:
        cluster_id = str(self.cluster_id).strip() if self.cluster_id is not None else ""
        # A setup that failed before creating anything pushes no id; templates render that as "None".
        return None if cluster_id in {"", "None", "null"} else cluster_id

    def execute(self, context: Context) -> dict[str, Any] | None:
        cluster_id = self._target()
        if cluster_id is None:
            self.log.info("No cluster id given (the create task made none): nothing to terminate")
            return None
        try:
            cluster = self.hook.get_cluster(cluster_id)
        except ClusterNotFound:
            self.log.info("Cluster %s does not exist: nothing to terminate", cluster_id)
            return None
        self._push_cluster_url(context, cluster_id)
        if cluster.get("state") == TERMINATED:
            self.log.info("Cluster %s is already TERMINATED", cluster_id)
        else:
            self.log.info("Terminating cluster %s (state %s)", cluster_id, cluster.get("state"))
            self.hook.terminate_cluster(cluster_id)
            if self.wait_for_termination:
                if self.deferrable:
                    now = time.time()
                    self.defer(
                        trigger=DatabricksClusterStateTrigger(
                            cluster_id=cluster_id,
                            databricks_conn_id=self.databricks_conn_id,
                            target_states=[TERMINATED],
                            end_time=now + self.timeout_seconds,
                            polling_interval=self.polling_interval,
                            started_at=now,
                        ),
                        method_name="execute_complete",
                        timeout=timedelta(seconds=self.timeout_seconds) + DEFERRAL_MARGIN,
                    )
                from airflow_databricks_clusters.lifecycle import wait_for_state

                wait_for_state(
                    self.hook,
                    cluster_id,
                    [TERMINATED],
                    timeout_seconds=self.timeout_seconds,
                    polling_interval=self.polling_interval,
                    logger=self.log,
                )
        return self._report_and_delete(cluster_id)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any] | None:
        """Resume after the trigger fired: report, or fail when TERMINATED was not reached."""
        cluster_id = str(event["cluster_id"])
        if event["status"] == "error" and "does not exist" in str(event.get("message")):
            self.log.info("Cluster %s no longer exists", cluster_id)
            return None
        if event["status"] != "success":
            raise AirflowException(str(error_from_event(event)))
        return self._report_and_delete(cluster_id)

    def _report_and_delete(self, cluster_id: str) -> dict[str, Any] | None:
        from airflow_databricks_clusters.lifecycle import last_events

        try:
            cluster = self.hook.get_cluster(cluster_id)
        except ClusterNotFound:
            return None
        report = lifetime_report(cluster, last_events(self.hook, cluster_id, limit=500))
        self.log.info(lifetime_text(report))
        self._show_cluster_logs(cluster)
        if self.permanent:
            self.log.info("Deleting cluster %s permanently", cluster_id)
            with contextlib.suppress(ClusterNotFound):
                self.hook.permanent_delete_cluster(cluster_id)
        return report
