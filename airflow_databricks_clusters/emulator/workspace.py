"""The emulated workspace's clusters: their state machine, events and scenarios. No HTTP here.

Time is lazy: each public method first brings every cluster up to ``now()``. A transition whose time has
come happens then, stamped with the moment it was due, so what a client sees is what it would have seen
polling a real workspace at any rate. Planned transitions are plain data (``steps``), so a workspace can
be saved to JSON and resumed.

Log files a transition produces (init-script logs, driver logs) are handed, at that transition, to the
``log_delivery`` given (see ``log_delivery.py``) for clusters with a ``cluster_log_conf``; the workspace
itself does no I/O.
"""

from __future__ import annotations

import copy
import itertools
import random
import string
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.emulator import init_scripts
from airflow_databricks_clusters.emulator.api_errors import (
    cluster_does_not_exist,
    invalid_parameter,
    invalid_state,
)
from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.driver_logs import driver_logs
from airflow_databricks_clusters.emulator.validation import validate_create

if TYPE_CHECKING:
    from airflow_databricks_clusters.emulator.log_delivery import LogDelivery

DEFAULT_USER = "emulator@example.com"
PENDING_MESSAGE = "Finding instances for new nodes, acquiring more instances if necessary"
SCENARIOS = (
    "spot_capacity_failure",
    "spot_fallback_to_on_demand",
    "spot_nodes_lost",
    "docker_image_pull_failure",
    "init_script_failure",
    "stuck_pending",
    "run_failure",
)
SORT_FIELDS = {"CLUSTER_NAME": "cluster_name", "DEFAULT": "start_time"}
_LIST_HIDDEN = ("spec",)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _reason(code: str, kind: str, **parameters: str) -> dict[str, Any]:
    return {"code": code, "type": kind, "parameters": parameters}


