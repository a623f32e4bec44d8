"""The emulated workspace: its clusters behind the Clusters API (and what it offers), its scenarios, its
saved state. No HTTP here (``app.py`` serves it).

Every API method holds the workspace's lock and first brings every cluster up to ``now()``: time is
lazy, and how a cluster moves from state to state is ``lifecycle.py``. Only the clusters with something
due are touched (``schedule.py``), so a request costs the same however many clusters the workspace holds.
The rest is elsewhere too: the cluster record (spec and defaults) in ``cluster_record.py``, its events
(and the ``clusters/events`` answer) in ``cluster_events.py``, its machines in ``nodes.py``, the
scenarios in ``scenarios.py``, the EC2 capacity they are bought from in ``capacity.py``.
"""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.emulator import capacity, cluster_events, cluster_permissions
from airflow_databricks_clusters.emulator.api_errors import (
    cluster_does_not_exist,
    invalid_parameter,
    invalid_state,
)
from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.cluster_policies import ClusterPolicies
from airflow_databricks_clusters.emulator.cluster_record import (
    event_attributes,
    fill,
    node_sizes,
    public,
    resize,
)
from airflow_databricks_clusters.emulator.instance_pools import InstancePools
from airflow_databricks_clusters.emulator.lifecycle import PENDING_MESSAGE, Lifecycle
from airflow_databricks_clusters.emulator.nodes import target_workers
from airflow_databricks_clusters.emulator.request_params import (
    field,
    integer,
    many,
    one,
    select_page,
)
from airflow_databricks_clusters.emulator.scenarios import SCENARIOS, Scenarios
from airflow_databricks_clusters.emulator.schedule import DueSchedule
from airflow_databricks_clusters.emulator.validation import validate_create

if TYPE_CHECKING:
    from airflow_databricks_clusters.emulator.dbfs import Dbfs
    from airflow_databricks_clusters.emulator.log_delivery import LogDelivery

__all__ = ["DEFAULT_USER", "PENDING_MESSAGE", "SCENARIOS", "SORT_FIELDS", "WORKSPACE_ID", "Workspace"]

DEFAULT_USER = "emulator@example.com"
#: The workspace's id (``/.well-known/databricks-config``, the ``?o=`` of its page URLs).
WORKSPACE_ID = "1234567890123456"
SORT_FIELDS = ("CLUSTER_NAME", "DEFAULT")
#: How ``clusters/list`` ranks states in its default order (state first, then pinned, then name): the
#: live ones first. The API names the three columns, not the states' order; this order is the emulator's.
STATE_ORDER = (
    "RUNNING",
    "RESIZING",
    "RESTARTING",
    "PENDING",
    "TERMINATING",
    "TERMINATED",
    "ERROR",
    "UNKNOWN",
)
#: ``clusters/list``: the page size of a request without one (or 0), and the most one page holds.
LIST_PAGE_SIZE = 100
#: States a cluster only passes through on its way to RUNNING or TERMINATED (``fast_forward.py``).
PASSING_STATES = frozenset({"PENDING", "RESTARTING", "RESIZING", "TERMINATING"})


