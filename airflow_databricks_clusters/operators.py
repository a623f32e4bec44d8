"""Operators that create a Databricks cluster for a DAG and terminate it afterwards. Airflow glue only.

The spec comes from ``cluster_spec/build.py`` (the fields rendered and built in ``spec_rendering.py``),
finding or creating the cluster from ``wait/ensure.py``, the waits from the one engine in ``wait/engine.py``
(driven in the worker by ``wait.lifecycle.wait``, in the triggerer by ``triggers.py``), the API calls from
``hooks.py``.
What is left here is Airflow's part: parameters, XComs and the link, deferring, failing without retries, and
cleaning up when a task dies.
Importing this module at DAG parse time loads no HTTP client, no AWS code, no pre-flight checks (nor their
names, unless a task skips some) and no emulator, nor the spec builder, the wait engine, the state tables, the
error types or ``wait/ensure.py``: ``benchmarks/dag_parse_cost.py`` shows what each costs a DAG processor, so
they are imported in the methods that run when a task runs (``tests/unit/test_cheap_import.py`` lists the
modules a parse does load).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from airflow_databricks_clusters.cluster_spec.fields import OPERATOR_FIELDS
from airflow_databricks_clusters.operator_base import ClusterOperatorBase
from airflow_databricks_clusters.spec_rendering import ClusterSpecOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_databricks_clusters.errors import DatabricksClustersError
    from airflow_databricks_clusters.wait.engine import WaitOutcome


#: The key under which the create operator records its cluster id in ``task_state_store`` (Airflow 3.3+).
TASK_STATE_CLUSTER_ID_KEY = "databricks_cluster_id"
#: XCom key of the create operator's spot/on-demand summary.
CLUSTER_SUMMARY_XCOM_KEY = "cluster_summary"
#: Cluster fields the create operator takes as named parameters (and templates): ``cluster_spec.fields``'.
CLUSTER_FIELD_PARAMS: tuple[str, ...] = OPERATOR_FIELDS


class DatabricksCreateClusterOperator(ClusterSpecOperator):
    """Create a Databricks cluster on AWS, wait until it is RUNNING and return its ``cluster_id``.

    The cluster spec is built from ``cluster_json`` (a dict, a JSON text, or the path of a JSON file such
    as the one ``databricks clusters create --json-file`` takes) with the named cluster parameters laid over
    it (``aws_attributes``, ``spark_conf``, ``custom_tags`` and ``spark_env_vars`` are merged key by key).
    Every field is templated, so DAG ``params`` from a manual trigger reach the spec; numbers and booleans
    that arrive as strings are coerced, dicts and lists that arrive as their JSON or Python text are read,
    and a field rendered as "None" counts as not given. An invalid spec fails the task before any API
    call, without retries, with one line (logged at ERROR, and the exception's message) naming each bad
    field, its value and what it allows.

    Secrets (a registry password, a token in ``spark_env_vars``, ...) may be given in any field and any
    form: a dict, JSON text, a file, templated from a Variable or a secrets backend (``{{ var.value.pw
    }}``, which keeps them out of the DAG file). Every value under a key named like a secret (password,
    secret, token, credential, private or API key, in any case and at any depth) and any bare string under
    an ``auth`` key is masked as soon as the fields are rendered, so it never reaches a log line, a rendered
    field, an XCom or an error (which shows ``***``). Airflow does not mask values under 5 characters.

    :param cluster_json: a base spec: a dict, JSON text, or the path of a JSON file. An absolute path is read
        as it is; a relative one from the DAG's folder and ``template_searchpath``. The path and then the
        file's content are rendered as templates. A file that cannot be read fails the task at once, without
        retries, naming ``cluster_json``.
    :param cluster_name, spark_version, node_type_id, driver_node_type_id, num_workers, spark_conf,
        spark_env_vars, custom_tags, init_scripts, cluster_log_conf, autotermination_minutes,
        enable_elastic_disk, enable_local_disk_encryption, instance_pool_id, driver_instance_pool_id,
        policy_id, apply_policy_default_values, ssh_public_keys, data_security_mode, single_user_name,
        runtime_engine: the Clusters API fields of the same name (``cluster_spec.fields.CREATE_FIELDS``).
    :param autoscale: ``{"min_workers": a, "max_workers": b}`` or ``(a, b)``.
    :param aws_attributes: the API object; ``availability`` (SPOT, ON_DEMAND, SPOT_WITH_FALLBACK),
        ``first_on_demand``, ``spot_bid_price_percent``, ``zone_id``, ``instance_profile_arn`` and
        ``ebs_volume_type|count|size|iops|throughput`` may also be given as parameters of their own.
    :param docker_image: an image URL, or ``{"url": ..., "basic_auth": {"username", "password"}}`` (the
        password is masked, above), as a dict or its JSON text.
    :param single_node: build a single-node cluster (no workers) with the settings Databricks requires.
    :param extra_api_fields: Clusters API create fields this plugin has never heard of, sent as given, e.g.
        ``{"some_new_field": {...}}``: the way to use a field newer than the plugin, on purpose. Every other
        key, in ``cluster_json`` and inside ``aws_attributes``, ``autoscale``, ``docker_image``,
        ``init_scripts`` and ``cluster_log_conf``, must be one the API has there, or the task fails before
        any API call, without retries, naming the key's path and the field it was likely meant to be
        (``aws_attributes.availabilty ... did you mean 'availability'?``). Newer create fields the plugin
        knows but does not model (``kind``, ``is_single_node``, ``use_ml_runtime``, ... :
        ``cluster_spec.fields.PASSED_CREATE_FIELDS``) go in ``cluster_json`` and are sent as given; the
        flexible node types (``worker_node_type_flexibility``, ``driver_node_type_flexibility``) go there
        too and are checked; a field the plugin knows is refused here. Only top-level
        fields: a new key inside ``aws_attributes`` or another checked object cannot be sent. A dict or its
        JSON text; templated.
    :param capacity_fallback: what to try, in order, when the cluster cannot get its instances: a list of
        partial specs, each laid over the task's own spec, setting only ``node_type_id``,
        ``driver_node_type_id``, ``num_workers``, ``autoscale``, ``worker_node_type_flexibility``,
        ``driver_node_type_flexibility`` or the ``aws_attributes`` fields ``zone_id``, ``availability``,
        ``first_on_demand`` and ``spot_bid_price_percent``. Each is validated and pre-flighted as a whole
        spec before the first call. A start that ends for a capacity reason
        (``cluster_spec.capacity_fallback.is_capacity_shortage``) edits the same cluster to the next entry
        and starts it again, in the same try and within ``timeout``, logging the reason and what changed;
        any other end fails the task as before. A retried try starts from the task's own spec again.
        Templated (a list, or its JSON text).
    :param libraries: libraries to install once the cluster is RUNNING: Libraries API library objects,
        each with exactly one of ``jar``, ``egg``, ``whl``, ``requirements`` (a path or URL), ``pypi
        {package, repo}``, ``maven {coordinates, repo, exclusions}`` or ``cran {package, repo}``. Checked
        with the spec before any call (an unknown key or kind, a missing package, the same library twice
        fail the task naming ``libraries[i]...``). The task returns only when every one is INSTALLED,
        within ``timeout``, and logs each library's state changes; one that ends FAILED (or SKIPPED, or
        marked for uninstall) fails it with ``LibrariesFailed`` naming the library and the workspace's
        message, then ``delete_on_error`` applies. On a cluster found again (a retry, a reused or
        restarted cluster) only what ``libraries/cluster-status`` does not list is installed. Credentials
        written into a URL are masked. Needs ``wait_for_running=True``. Templated (a list, or its JSON
        text).
    :param wait_for_running: wait for RUNNING (default); if False, return as soon as the cluster exists.
    :param deferrable: wait in the triggerer instead of the worker (default
        ``[operators] default_deferrable``).
    :param polling_interval: seconds between state checks.
    :param timeout: how long to wait for RUNNING (seconds or timedelta); an absolute deadline that survives
        a triggerer restart.
    :param delete_on_error: terminate the cluster when the task fails after creating it (start failure,
        timeout, kill, an error while waiting). A failing setup does not run its teardown, so this is what
        keeps a failed create from leaking a cluster. Default True. With False, a cluster that a create
        or restart call left behind as it failed, before the task could hand its id on, is still
        terminated: no one would know to look at it.
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
    :param skip_preflight_checks: names of checks to switch off: ``container_services``,
        ``init_scripts``, ``runtime_support``, ``spark_version``, ``node_types``, ``zone``,
        ``instance_profile``, ``instance_pool``, ``policy``, ``ecr_image``, ``s3_log_bucket``.

    Returns (XCom ``return_value``) the cluster id, so ``create.output`` feeds ``existing_cluster_id`` of a
    downstream task. Pushes ``cluster_url`` (the cluster's page; the "Databricks Cluster" link) as soon as
    the cluster exists, and ``cluster_summary`` once RUNNING: workers on spot and on demand, whether
    SPOT_WITH_FALLBACK fell back to on-demand, the zone asked for, and ``capacity_fallback``: the index of
    the alternative the cluster runs on (None: the task's own spec).

    Idempotent across retries and worker crashes (``wait.ensure.ensure_cluster``): every cluster carries tags
    naming its dag_id, task_id, run_id and map_index. Before creating, the operator looks for a cluster
    with this task instance's tags (and, on Airflow 3.3+, the id it recorded in ``task_state_store``) and
    reuses it: RUNNING is done, a starting cluster is waited for, a TERMINATED one is edited to the spec
    this try built (a task cleared after a fix runs the fix) and started again. When a create call's
    outcome is unknown (the answer was lost, or came back unreadable), the tags are looked up instead of
    creating again; a lookup that cannot be read fails the task, never creates a second cluster. Extra
    live clusters carrying the tags are terminated (the newest live one is kept). Whatever a failing
    create step may have made is terminated before the task fails.

    Fails with ``LibrariesFailed`` when a library does not install (above); otherwise with the cluster's
    termination reason (code, type, parameters) and its last events in the log and
    the exception (``ClusterFailed``) when the cluster ends TERMINATED (or ERROR) while starting; with
    ``ClusterTimeout`` at the deadline, ``ClusterGone`` when it was deleted, ``ClusterUnreadable`` when its
    state cannot be read (the same outcomes, sync or deferred). With ``aws_conn_id`` and an S3
    ``cluster_log_conf``, the last lines of the init-script logs (and the driver's) follow in the log.
    """

    template_fields: Sequence[str] = (
        "cluster_json", *CLUSTER_FIELD_PARAMS, "extra_api_fields", "capacity_fallback", "libraries",
    )  # fmt: skip
    template_fields_renderers: ClassVar[dict[str, str]] = {
        name: "json"
        for name in (
            "cluster_json", "spark_conf", "spark_env_vars", "custom_tags", "aws_attributes", "docker_image",
            "init_scripts", "cluster_log_conf", "autoscale", "extra_api_fields", "capacity_fallback",
            "libraries",
        )
    }  # fmt: skip
    ui_color = "#ff6a3d"
    docker_image: Any  # like every cluster field, set in __init__ from the one table

    def __init__(
        self,
        *,
        cluster_json: Mapping[str, Any] | str | None = None,
        cluster_name: str | None = None,
        spark_version: str | None = None,
        node_type_id: str | None = None,
        driver_node_type_id: str | None = None,
        instance_pool_id: str | None = None,
        driver_instance_pool_id: str | None = None,
        policy_id: str | None = None,
        single_user_name: str | None = None,
        data_security_mode: str | None = None,
        runtime_engine: str | None = None,
        num_workers: int | str | None = None,
        autotermination_minutes: int | str | None = None,
        enable_elastic_disk: bool | str | None = None,
        enable_local_disk_encryption: bool | str | None = None,
        apply_policy_default_values: bool | str | None = None,
        aws_attributes: Mapping[str, Any] | None = None,
        spark_conf: Mapping[str, Any] | None = None,
        custom_tags: Mapping[str, str] | None = None,
        spark_env_vars: Mapping[str, Any] | None = None,
        autoscale: Mapping[str, Any] | Sequence[int] | str | None = None,
        docker_image: str | Mapping[str, Any] | None = None,
        init_scripts: Sequence[str | Mapping[str, Any]] | None = None,
        cluster_log_conf: str | Mapping[str, Any] | None = None,
        ssh_public_keys: Sequence[str] | None = None,
        availability: str | None = None,
        first_on_demand: int | str | None = None,
        spot_bid_price_percent: int | str | None = None,
        zone_id: str | None = None,
        instance_profile_arn: str | None = None,
        ebs_volume_type: str | None = None,
        ebs_volume_count: int | str | None = None,
        ebs_volume_size: int | str | None = None,
        ebs_volume_iops: int | str | None = None,
        ebs_volume_throughput: int | str | None = None,
        single_node: bool = False,
        extra_api_fields: Mapping[str, Any] | str | None = None,
        capacity_fallback: Sequence[Mapping[str, Any]] | str | None = None,
        libraries: Sequence[Mapping[str, Any]] | str | None = None,
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
        given = locals()  # the cluster fields, set below by their names in the one table
        super().__init__(polling_interval=polling_interval, timeout=timeout, deferrable=deferrable, **kwargs)
        self.cluster_json = cluster_json
        for name in CLUSTER_FIELD_PARAMS:
            setattr(self, name, given[name])
        self.single_node = single_node
        self.extra_api_fields = extra_api_fields
        if capacity_fallback and not wait_for_running:
            raise ValueError(
                "capacity_fallback: needs wait_for_running=True (a shortage shows only while the task waits "
                "for RUNNING)"
            )
        self.capacity_fallback = capacity_fallback
        if libraries and not wait_for_running:
            raise ValueError(
                "libraries: needs wait_for_running=True (libraries are installed once the cluster is RUNNING)"
            )
        self.libraries = libraries
        self.wait_for_running = wait_for_running
        self.delete_on_error = delete_on_error
        if docker_auth not in (None, "ecr"):
            raise ValueError(f"docker_auth: got {docker_auth!r}; allowed: None or 'ecr'")
        if docker_auth == "ecr" and self.aws_conn_id is None:
            raise ValueError("docker_auth: 'ecr' needs aws_conn_id (the AWS connection that reads ECR)")
        self.docker_auth = docker_auth
        self.preflight_checks = preflight_checks
        self.skip_preflight_checks: tuple[str, ...] = ()
        if skip_preflight_checks != ():
            # Not templated, so checked at parse time; the default needs no check, so a DAG that skips
            # nothing does not load the check names.
            from airflow_databricks_clusters.preflight.results import validate_check_names

            self.skip_preflight_checks = validate_check_names(skip_preflight_checks)
        self._cluster_id: str | None = None
        self._tags: dict[str, str] | None = None
        self._killed = False
        #: The task's validated spec, and each capacity_fallback alternative's, built when the task runs.
        self._own_spec: dict[str, Any] = {}
        self._alternatives: list[dict[str, Any]] = []
        #: The checked ``libraries`` to install, built when the task runs.
        self._wanted: list[dict[str, Any]] = []

    # -- spec (rendering the fields and building the spec: ClusterSpecOperator) --------------------------

    def _prepare(self, spec: dict[str, Any]) -> dict[str, Any]:
        """What runs just before the spec is sent (to create, or to respec a terminated cluster): the
        pre-flight checks of the spec and of every ``capacity_fallback`` alternative (a shortage must not
        be what reveals a bad alternative), then fresh ECR credentials. Neither failure can be fixed by
        retrying."""
        from airflow_databricks_clusters.cluster_spec.capacity_fallback import PREFLIGHT_CHECKS
        from airflow_databricks_clusters.preflight.checks import PreflightFailed, enforce_preflight
        from airflow_databricks_clusters.preflight.results import CHECK_NAMES

        if self.preflight_checks:
            # An alternative changes only what chooses the instances: only the checks of those are run again.
            others = {name for name in CHECK_NAMES if name not in PREFLIGHT_CHECKS}
            for index, checked in enumerate([spec, *self._alternatives]):
                where = f"capacity_fallback[{index - 1}]: " if index else ""
                try:
                    enforce_preflight(
                        checked,
                        self.hook,
                        aws_conn_id=self.aws_conn_id,
                        skip={*self.skip_preflight_checks, *(others if index else ())},
                        logger=_Labelled(self.log, where),
                    )
                except PreflightFailed as err:
                    raise AirflowFailException(f"{where}{err}") from err
        return self._with_credentials(spec)

    def _with_credentials(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec with fresh ECR credentials when ``docker_auth="ecr"`` (as it is otherwise)."""
        from airflow_databricks_clusters.preflight.aws import AwsProblem, spec_with_ecr_auth

        if self.docker_auth != "ecr":
            return spec
        try:
            return spec_with_ecr_auth(spec, self.aws_conn_id, self.log)
        except AwsProblem as err:
            raise AirflowFailException(str(err)) from err

    # -- execute ----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> str:
        from airflow_databricks_clusters.cluster_spec.build import redact_spec
        from airflow_databricks_clusters.cluster_spec.capacity_fallback import alternative_of
        from airflow_databricks_clusters.wait.ensure import Action, ensure_cluster

        spec = self._build_specs(context)
        self.log.info("Cluster spec: %s", json.dumps(redact_spec(spec), sort_keys=True))
        # Known before the create call, so a kill in the middle of it can still find the cluster.
        self._tags = self._task_tags(context)
        ensured = ensure_cluster(
            self.hook,
            spec,
            self._tags,
            recorded_id=self._recorded_id(context),
            prepare=self._prepare,
            polling_interval=self.polling_interval,
            timeout_seconds=self.timeout_seconds,
            logger=self.log,
        )
        cluster_id = self._cluster_id = ensured.cluster_id
        if self._killed:
            # The kill came while ensure_cluster ran and its on_kill found nothing yet to terminate.
            self._after_failure(cluster_id, AirflowException("the task was killed"))
            raise AirflowException(f"The task was killed; cluster {cluster_id} was terminated")
        try:
            self._record(context, cluster_id)
            if not self.wait_for_running:
                return cluster_id
            current = None
            if ensured.action is Action.REUSED and self._alternatives:
                # A live cluster found again may already run on an alternative: go on from there.
                current = alternative_of(self.hook.get_cluster(cluster_id))
            deadline = time.time() + self.timeout_seconds
            fresh = ensured.action is Action.CREATED
            return self._until_running(context, cluster_id, current, deadline, fresh=fresh)
        except BaseException as err:
            self._after_failure(cluster_id, err)
            raise

    def _until_running(
        self,
        context: Context,
        cluster_id: str,
        current: int | None,
        deadline: float,
        outcome: WaitOutcome | None = None,
        *,
        fresh: bool = False,
        installing: bool = False,
    ) -> str:
        """Wait for RUNNING by ``deadline`` (seconds since the epoch), here or deferred (to resume in
        ``execute_complete`` with ``current`` and ``deadline``), unless ``outcome`` is the wait's end
        already; after a start that ended for want of instances, edit the cluster to the next
        ``capacity_fallback`` alternative and start it again. Once RUNNING, install the ``libraries``
        (only those missing, unless the cluster is ``fresh`` from this try's create) and wait, with the
        same deadline, until each is INSTALLED (``installing``: that wait is the one ``outcome`` ends)."""
        from airflow_databricks_clusters.wait.states import RUNNING

        while True:
            if outcome is None:
                outcome = self._wait(
                    cluster_id,
                    [RUNNING],
                    terminate_on_kill=self.delete_on_error,
                    end_time=deadline,
                    resume_with={
                        "alternative": current,
                        "deadline": deadline,
                        "fresh": fresh,
                        "installing": installing,
                    },
                    libraries=self._wanted if installing else (),
                )
            if outcome.reached and self._wanted and not installing:
                self._install_libraries(cluster_id, fresh=fresh)
                installing, outcome = True, None
                continue
            following = self._following(outcome, current, deadline)
            if following is None:
                return self._complete(context, outcome)
            self._move_on(outcome, current, following, deadline)
            # The edited cluster keeps the libraries installed on it and installs them at its start.
            current, outcome, fresh, installing = following, None, False, False

    def _install_libraries(self, cluster_id: str, *, fresh: bool) -> None:
        """Install the ``libraries`` the RUNNING cluster lacks: all of them on a cluster this try created,
        else those ``libraries/cluster-status`` does not list (a retry, a reused or restarted cluster)."""
        from airflow_databricks_clusters.cluster_spec.libraries import label
        from airflow_databricks_clusters.wait.library_states import missing

        todo = list(self._wanted)
        if not fresh:
            todo = missing(self._wanted, self.hook.library_statuses(cluster_id))
            there = len(self._wanted) - len(todo)
            if there:
                self.log.info(
                    "Cluster %s already has %d of the %d libraries (installed by an earlier try or start)",
                    cluster_id,
                    there,
                    len(self._wanted),
                )
        if todo:
            self.log.info(
                "Installing %d librar%s on cluster %s: %s",
                len(todo),
                "y" if len(todo) == 1 else "ies",
                cluster_id,
                ", ".join(label(library) for library in todo),
            )
            self.hook.install_libraries(cluster_id, todo)
        self.log.info("Waiting for the libraries to be INSTALLED on cluster %s", cluster_id)

    def _following(self, outcome: WaitOutcome, current: int | None, deadline: float) -> int | None:
        """The alternative to move on to after ``outcome``: None to end with it (reached, any failure but
        a capacity shortage, no alternative left, or no time left to start another)."""
        from airflow_databricks_clusters.cluster_spec.capacity_fallback import next_alternative
        from airflow_databricks_clusters.wait.engine import OutcomeKind

        if outcome.kind is not OutcomeKind.FAILED:
            return None
        following = next_alternative(current, len(self._alternatives), outcome.termination_reason)
        if following is not None and time.time() >= deadline:
            self.log.warning(
                "No time left (timeout %.0f s) to move on to capacity_fallback[%d]",
                self.timeout_seconds,
                following,
            )
            return None
        return following

    def _move_on(self, outcome: WaitOutcome, current: int | None, following: int, deadline: float) -> None:
        """Edit the cluster that could not get its instances to the ``following`` alternative and start it:
        the same cluster, tags and all, so a crash, a retry and every failure path find it as before."""
        from airflow_databricks_clusters.cluster_spec.capacity_fallback import changes
        from airflow_databricks_clusters.errors import ClusterFailed
        from airflow_databricks_clusters.wait.ensure import respec_and_start
        from airflow_databricks_clusters.wait.lifecycle import log_failure
        from airflow_databricks_clusters.wait.states import termination_reason_text

        error = outcome.exception()
        if isinstance(error, ClusterFailed):
            log_failure(error, self.log)
        spec = self._alternatives[following]
        before = self._own_spec if current is None else self._alternatives[current]
        self.log.warning(
            "Cluster %s could not get its instances (%s): moving on to capacity_fallback[%d] (%d of %d): %s",
            outcome.cluster_id,
            termination_reason_text(outcome.termination_reason),
            following,
            following + 1,
            len(self._alternatives),
            "; ".join(changes(before, spec)),
        )
        self._raise_if_killed(outcome.cluster_id)
        respec_and_start(
            self.hook,
            outcome.cluster_id,
            str(outcome.state),
            self._with_credentials(spec),
            polling_interval=self.polling_interval,
            timeout_seconds=max(deadline - time.time(), self.polling_interval),
            logger=self.log,
            why=f"capacity_fallback[{following}]",
            before_start=lambda: self._raise_if_killed(outcome.cluster_id),
        )
        # A kill during the start call found the cluster stopped, and terminated nothing.
        self._raise_if_killed(outcome.cluster_id)

    def _raise_if_killed(self, cluster_id: str) -> None:
        """Fail (the caller's cleanup terminates the cluster) when the task was killed meanwhile: Airflow's
        kill runs ``on_kill`` and lets this thread go on until it kills the process."""
        if self._killed:
            raise AirflowException(f"The task was killed while cluster {cluster_id} moved to an alternative")

    def _build_specs(self, context: Context) -> dict[str, Any]:
        """The task's spec, its alternatives and its libraries kept beside it; a bad one fails the task before
        any call."""
        spec = self._own_spec = self.build_spec(context)
        self._alternatives = self.build_alternatives(spec)
        self._wanted = self.build_libraries()
        return spec

    def _recorded_id(self, context: Context) -> str | None:
        store = context.get("task_state_store")
        recorded = store.get(TASK_STATE_CLUSTER_ID_KEY) if store is not None else None
        return str(recorded) if recorded else None

    def _record(self, context: Context, cluster_id: str) -> None:
        self._push_cluster_url(context, cluster_id)
        store = context.get("task_state_store")
        if store is not None:
            store.set(TASK_STATE_CLUSTER_ID_KEY, cluster_id)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resume after the trigger fired: finish on RUNNING; after a capacity shortage, move on to the next
        ``capacity_fallback`` alternative and defer again; otherwise fail (terminating the cluster).

        The event carries, as ``resume_with``, the alternative the cluster ran on and the task's deadline.
        """
        from airflow_databricks_clusters.cluster_spec.capacity_fallback import is_capacity_shortage
        from airflow_databricks_clusters.wait.engine import WaitOutcome

        outcome = WaitOutcome.from_event(event)
        self._cluster_id = outcome.cluster_id
        resume = event.get("resume_with") or {}
        alternative, deadline = resume.get("alternative"), resume.get("deadline")
        try:
            if deadline is None:  # deferred by a version without capacity_fallback
                deadline = time.time() + self.timeout_seconds
            if self.capacity_fallback and is_capacity_shortage(outcome.termination_reason):
                # Built only now: a RUNNING cluster needs no spec to finish, whatever the DAG became since.
                # Without them there is no alternative to move on to.
                self._build_specs(context)
            elif self.libraries and outcome.reached:
                # Only a RUNNING cluster has libraries to install or to wait for.
                self._wanted = self.build_libraries()
            return self._until_running(
                context,
                outcome.cluster_id,
                alternative,
                deadline,
                outcome,
                fresh=bool(resume.get("fresh")),
                installing=bool(resume.get("installing")),
            )
        except BaseException as err:
            self._after_failure(outcome.cluster_id, err)
            raise

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except BaseException as err:
            if self._cluster_id is None and self.delete_on_error:
                # Airflow failed the deferral itself (its timeout, a trigger crash): the event with the
                # cluster id never arrived, but the tags find the cluster.
                from airflow_databricks_clusters.wait.lifecycle import terminate_tagged

                why = f"the task failed ({type(err).__name__})"
                terminate_tagged(self.hook, self._task_tags(context), why, self.log)
            raise

    def _complete(self, context: Context, outcome: WaitOutcome) -> str:
        """The end of the wait for RUNNING, sync or deferred: the summary XCom, or the outcome's error."""
        from airflow_databricks_clusters.wait.lifecycle import last_events
        from airflow_databricks_clusters.wait.states import cluster_summary, spot_report

        error = outcome.exception()
        if error is not None:
            raise error
        cluster = self.hook.get_cluster(outcome.cluster_id)
        summary = cluster_summary(cluster, last_events(self.hook, outcome.cluster_id, limit=50))
        self.log.info(spot_report(summary))
        context["ti"].xcom_push(key=CLUSTER_SUMMARY_XCOM_KEY, value=summary)
        return outcome.cluster_id

    def _after_failure(self, cluster_id: str, err: BaseException) -> None:
        from airflow_databricks_clusters.errors import ClusterFailed, LibrariesFailed
        from airflow_databricks_clusters.wait.lifecycle import (
            log_failure,
            log_library_failure,
            terminate_quietly,
        )

        if isinstance(err, TaskDeferred):
            return
        if isinstance(err, ClusterFailed):
            log_failure(err, self.log)
            self._show_cluster_logs(cluster_id)
        if isinstance(err, LibrariesFailed):
            log_library_failure(err, self.log)
        if self.delete_on_error:
            terminate_quietly(self.hook, cluster_id, f"the task failed ({type(err).__name__})", self.log)
        else:
            self.log.warning("delete_on_error=False: cluster %s is left as it is", cluster_id)

    def on_kill(self) -> None:
        """The task was killed in the worker: terminate the cluster it created (when delete_on_error).

        Killed during the create call itself, before the id came back, the cluster is found by its tags.
        """
        from airflow_databricks_clusters.wait.lifecycle import terminate_quietly, terminate_tagged

        self._killed = True
        if not self.delete_on_error:
            return
        if self._cluster_id:
            terminate_quietly(self.hook, self._cluster_id, "the task was killed", self.log)
        elif self._tags:
            terminate_tagged(self.hook, self._tags, "the task was killed during the create call", self.log)


class DatabricksTerminateClusterOperator(ClusterOperatorBase):
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

    Fails (``ClusterTimeout``, ``ClusterUnreadable``) only when the cluster cannot be seen to terminate;
    a cluster that disappears while it is awaited counts as terminated, sync or deferred.

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
        super().__init__(
            polling_interval=polling_interval,
            timeout=timeout,
            deferrable=deferrable,
            trigger_rule=trigger_rule,
            **kwargs,
        )
        self.cluster_id = cluster_id
        self.permanent = permanent
        self.wait_for_termination = wait_for_termination

    def _target(self) -> str | None:
        cluster_id = str(self.cluster_id).strip() if self.cluster_id is not None else ""
        # A setup that failed before creating anything pushes no id; templates render that as "None".
        return None if cluster_id in {"", "None", "null"} else cluster_id

    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_databricks_clusters.errors import ClusterNotFound
        from airflow_databricks_clusters.wait.states import TERMINATED

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
            return self._report_and_delete(cluster_id)
        self.log.info("Terminating cluster %s (state %s)", cluster_id, cluster.get("state"))
        self.hook.terminate_cluster(cluster_id)
        if not self.wait_for_termination:
            return self._report_and_delete(cluster_id)
        return self._complete(self._wait(cluster_id, [TERMINATED], terminate_on_kill=False))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any] | None:
        """Resume after the trigger fired: report, or fail when TERMINATED was not reached."""
        from airflow_databricks_clusters.wait.engine import WaitOutcome

        return self._complete(WaitOutcome.from_event(event))

    def _complete(self, outcome: WaitOutcome) -> dict[str, Any] | None:
        """The end of the wait for TERMINATED, sync or deferred; a cluster that is gone is terminated."""
        from airflow_databricks_clusters.wait.engine import OutcomeKind

        if outcome.kind is OutcomeKind.GONE:
            self.log.info("Cluster %s no longer exists: nothing left to terminate", outcome.cluster_id)
            return None
        error: DatabricksClustersError | None = outcome.exception()
        if error is not None:
            raise error
        return self._report_and_delete(outcome.cluster_id)

    def _report_and_delete(self, cluster_id: str) -> dict[str, Any] | None:
        from airflow_databricks_clusters.errors import ClusterNotFound
        from airflow_databricks_clusters.wait.lifecycle import last_events
        from airflow_databricks_clusters.wait.states import lifetime_report, lifetime_text

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


class _Labelled:
    """A logger whose lines begin with a label (the alternative a pre-flight line is about)."""

    def __init__(self, logger: Any, label: str) -> None:
        self._logger, self._label = logger, label

    def info(self, msg: Any, /, *args: Any) -> Any:
        return self._logger.info(self._label + str(msg), *args)

    def warning(self, msg: Any, /, *args: Any) -> Any:
        return self._logger.warning(self._label + str(msg), *args)

    def error(self, msg: Any, /, *args: Any) -> Any:
        return self._logger.error(self._label + str(msg), *args)