class Workspace:
    """Clusters of one emulated workspace on AWS. Thread-safe; see the module doc for the time model.

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
        clock: Callable[[], float] = time.time,
        catalog: Catalog | None = None,
        seed: int | None = None,
        log_delivery: LogDelivery | None = None,
    ) -> None:
        self.start_seconds = start_seconds
        self.terminate_seconds = terminate_seconds
        self.restart_seconds = start_seconds if restart_seconds is None else restart_seconds
        self.resize_seconds = start_seconds / 2 if resize_seconds is None else resize_seconds
        self.autotermination_scale = autotermination_scale
        self.catalog = catalog or Catalog(region=region)
        self.clock = clock
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self.log_delivery = log_delivery
        self._clusters: dict[str, dict[str, Any]] = {}
        self._scenarios: dict[str, dict[str, Any]] = {}
        self._scenario_ids = itertools.count(1)
        #: Called on every change (the server saves its state file through it).
        self.on_change: Callable[[], None] | None = None

    # -- time ---------------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def _advance(self) -> None:
        now = self.now()
        for cluster in self._clusters.values():
            self._advance_cluster(cluster, now)

    def _advance_cluster(self, cluster: dict[str, Any], now: float) -> None:
        while True:
            steps = cluster["_steps"]
            idle_at = self._idle_deadline(cluster)
            due = steps[0]["at"] if steps else None
            if idle_at is not None and idle_at <= now and (due is None or idle_at < due):
                minutes = cluster["autotermination_minutes"]
                self._begin_termination(
                    cluster,
                    idle_at,
                    _reason("INACTIVITY", "SUCCESS", inactivity_duration_min=str(minutes)),
                )
                continue
            if due is None or due > now:
                return
            self._apply(cluster, steps.pop(0))

    def _idle_deadline(self, cluster: Mapping[str, Any]) -> float | None:
        minutes = cluster.get("autotermination_minutes") or 0
        if cluster["state"] != "RUNNING" or minutes <= 0 or cluster["_steps"]:
            return None
        return float(cluster["_last_activity"]) + minutes * self.autotermination_scale

    def _plan(self, cluster: dict[str, Any], at: float, op: str, **args: Any) -> None:
        cluster["_steps"].append({"at": at, "op": op, **args})
        cluster["_steps"].sort(key=lambda step: step["at"])

    def _event(self, cluster: dict[str, Any], at: float, kind: str, **details: Any) -> None:
        cluster["_events"].append(
            {"cluster_id": cluster["cluster_id"], "timestamp": _ms(at), "type": kind, "details": details}
        )

    # -- transitions ---------------------------------------------------------------------------------------

    def _apply(self, cluster: dict[str, Any], step: dict[str, Any]) -> None:
        at, op = step["at"], step["op"]
        if op == "event":
            self._event(cluster, at, step["type"], **step.get("details", {}))
        elif op == "running":
            self._become_running(
                cluster, at, fallback=step.get("fallback", False), driver_ip=step.get("driver_ip")
            )
        elif op == "init_scripts_ran":
            self._init_scripts_ran(cluster, at, step["runs"], step["node"], step.get("reason"))
        elif op == "terminating":
            self._begin_termination(cluster, at, step["reason"])
        elif op == "terminated":
            cluster.update(state="TERMINATED", state_message=step.get("message", ""), terminated_time=_ms(at))
            cluster.pop("driver", None)
            cluster.pop("executors", None)
        elif op == "nodes_lost":
            self._lose_nodes(cluster, at, int(step["count"]))
        elif op == "nodes_replaced":
            self._place_nodes(cluster, at, self._target_workers(cluster), spot_ok=True)
            self._event(
                cluster,
                at,
                "UPSIZE_COMPLETED",
                current_num_workers=self._target_workers(cluster),
                target_num_workers=self._target_workers(cluster),
            )
        elif op == "resized":
            cluster.update(state="RUNNING", state_message="")
            cluster["_last_activity"] = at
            self._place_nodes(cluster, at, self._target_workers(cluster), spot_ok=True)
            self._event(
                cluster,
                at,
                "UPSIZE_COMPLETED",
                current_num_workers=self._target_workers(cluster),
                target_num_workers=self._target_workers(cluster),
            )

    def _target_workers(self, cluster: Mapping[str, Any]) -> int:
        autoscale = cluster.get("autoscale")
        return int(autoscale["min_workers"]) if autoscale else int(cluster.get("num_workers", 0))

    def _begin_start(self, cluster: dict[str, Any], at: float, first: bool) -> None:
        """PENDING now, then what the scenarios say: RUNNING, or a failure ending TERMINATED."""
        cluster.update(state="PENDING", state_message=PENDING_MESSAGE, start_time=_ms(at))
        cluster["_last_activity"] = at
        cluster.pop("termination_reason", None)
        cluster.pop("terminated_time", None)
        cluster["_steps"] = []
        if first:
            self._event(cluster, at, "CREATING", user=cluster["creator_user_name"])
        else:
            self._event(
                cluster, at, "STARTING", user=cluster.get("_started_by", cluster["creator_user_name"])
            )
        if self._take_scenario("stuck_pending", cluster) is not None:
            return
        start = self.start_seconds
        aws = cluster["aws_attributes"]
        capacity = self._take_scenario("spot_capacity_failure", cluster)
        fallback = self._take_scenario("spot_fallback_to_on_demand", cluster) is not None
        if capacity is not None:
            if aws["availability"] == "SPOT_WITH_FALLBACK":
                fallback = True
            else:
                self._plan(
                    cluster,
                    at + start * 0.5,
                    "terminating",
                    reason=_reason(
                        "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
                        "CLOUD_FAILURE",
                        aws_api_error_code="InsufficientInstanceCapacity",
                        aws_error_message="There is no Spot capacity available that matches your request.",
                    ),
                )
                return
        if fallback:
            self._plan(
                cluster,
                at + start * 0.4,
                "event",
                type="ADD_NODES_FAILED",
                details={
                    "reason": _reason(
                        "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
                        "CLOUD_FAILURE",
                        aws_api_error_code="InsufficientInstanceCapacity",
                        databricks_error_message=(
                            "Spot capacity unavailable; falling back to on-demand instances "
                            "(availability SPOT_WITH_FALLBACK)."
                        ),
                    )
                },
            )
        if self._take_scenario("docker_image_pull_failure", cluster) is not None:
            image = (cluster.get("docker_image") or {}).get("url", "")
            self._plan(
                cluster,
                at + start * 0.6,
                "terminating",
                reason=_reason(
                    "DOCKER_IMAGE_PULL_FAILURE",
                    "CLIENT_ERROR",
                    databricks_error_message=f"Failed to pull docker image {image}: manifest unknown",
                ),
            )
            return
        scripts = cluster.get("init_scripts") or []
        if not scripts:
            self._plan(cluster, at + start, "running", fallback=fallback)
            return
        # The scripts run in the driver's container, so its IP names their log folder.
        driver_ip = self._private_ip()
        details = init_scripts.started_details(scripts)
        self._plan(cluster, at + start * 0.6, "event", type="INIT_SCRIPTS_STARTED", details=details)
        failure = self._take_scenario("init_script_failure", cluster)
        runs = init_scripts.plan_runs(
            scripts,
            started=at + start * 0.6,
            seconds=start * 0.2,
            failing=None if failure is None else int(failure.get("script_index", 0)),
            failure_stderr=str((failure or {}).get("stderr", init_scripts.DEFAULT_FAILURE_STDERR)),
        )
        reason = None
        if failure is not None:
            reason = _reason(
                "INIT_SCRIPT_FAILURE",
                "CLIENT_ERROR",
                instance_id="i-0" + self._hex(16),
                databricks_error_message=init_scripts.failure_message(runs[-1]),
            )
        self._plan(cluster, at + start * 0.8, "init_scripts_ran", runs=runs, node=driver_ip, reason=reason)
        if failure is None:
            self._plan(cluster, at + start, "running", fallback=fallback, driver_ip=driver_ip)

    def _init_scripts_ran(
        self,
        cluster: dict[str, Any],
        at: float,
        runs: list[init_scripts.ScriptRun],
        node_ip: str,
        reason: dict[str, Any] | None,
    ) -> None:
        """The scripts are done: their logs go out, then INIT_SCRIPTS_FINISHED or the failure."""
        self._deliver_logs(cluster, init_scripts.log_files(cluster["cluster_id"], node_ip, runs))
        if reason is not None:
            self._begin_termination(cluster, at, reason)
            return
        self._event(cluster, at, "INIT_SCRIPTS_FINISHED", **init_scripts.finished_details(runs, node_ip))

    def _become_running(
        self, cluster: dict[str, Any], at: float, *, fallback: bool, driver_ip: str | None = None
    ) -> None:
        cluster.update(state="RUNNING", state_message="")
        cluster["_last_activity"] = at
        cluster.setdefault("spark_context_id", self._random.randrange(10**18, 10**19))
        workers = self._target_workers(cluster)
        self._place_driver(cluster, at, driver_ip)
        self._place_nodes(cluster, at, workers, spot_ok=not fallback)
        self._event(cluster, at, "DRIVER_HEALTHY")
        self._event(cluster, at, "RUNNING", current_num_workers=workers, target_num_workers=workers)
        self._deliver_logs(cluster, driver_logs(cluster))
        lost = self._take_scenario("spot_nodes_lost", cluster)
        if lost is not None:
            after = float(lost.get("after_seconds", self.start_seconds))
            count = int(lost.get("count", 1))
            self._plan(cluster, at + after, "nodes_lost", count=count)
            self._plan(cluster, at + after + self.start_seconds / 2, "nodes_replaced")

    def _private_ip(self) -> str:
        return f"10.0.{self._random.randrange(256)}.{self._random.randrange(1, 255)}"

    def _node(self, at: float, on_spot: bool, private_ip: str | None = None) -> dict[str, Any]:
        return {
            "node_id": self._hex(32),
            "instance_id": "i-0" + self._hex(16),
            "private_ip": private_ip or self._private_ip(),
            "start_timestamp": _ms(at),
            "node_aws_attributes": {"is_spot": on_spot},
            "host_private_ip": self._private_ip(),
        }

    def _on_spot(self, slot: int, spot_ok: bool, aws: Mapping[str, Any]) -> bool:
        """Slot 0 is the driver: ``first_on_demand`` counts the driver first, as Databricks does."""
        if aws["availability"] == "ON_DEMAND" or not spot_ok:
            return False
        return slot >= int(aws.get("first_on_demand", 0))

    def _place_driver(self, cluster: dict[str, Any], at: float, private_ip: str | None = None) -> None:
        cluster["driver"] = self._node(at, self._on_spot(0, True, cluster["aws_attributes"]), private_ip)

    def _place_nodes(self, cluster: dict[str, Any], at: float, count: int, *, spot_ok: bool) -> None:
        kept = list(cluster.get("executors") or [])[:count]
        aws = cluster["aws_attributes"]
        for slot in range(len(kept) + 1, count + 1):
            kept.append(self._node(at, self._on_spot(slot, spot_ok, aws)))
        cluster["executors"] = kept

    def _lose_nodes(self, cluster: dict[str, Any], at: float, count: int) -> None:
        executors = list(cluster.get("executors") or [])
        spot = [node for node in executors if node["node_aws_attributes"]["is_spot"]][:count]
        cluster["executors"] = [node for node in executors if node not in spot]
        self._event(
            cluster,
            at,
            "NODES_LOST",
            current_num_workers=len(cluster["executors"]),
            target_num_workers=self._target_workers(cluster),
            reason=_reason(
                "SPOT_INSTANCE_TERMINATION",
                "CLOUD_FAILURE",
                aws_instance_state_reason="Server.SpotInstanceTermination",
                instance_id=",".join(node["instance_id"] for node in spot),
            ),
        )

    def _begin_termination(self, cluster: dict[str, Any], at: float, reason: dict[str, Any]) -> None:
        message = reason.get("parameters", {}).get("databricks_error_message", "")
        if reason["code"] == "INACTIVITY":
            minutes = reason["parameters"]["inactivity_duration_min"]
            message = f"Inactive cluster terminated (inactive for {minutes} minutes)."
        cluster.update(state="TERMINATING", state_message=message, termination_reason=reason)
        cluster["_steps"] = []
        self._event(cluster, at, "TERMINATING", reason=reason)
        if "driver" in cluster:  # it ran: the driver's last logs go out with the termination
            self._deliver_logs(cluster, driver_logs(cluster, terminating_at=at))
        self._plan(cluster, at + self.terminate_seconds, "terminated", message=message)

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
        ``message``.
        """
        if name not in SCENARIOS:
            raise invalid_parameter(f"Unknown scenario {name}: one of {', '.join(SCENARIOS)}.")
        with self.lock:
            scenario_id = f"scenario-{next(self._scenario_ids)}"
            self._scenarios[scenario_id] = {
                "name": name,
                "cluster_id": cluster_id,
                "cluster_name": cluster_name,
                "times": times,
                "options": options,
            }
            self._changed()
            return scenario_id

    def clear_scenarios(self) -> None:
        with self.lock:
            self._scenarios.clear()
            self._changed()

    def scenarios(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._scenarios)

    def take_scenario(self, name: str, cluster: Mapping[str, Any]) -> dict[str, Any] | None:
        """The options of a scenario that applies to this cluster (using up one of its ``times``)."""
        with self.lock:
            return self._take_scenario(name, cluster)

    def _take_scenario(self, name: str, cluster: Mapping[str, Any]) -> dict[str, Any] | None:
        for scenario_id, scenario in list(self._scenarios.items()):
            if scenario["name"] != name:
                continue
            if scenario["cluster_id"] not in (None, cluster.get("cluster_id")):
                continue
            if scenario["cluster_name"] not in (None, cluster.get("cluster_name")):
                continue
            if scenario["times"] is not None:
                scenario["times"] -= 1
                if scenario["times"] <= 0:
                    del self._scenarios[scenario_id]
            return dict(scenario["options"])
        return None

    # -- helpers -------------------------------------------------------------------------------------------

    def _hex(self, length: int) -> str:
        return "".join(self._random.choice("0123456789abcdef") for _ in range(length))

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

    def _deliver_logs(self, cluster: Mapping[str, Any], files: Mapping[str, str]) -> None:
        conf = cluster.get("cluster_log_conf")
        if self.log_delivery is not None and conf:
            self.log_delivery.deliver(conf, cluster["cluster_id"], files)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    @staticmethod
    def _public(cluster: Mapping[str, Any], *, with_spec: bool = True) -> dict[str, Any]:
        answer = {key: copy.deepcopy(value) for key, value in cluster.items() if not key.startswith("_")}
        if not with_spec:
            for key in _LIST_HIDDEN:
                answer.pop(key, None)
        return answer

    def _fill(self, cluster: dict[str, Any], spec: Mapping[str, Any]) -> None:
        """Lay a validated spec onto a cluster record, with the server's defaults filled in."""
        for key in list(cluster):
            if not key.startswith("_") and key in spec_fields_to_reset:
                del cluster[key]
        for key, value in spec.items():
            cluster[key] = copy.deepcopy(value)
        if "autoscale" in cluster:
            cluster.pop("num_workers", None)
        aws = dict(cluster.get("aws_attributes") or {})
        aws.setdefault("availability", "SPOT_WITH_FALLBACK")
        aws.setdefault("zone_id", self.catalog.zones[0])
        aws.setdefault("spot_bid_price_percent", 100)
        aws.setdefault("first_on_demand", 1)
        cluster["aws_attributes"] = aws
        if "docker_image" in cluster:
            # A registry password is never echoed back.
            image = cluster["docker_image"]
            if "basic_auth" in image:
                image["basic_auth"] = {"username": image["basic_auth"].get("username", "")}
        node_type = cluster.get("node_type_id")
        pool = self.catalog.pool(cluster.get("instance_pool_id", ""))
        if node_type is None and pool is not None:
            node_type = pool["node_type_id"]
        cluster.setdefault("driver_node_type_id", node_type)
        memory, cores, _ = self.catalog.node_types.get(node_type or "", (0, 0.0, 0))
        workers = self._target_workers(cluster) if "autoscale" in cluster else cluster.get("num_workers", 0)
        cluster["cluster_memory_mb"] = memory * (1 + workers)
        cluster["cluster_cores"] = cores * (1 + workers)
        cluster.setdefault("autotermination_minutes", 0)
        cluster.setdefault("enable_elastic_disk", False)
        cluster.setdefault("spark_conf", {})
        cluster.setdefault("custom_tags", {})
        cluster["default_tags"] = {
            "Vendor": "Databricks",
            "Creator": cluster["creator_user_name"],
            "ClusterName": cluster.get("cluster_name", ""),
            "ClusterId": cluster["cluster_id"],
            "Name": f"workerenv-{cluster['cluster_id']}",
        }
        cluster["spec"] = _spec_as_given(spec)

    # -- Clusters API --------------------------------------------------------------------------------------

    def clusters_create(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        spec = validate_create(body, self.catalog)
        with self.lock:
            self._advance()
            at = self.now()
            cluster_id = self._new_cluster_id(at)
            cluster: dict[str, Any] = {
                "cluster_id": cluster_id,
                "creator_user_name": user,
                "cluster_source": "API",
                "jdbc_port": 10000,
                "_events": [],
                "_steps": [],
                "_last_activity": at,
            }
            spec.pop("cluster_source", None)
            spec.pop("idempotency_token", None)
            self._fill(cluster, spec)
            self._clusters[cluster_id] = cluster
            self._begin_start(cluster, at, first=True)
            self._changed()
            return {"cluster_id": cluster_id}

    def clusters_edit(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            if cluster["state"] not in ("RUNNING", "TERMINATED"):
                raise invalid_state(
                    f"Cluster {cluster['cluster_id']} is in unexpected state {_title(cluster['state'])}."
                )
            spec = validate_create({k: v for k, v in body.items() if k != "cluster_id"}, self.catalog)
            at = self.now()
            previous = cluster["spec"]
            self._fill(cluster, spec)
            self._event(cluster, at, "EDITED", user=user, previous_attributes=previous, attributes=spec)
            if cluster["state"] == "RUNNING":
                self._restart(cluster, at, user)
            self._changed()
            return {}

    def clusters_start(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            if cluster["state"] != "TERMINATED":
                raise invalid_state(
                    f"Cluster {cluster['cluster_id']} is in unexpected state {_title(cluster['state'])}."
                )
            cluster["_started_by"] = user
            self._begin_start(cluster, self.now(), first=False)
            self._changed()
            return {}

    def clusters_restart(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            if cluster["state"] != "RUNNING":
                raise invalid_state(
                    f"Cluster {cluster['cluster_id']} is in unexpected state {_title(cluster['state'])}."
                )
            self._restart(cluster, self.now(), user)
            self._changed()
            return {}

    def _restart(self, cluster: dict[str, Any], at: float, user: str) -> None:
        cluster.update(state="RESTARTING", state_message="Restarting Spark")
        cluster["_steps"] = []
        self._event(cluster, at, "RESTARTING", user=user)
        self._plan(cluster, at + self.restart_seconds, "running", fallback=False)

    def clusters_resize(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            num_workers, autoscale = body.get("num_workers"), body.get("autoscale")
            if (num_workers is None) == (autoscale is None):
                raise invalid_parameter("Exactly one of num_workers or autoscale must be specified.")
            if cluster["state"] != "RUNNING":
                raise invalid_state(
                    f"Cluster {cluster['cluster_id']} is in unexpected state {_title(cluster['state'])}."
                )
            probe = {"spark_version": cluster["spark_version"], "node_type_id": cluster.get("node_type_id")}
            probe["autoscale" if autoscale is not None else "num_workers"] = autoscale or num_workers
            if cluster.get("instance_pool_id"):
                probe = {**probe, "instance_pool_id": cluster["instance_pool_id"]}
                probe.pop("node_type_id")
            validate_create(probe, self.catalog)
            at = self.now()
            previous = self._target_workers(cluster)
            if autoscale is not None:
                cluster["autoscale"] = dict(autoscale)
                cluster.pop("num_workers", None)
            else:
                cluster["num_workers"] = int(num_workers or 0)
                cluster.pop("autoscale", None)
            cluster.update(state="RESIZING", state_message="")
            self._event(
                cluster,
                at,
                "RESIZING",
                user=user,
                current_num_workers=previous,
                target_num_workers=self._target_workers(cluster),
            )
            self._plan(cluster, at + self.resize_seconds, "resized")
            self._changed()
            return {}

    def clusters_delete(self, body: Mapping[str, Any], *, user: str = DEFAULT_USER) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            if cluster["state"] not in ("TERMINATING", "TERMINATED"):
                self._begin_termination(
                    cluster, self.now(), _reason("USER_REQUEST", "SUCCESS", username=user)
                )
                self._changed()
            return {}

    def clusters_permanent_delete(
        self, body: Mapping[str, Any], *, user: str = DEFAULT_USER
    ) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            del self._clusters[cluster["cluster_id"]]
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
                self._event(cluster, self.now(), "PINNED" if pinned else "UNPINNED", user=user)
                self._changed()
            return {}

    def touch_cluster(self, cluster_id: str) -> None:
        """Activity on the cluster (a job run): it postpones autotermination."""
        with self.lock:
            self._advance()
            self._cluster(cluster_id)["_last_activity"] = self.now()

    def clusters_get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._advance()
            return self._public(self._cluster(_one(params.get("cluster_id"))))

    def clusters_list(self, params: Mapping[str, Any], *, api_version: str = "2.1") -> dict[str, Any]:
        with self.lock:
            self._advance()
            clusters = list(self._clusters.values())
            if api_version == "2.0":
                return {"clusters": [self._public(c, with_spec=False) for c in clusters]}
            states = _many(params.get("filter_by.cluster_states"))
            if states:
                clusters = [c for c in clusters if c["state"] in states]
            pinned = _one(params.get("filter_by.is_pinned"))
            if pinned is not None:
                want = str(pinned).lower() == "true"
                clusters = [c for c in clusters if c.get("_pinned", False) == want]
            policy = _one(params.get("filter_by.policy_id"))
            if policy:
                clusters = [c for c in clusters if c.get("policy_id") == policy]
            field = SORT_FIELDS.get(str(_one(params.get("sort_by.field")) or "DEFAULT"), "start_time")
            descending = str(_one(params.get("sort_by.direction")) or "DESC") == "DESC"
            clusters.sort(key=lambda c: (c.get(field) or 0, c["cluster_id"]), reverse=descending)
            size = _int(_one(params.get("page_size")), "page_size", default=100)
            offset = _int(_one(params.get("page_token")) or 0, "page_token", default=0)
            page = clusters[offset : offset + size]
            more = offset + size < len(clusters)
            return {
                "clusters": [self._public(c, with_spec=False) for c in page],
                "next_page_token": str(offset + size) if more else "",
                "prev_page_token": str(max(offset - size, 0)) if offset > 0 else "",
            }

    def clusters_events(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._advance()
            cluster = self._cluster(body.get("cluster_id"))
            events = list(cluster["_events"])
            kinds = body.get("event_types")
            if kinds:
                events = [e for e in events if e["type"] in kinds]
            if body.get("start_time") is not None:
                events = [e for e in events if e["timestamp"] >= int(body["start_time"])]
            if body.get("end_time") is not None:
                events = [e for e in events if e["timestamp"] <= int(body["end_time"])]
            order = body.get("order") or "DESC"
            if order not in ("ASC", "DESC"):
                raise invalid_parameter(f"Invalid order {order}: must be ASC or DESC.")
            events.sort(key=lambda e: e["timestamp"], reverse=order == "DESC")
            limit = _int(body.get("limit"), "limit", default=50)
            if not 1 <= limit <= 500:
                raise invalid_parameter(f"limit must be between 1 and 500, got {limit}.")
            offset = _int(body.get("offset"), "offset", default=0)
            page = events[offset : offset + limit]
            answer: dict[str, Any] = {"events": copy.deepcopy(page), "total_count": len(events)}
            if offset + limit < len(events):
                answer["next_page"] = {**body, "offset": offset + limit, "limit": limit}
            return answer

    def spark_versions(self) -> dict[str, Any]:
        return self.catalog.spark_versions_answer()

    def list_node_types(self) -> dict[str, Any]:
        return self.catalog.node_types_answer()

    def list_zones(self) -> dict[str, Any]:
        return self.catalog.zones_answer()

    def instance_profiles_list(self) -> dict[str, Any]:
        return self.catalog.instance_profiles_answer()

    def instance_pools_list(self) -> dict[str, Any]:
        return {"instance_pools": copy.deepcopy(self.catalog.instance_pools)}

    def instance_pools_get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        pool_id = _one(params.get("instance_pool_id"))
        pool = self.catalog.pool(str(pool_id or ""))
        if pool is None:
            raise invalid_parameter(f"Instance pool {pool_id} does not exist.")
        return copy.deepcopy(pool)

    def policies_list(self) -> dict[str, Any]:
        return {"policies": copy.deepcopy(self.catalog.policies), "total_count": len(self.catalog.policies)}

    # -- inspection and persistence ------------------------------------------------------------------------

    def all_clusters(self) -> list[dict[str, Any]]:
        """Every cluster as ``clusters/get`` answers it (for assertions and the demo)."""
        with self.lock:
            self._advance()
            return [self._public(c) for c in self._clusters.values()]

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {"clusters": copy.deepcopy(self._clusters), "scenarios": copy.deepcopy(self._scenarios)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], **kwargs: Any) -> Workspace:
        workspace = cls(**kwargs)
        workspace._clusters = copy.deepcopy(dict(data.get("clusters", {})))
        workspace._scenarios = copy.deepcopy(dict(data.get("scenarios", {})))
        numbers = [int(key.rsplit("-", 1)[1]) for key in workspace._scenarios]
        workspace._scenario_ids = itertools.count(max(numbers, default=0) + 1)
        return workspace


#: Fields a new spec replaces entirely on edit (so a field left out of the edit disappears).
spec_fields_to_reset = frozenset(
    {
        "num_workers",
        "autoscale",
        "spark_conf",
        "spark_env_vars",
        "custom_tags",
        "aws_attributes",
        "docker_image",
        "init_scripts",
        "cluster_log_conf",
        "instance_pool_id",
        "driver_instance_pool_id",
        "policy_id",
        "ssh_public_keys",
        "data_security_mode",
        "single_user_name",
        "runtime_engine",
    }
)


def _spec_as_given(spec: Mapping[str, Any]) -> dict[str, Any]:
    given = copy.deepcopy(dict(spec))
    image = given.get("docker_image")
    if isinstance(image, dict) and "basic_auth" in image:
        image["basic_auth"] = {"username": image["basic_auth"].get("username", "")}
    return given


def _title(state: str) -> str:
    return state.capitalize()


def _one(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _int(value: Any, name: str, *, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid {name} {value!r}: must be an integer.") from None