class Workspace:
    """Clusters of one emulated workspace on AWS. Thread-safe; see ``lifecycle.py`` for the time model.

    Every API method takes the request body (POST) or query parameters (GET; repeated keys as lists) and
    returns the JSON answer, raising ``api_errors.ApiError`` as the real service answers.
    """

    def __init__(
        self,
        *,
        start_seconds: float = 2.0,
        terminate_seconds: float = 0.5,
        restart_seconds: float | None = None,
        resize_seconds: float | None = None,
        autotermination_scale: float = 60.0,
        region: str = "ap-southeast-1",
        clock: Callable[[], float] = time.time,  # the Emulator passes its EmulatedClock's now
        catalog: Catalog | None = None,
        seed: int | None = None,
        log_delivery: LogDelivery | None = None,
        dbfs: Dbfs | None = None,
        pool_start_seconds: float | None = None,
    ) -> None:
        self.catalog = catalog or Catalog(region=region)
        self.clock = clock
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self._clusters: dict[str, dict[str, Any]] = {}
        self._due = DueSchedule()
        self._scenarios = Scenarios()
        self._capacity = capacity.Capacity()
        #: idempotency token -> the cluster created with it (which holds it while not TERMINATED).
        self._tokens: dict[str, str] = {}
        self.pools = InstancePools(
            self.catalog,
            clock=clock,
            launch_seconds=start_seconds,
            minute_seconds=autotermination_scale,
            rng=self._random,
        )
        self.catalog.pool_lookup = self.pools.record
        self.policies = ClusterPolicies(self.catalog, clock=clock, rng=self._random)
        self.lifecycle = Lifecycle(
            start_seconds=start_seconds,
            terminate_seconds=terminate_seconds,
            restart_seconds=start_seconds if restart_seconds is None else restart_seconds,
            resize_seconds=start_seconds / 2 if resize_seconds is None else resize_seconds,
            autotermination_scale=autotermination_scale,
            rng=self._random,
            scenarios=self._scenarios,
            log_delivery=log_delivery,
            capacity=self._capacity,
            catalog=self.catalog,
            dbfs=dbfs,
            pools=self.pools,
            pool_start_seconds=pool_start_seconds,
        )
        #: Called on every change (the server saves its state file through it).
        self.on_change: Callable[[], None] | None = None
        #: Called with a job cluster's id before it is read while it has not terminated: its run is brought
        #: up to date (``jobs.py``), so a job cluster whose run has ended reads as ending, whoever reads it.
        self.on_job_cluster_read: Callable[[str], None] | None = None

    # -- time ---------------------------------------------------------------------------------------------

    def now(self) -> float:
        """The workspace's time (its ``clock``), epoch seconds."""
        return self.clock()

    def catch_up(self) -> None:
        """Bring every cluster up to ``now()`` at once (after the clock moved forward): the transitions
        due happen, and their logs go out, now rather than at the next request. Saves the state."""
        with self.lock:
            self._advance()
            self._changed()

    def _advance(self) -> None:
        now = self.now()
        for cluster_id in self._due.take_due(now):
            cluster = self._clusters[cluster_id]
            self.lifecycle.advance(cluster, now)
            self._plan(cluster)

    def settles_at(self, cluster_id: str) -> float | None:
        """When a cluster in a passing state (PENDING, RESTARTING, RESIZING, TERMINATING) next changes;
        None when it rests (RUNNING, TERMINATED), waits on nothing planned (held PENDING for good), or
        does not exist."""
        with self.lock:
            self._advance()
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster["state"] not in PASSING_STATES or not cluster["_steps"]:
                return None
            return float(cluster["_steps"][0]["at"])

    def _plan(self, cluster: Mapping[str, Any]) -> None:
        """Schedule the cluster's next due moment: after anything that may have changed its steps, its
        state or its autotermination."""
        self._due.plan(cluster["cluster_id"], self.lifecycle.next_due(cluster))

    # -- scenarios -----------------------------------------------------------------------------------------

    def set_scenario(
        self,
        name: str,
        *,
        cluster_id: str | None = None,
        cluster_name: str | None = None,
        times: int | None = None,
        **options: Any,
    ) -> str:
        """Switch a scenario on for one cluster (id or name), or for the whole workspace (neither given).

        ``times`` limits how many clusters (or runs) it applies to; None means every one. Returns its id.
        Options: ``spot_nodes_lost`` ``count``, ``after_seconds``; ``init_script_failure`` ``stderr``
        (what the failing script wrote, delivered in its ``.stderr.log``) and ``script_index`` (which
        script fails, 0-based, default the first; the ones before it succeed); ``run_failure``
        ``message``; ``library_failure`` ``match`` (text the library's path, pypi/cran package or maven
        coordinates contain; absent: any library) and ``message`` (its ``messages`` text; default a
        pip-like or Maven-like one as a workspace words it; see ``library_spec.py``), taken when the
        library is asked for (``times`` counts libraries); ``stuck_pending`` ``seconds``: the cluster
        stays PENDING that many (emulated) seconds, then its start goes on as usual (RUNNING
        ``start_seconds`` later, or what the other scenarios say); without it, PENDING for good.
        """
        with self.lock:
            scenario_id = self._scenarios.add(
                name, cluster_id=cluster_id, cluster_name=cluster_name, times=times, options=options
            )
            self._changed()
            return scenario_id

    def clear_scenarios(self) -> None:
        with self.lock:
            self._scenarios.clear()
            self._changed()

    def scenarios(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self._scenarios.to_json()

    def take_scenario(
        self,
        name: str,
        cluster: Mapping[str, Any],
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        """The options of a scenario that applies to this cluster (using up one of its ``times``); with
        ``accept``, only one whose options it accepts."""
        with self.lock:
            return self._scenarios.take(name, cluster, accept)

    # -- capacity ------------------------------------------------------------------------------------------

    def set_capacity(self, shortages: Any) -> None:
        """Replace every EC2 shortage (``capacity.py``): a list of ``{"node_type_id", "zone_id",
        "market", "from_seconds", "until_seconds"}``, each None or absent for any node type, any zone,
        both markets (SPOT, ON_DEMAND), from the beginning, for ever; times on the workspace's clock.
        A start, resize or replacement buys only what is not short; a spot shortage that begins takes
        back the spot machines it covers (at the moment it is set, for one that had already begun).
        Refused with 400 INVALID_PARAMETER_VALUE naming the first bad field."""
        checked = capacity.checked(shortages, node_types=self.catalog.node_types, zones=self.catalog.zones)
        with self.lock:
            self._advance()
            self._capacity.set(checked, self.now())
            for cluster in self._clusters.values():  # a reclaim may now fall due earlier
                self._plan(cluster)
            self._changed()

    def clear_capacity(self) -> None:
        """No shortage: everything can be had."""
        self.set_capacity([])

    def capacity(self) -> list[dict[str, Any]]:
        """The shortages as set (a copy)."""
        with self.lock:
            return copy.deepcopy(self._capacity.shortages)

    # -- helpers -------------------------------------------------------------------------------------------

    def _new_cluster_id(self, at: float) -> str:
        stamp = time.strftime("%m%d-%H%M%S", time.gmtime(at))
        alphabet = string.ascii_lowercase + string.digits
        while True:
            cluster_id = f"{stamp}-{''.join(self._random.choice(alphabet) for _ in range(8))}"
            if cluster_id not in self._clusters:
                return cluster_id

    def _cluster(self, cluster_id: Any) -> dict[str, Any]:
        if not isinstance(cluster_id, str) or not cluster_id:
            raise invalid_parameter("Missing required field: cluster_id")
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            raise cluster_does_not_exist(cluster_id)
        return cluster

    def _token_holder(self, token: str | None) -> str | None:
        """The cluster that holds ``token``: created with it and not TERMINATED since."""
        if token is None:
            return None
        cluster_id = self._tokens.get(token)
        cluster = self._clusters.get(cluster_id or "")
        if cluster is None or cluster.get("_idempotency_token") != token:
            self._tokens.pop(token, None)  # terminated (which clears it) or permanently deleted
            return None
        return cluster_id

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- Clusters API --------------------------------------------------------------------------------------

    def checked_spec(self, body: Mapping[str, Any], *, source: str = "API") -> dict[str, Any]:
        """``body`` as ``clusters/create`` would make it: its ``policy_id``'s rules applied (fixed values
        filled in, a violation refused) and then the Clusters API's own rules; raises ``ApiError``. The one
        check of every cluster spec, so a run or job refuses, before it makes anything, what the create of
        its job cluster would refuse."""
        with self.lock:
            applied = self.policies.apply(body, cluster_type="job" if source == "JOB" else "all-purpose")
        return validate_create(applied, self.catalog)

    def clusters_create(
        self, body: Mapping[str, Any], *, user: str = DEFAULT_USER, source: str = "API"
    ) -> dict[str, Any]:
        """A new cluster, PENDING. With an ``idempotency_token`` that a cluster not TERMINATED holds (one
        created with it: TERMINATING still holds it), that cluster's id instead, and nothing changes.
        ``source`` is its ``cluster_source``: ``JOB`` for a run's job cluster (``job_clusters.py``), which
        the Clusters API then refuses to start, edit, restart or resize, and which a ``policy_id``'s
        ``cluster_type`` rule sees as ``job``."""
        spec = self.checked_spec(body, source=source)
        token = spec.pop("idempotency_token", None)
        with self.lock:
            self._advance()
            holder = self._token_holder(token)
            if holder is not None:
                return {"cluster_id": holder}
            at = self.now()
            cluster_id = self._new_cluster_id(at)
            cluster: dict[str, Any] = {
                "cluster_id": cluster_id,
                "creator_user_name": user,
                "cluster_source": source,
                "jdbc_port": 10000,
                "_events": [],
                "_steps": [],
                "_last_activity": at,
            }
            spec.pop("cluster_source", None)
            fill(cluster, spec, self.catalog)
            if token is not None:
                cluster["_idempotency_token"] = token
                self._tokens[token] = cluster_id
            self._clusters[cluster_id] = cluster
            self._due.add(cluster_id)
            self.lifecycle.begin_start(cluster, at, first=True)
            self._plan(cluster)
            self._changed()
            return {"cluster_id": cluster_id}

    def clusters_edit(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            _refuse_job_cluster(cluster, "edit")
            _expect_state(cluster, "RUNNING", "TERMINATED")
            given = {k: v for k, v in body.items() if k != "cluster_id"}
            spec = self.checked_spec(given)
            spec.pop("idempotency_token", None)  # a create's field: an edit neither keeps nor shows it
            at = self.now()
            if cluster["state"] == "RUNNING":  # it restarts on its new pools and size at once
                self._repool({**spec, "cluster_id": cluster["cluster_id"]}, target_workers(spec), at)
            before = event_attributes(cluster["spec"])
            fill(cluster, spec, self.catalog)
            cluster_events.record(
                cluster,
                at,
                "EDITED",
                user=user,
                previous_attributes=before["attributes"],
                previous_cluster_size=before["cluster_size"],
                **event_attributes(spec),
            )
            if cluster["state"] == "RUNNING":
                self.lifecycle.begin_restart(cluster, at, user)
            self._plan(cluster)
            self._changed()
            return {}

    def clusters_start(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            _refuse_job_cluster(cluster, "start")
            _expect_state(cluster, "TERMINATED")
            cluster["_started_by"] = user
            self.lifecycle.begin_start(cluster, self.now(), first=False)
            self._plan(cluster)
            self._changed()
            return {}

    def clusters_restart(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            _refuse_job_cluster(cluster, "restart")
            _expect_state(cluster, "RUNNING")
            self.lifecycle.begin_restart(cluster, self.now(), user)
            self._plan(cluster)
            self._changed()
            return {}

    def clusters_resize(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            _refuse_job_cluster(cluster, "resize")
            num_workers, autoscale = body.get("num_workers"), body.get("autoscale")
            if (num_workers is None) == (autoscale is None):
                raise invalid_parameter("Exactly one of num_workers or autoscale must be specified.")
            _expect_state(cluster, "RUNNING")
            probe = {"spark_version": cluster["spark_version"], "node_type_id": cluster.get("node_type_id")}
            probe["autoscale" if autoscale is not None else "num_workers"] = autoscale or num_workers
            if cluster.get("instance_pool_id"):
                probe = {**probe, "instance_pool_id": cluster["instance_pool_id"]}
                probe.pop("node_type_id")
            validate_create(probe, self.catalog)
            at = self.now()
            previous = target_workers(cluster)
            size = (
                {"autoscale": dict(autoscale)}
                if autoscale is not None
                else {"num_workers": int(num_workers or 0)}
            )
            self._repool(cluster, target_workers(size), at)
            resize(cluster, size)
            self.lifecycle.begin_resize(cluster, at, user, previous)
            self._plan(cluster)
            self._changed()
            return {}

    def _repool(self, pooled: Mapping[str, Any], workers: int, at: float) -> None:
        """A running cluster about to have ``workers`` workers on the pools ``pooled`` names (its id and
        pool ids: resized, the cluster itself; edited, its new spec) holds the pool instances that needs;
        refused (400, nothing changed) when its pools cannot give them."""
        refused = self.pools.adjust(pooled, workers, at)
        if refused is not None:
            raise invalid_parameter(refused["parameters"]["databricks_error_message"])

    def clusters_delete(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            if cluster["state"] not in ("TERMINATING", "TERMINATED"):
                self.lifecycle.begin_termination(
                    cluster, self.now(), cluster_events.reason("USER_REQUEST", "SUCCESS", username=user)
                )
                self._plan(cluster)
                self._changed()
            return {}

    def clusters_permanent_delete(
        self, body: Mapping[str, Any], *, user: str = DEFAULT_USER
    ) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            if cluster.get("_idempotency_token") is not None:
                self._tokens.pop(cluster["_idempotency_token"], None)
            del self._clusters[cluster["cluster_id"]]
            self._due.remove(cluster["cluster_id"])
            self.pools.release(cluster["cluster_id"], self.now())
            self._changed()
            return {}

    def clusters_pin(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        return self._set_pinned(body, user, True)

    def clusters_unpin(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        return self._set_pinned(body, user, False)

    def _set_pinned(self, body: Mapping[str, Any], user: str, pinned: bool) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            if cluster.get("_pinned", False) != pinned:
                cluster["_pinned"] = pinned
                cluster_events.record(cluster, self.now(), "PINNED" if pinned else "UNPINNED", user=user)
                self._changed()
            return {}

    def end_job_cluster(self, cluster_id: str, at: float) -> None:
        """The run a job cluster served has ended (at ``at``): it terminates, JOB_FINISHED, unless it
        already is terminating or gone."""
        with self.lock:
            self._advance()
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster["state"] in ("TERMINATING", "TERMINATED"):
                return
            reason = cluster_events.reason("JOB_FINISHED", "SUCCESS")
            self.lifecycle.begin_termination(cluster, max(at, self._last_event_at(cluster)), reason)
            self._plan(cluster)
            self._changed()

    @staticmethod
    def _last_event_at(cluster: Mapping[str, Any]) -> float:
        """When the cluster's newest event happened (a termination cannot precede it)."""
        events = cluster.get("_events") or []
        return float(events[-1]["timestamp"]) / 1000 if events else 0.0

    def touch_cluster(self, cluster_id: str, at: float | None = None) -> None:
        """Activity on the cluster (a job run) at ``at`` (default now): it postpones autotermination."""
        with self.lock:
            self._advance()
            cluster = self._cluster(cluster_id)
            at = self.now() if at is None else at
            cluster["_last_activity"] = max(float(cluster["_last_activity"]), at)
            self._plan(cluster)

    def cluster_count(self) -> int:
        """How many clusters the workspace holds (permanently deleted ones gone)."""
        with self.lock:
            return len(self._clusters)

    def clusters_get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(one(params.get("cluster_id")))
            self._runs_first([cluster])
            return public(cluster)

    def _runs_first(self, clusters: Iterable[Mapping[str, Any]]) -> None:
        """Bring the runs of the job clusters about to be read up to date (``on_job_cluster_read``)."""
        if self.on_job_cluster_read is None:
            return
        live = [c for c in clusters if c.get("cluster_source") == "JOB" and c["state"] != "TERMINATED"]
        for cluster in live:
            self.on_job_cluster_read(str(cluster["cluster_id"]))
        if live:
            self._advance()  # a run that ended back then ended its cluster from then: it may be due already

    def clusters_list(self, params: Mapping[str, Any], *, api_version: str = "2.1") -> dict[str, Any]:
        with self.lock:
            self._advance()
            clusters = list(self._clusters.values())
            self._runs_first(clusters)
            if api_version == "2.0":
                return {"clusters": [public(c, with_spec=False) for c in clusters]}
            states = many(field(params, "filter_by.cluster_states"))
            if states:
                clusters = [c for c in clusters if c["state"] in states]
            pinned = one(field(params, "filter_by.is_pinned"))
            if pinned is not None:
                want = str(pinned).lower() == "true"
                clusters = [c for c in clusters if c.get("_pinned", False) == want]
            policy = one(field(params, "filter_by.policy_id"))
            if policy:
                clusters = [c for c in clusters if c.get("policy_id") == policy]
            key, descending = _sort_key(params), _descending(params)
            size = integer(one(params.get("page_size")), "page_size", default=0)
            if not 0 <= size <= LIST_PAGE_SIZE:
                raise invalid_parameter(
                    f"Invalid page_size {size}: must be from 0 (the server's default) to {LIST_PAGE_SIZE}."
                )
            page, following, preceding = select_page(
                clusters,
                key,
                params.get("page_token"),
                size or LIST_PAGE_SIZE,
                descending=descending,
                list_name="clusters",
            )
            return {
                "clusters": [public(c, with_spec=False) for c in page],
                "next_page_token": following,
                "prev_page_token": preceding,
            }

    def clusters_events(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            self._runs_first([cluster])
            return cluster_events.events_answer(cluster, body)

    def spark_versions(self) -> dict[str, Any]:
        return self.catalog.spark_versions_answer()

    def list_node_types(self) -> dict[str, Any]:
        return self.catalog.node_types_answer()

    def list_zones(self) -> dict[str, Any]:
        return self.catalog.zones_answer()

    def instance_profiles_list(self) -> dict[str, Any]:
        return self.catalog.instance_profiles_answer()

    # -- owner and permissions (cluster_permissions.py) ----------------------------------------------------

    def clusters_change_owner(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            cluster_permissions.change_owner(cluster, body.get("owner_username"))
            self._changed()
            return {}

    def cluster_permissions(self, cluster_id: str) -> dict[str, Any]:
        with self.lock:
            return cluster_permissions.permissions(self._permission_target(cluster_id))

    def cluster_permission_levels(self, cluster_id: str) -> dict[str, Any]:
        with self.lock:
            self._permission_target(cluster_id)
            return cluster_permissions.levels()

    def set_cluster_permissions(
        self, cluster_id: str, body: Mapping[str, Any], *, replace: bool
    ) -> dict[str, Any]:
        """``PUT`` (``replace``) or ``PATCH /api/2.0/permissions/clusters/{cluster_id}``."""
        with self.lock:
            answer = cluster_permissions.set_acl(self._permission_target(cluster_id), body, replace=replace)
            self._changed()
            return answer

    def _permission_target(self, cluster_id: str) -> dict[str, Any]:
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            raise cluster_permissions.cluster_not_found(cluster_id)
        return cluster

    # -- instance pools and cluster policies (instance_pools.py, cluster_policies.py) ---------------------

    def instance_pools_create(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        return self._changing(lambda: self.pools.create(body, user=user))

    def instance_pools_edit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._changing(lambda: self.pools.edit(body))

    def instance_pools_delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._changing(lambda: self.pools.delete(body))

    def instance_pools_list(self) -> dict[str, Any]:
        with self.lock:
            self._advance()
            return self.pools.list()

    def instance_pools_get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._advance()
            return self.pools.get(params)

    def _changing(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A change to pools or policies, after every cluster is up to now (a termination due gives a pool its
        instances back); the state is saved."""
        with self.lock:
            self._advance()
            answer = call()
            self._changed()
            return answer

    def policies_create(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        return self._changing(lambda: self.policies.create(body, user=user))

    def policies_edit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._changing(lambda: self.policies.edit(body))

    def policies_delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._changing(lambda: self.policies.delete(body))

    def policies_get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self.policies.get(params)

    def policies_list(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        with self.lock:
            return self.policies.list(params or {})

    # -- inspection and persistence ------------------------------------------------------------------------

    def all_clusters(self) -> list[dict[str, Any]]:
        """Every cluster as ``clusters/get`` answers it (for assertions and the demo)."""
        with self.lock:
            self._advance()
            self._runs_first(list(self._clusters.values()))
            return [public(c) for c in self._clusters.values()]

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "clusters": copy.deepcopy(self._clusters),
                "scenarios": self._scenarios.to_json(),
                "capacity": self._capacity.to_json(),
                "instance_pools": self.pools.to_json(),
                "cluster_policies": self.policies.to_json(),
            }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], **kwargs: Any) -> Workspace:
        workspace = cls(**kwargs)
        workspace._capacity.load_json(data.get("capacity", {}))
        workspace.pools.load_json(data.get("instance_pools", {}))
        workspace.policies.load_json(data.get("cluster_policies", {}))
        workspace._clusters = copy.deepcopy(dict(data.get("clusters", {})))
        for cluster_id, cluster in workspace._clusters.items():
            if cluster.get("_idempotency_token") is not None:
                workspace._tokens[cluster["_idempotency_token"]] = cluster_id
            if "_node_memory_mb" not in cluster:  # a file saved before the record kept a node's size
                node_sizes(cluster, workspace.catalog)
            workspace._due.add(cluster_id)
            workspace._plan(cluster)
        workspace._scenarios.load_json(data.get("scenarios", {}))
        return workspace


def _sort_key(params: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``sort_by.field``: CLUSTER_NAME, or DEFAULT (also when absent): state, then pinned before unpinned,
    then name. The cluster id last makes every key distinct, which the paging cursor needs."""
    sort_field = str(one(field(params, "sort_by.field")) or "DEFAULT")
    if sort_field not in SORT_FIELDS:
        raise invalid_parameter(
            f"Invalid sort_by.field {sort_field}: must be one of {', '.join(SORT_FIELDS)}."
        )
    if sort_field == "CLUSTER_NAME":
        return lambda c: (c.get("cluster_name") or "", c["cluster_id"])
    rank = {state: index for index, state in enumerate(STATE_ORDER)}
    return lambda c: (
        rank.get(c["state"], len(rank)),
        not c.get("_pinned", False),
        c.get("cluster_name") or "",
        c["cluster_id"],
    )


def _descending(params: Mapping[str, Any]) -> bool:
    direction = str(one(field(params, "sort_by.direction")) or "ASC")
    if direction not in ("ASC", "DESC"):
        raise invalid_parameter(f"Invalid sort_by.direction {direction}: must be ASC or DESC.")
    return direction == "DESC"


def _refuse_job_cluster(cluster: Mapping[str, Any], action: str) -> None:
    """A job cluster belongs to its run: the Clusters API may read or delete it, not change it."""
    if cluster.get("cluster_source") == "JOB":
        raise invalid_parameter(f"Cannot {action} cluster {cluster['cluster_id']} created by JobLauncher")


def _expect_state(cluster: Mapping[str, Any], *states: str) -> None:
    """INVALID_STATE unless the cluster is in one of ``states``."""
    if cluster["state"] not in states:
        state = cluster["state"].capitalize()
        raise invalid_state(f"Cluster {cluster['cluster_id']} is in unexpected state {state}.")
