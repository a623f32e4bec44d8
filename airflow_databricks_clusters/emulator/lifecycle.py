"""A cluster's life: its states, the steps planned between them, and the lazy time that runs them.

Time is lazy: each public method of the workspace first brings every cluster up to ``now()``
(``Lifecycle.advance``, on the clusters that ``next_due`` says have something due: see ``schedule.py``).
A transition whose time has come happens then, stamped with the moment it was due, so what a client sees
is what it would have seen polling a real workspace at any rate. Planned transitions are plain data (the
record's ``_steps``), so a workspace can be saved to JSON and resumed.

A start is PENDING, then what the scenarios say (``scenarios.py``) and what EC2 capacity allows
(``capacity.py``: the instances are bought halfway): RUNNING, or a failure ending TERMINATED; a RUNNING
cluster that stays idle past its ``autotermination_minutes`` terminates itself, and loses its spot
machines when a spot shortage covering them begins (a due moment like a step).
Every duration here is in emulated seconds: ``now`` is whatever the workspace's clock says
(``clock.py``), which a test may stop, speed up or move forward.

Log files a transition produces (init-script logs, driver logs) are handed, at that transition, to the
``log_delivery`` given (see ``log_delivery.py``) for clusters with a ``cluster_log_conf``; the lifecycle
itself does no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_databricks_clusters.emulator import capacity, cluster_events, init_scripts, nodes
from airflow_databricks_clusters.emulator.capacity import Capacity, Miss, Pick
from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.cluster_record import event_attributes
from airflow_databricks_clusters.emulator.driver_logs import driver_logs
from airflow_databricks_clusters.emulator.instance_pools import Grant, InstancePools
from airflow_databricks_clusters.emulator.scenarios import Scenarios

if TYPE_CHECKING:
    from airflow_databricks_clusters.emulator.dbfs import Dbfs
    from airflow_databricks_clusters.emulator.log_delivery import LogDelivery

PENDING_MESSAGE = "Finding instances for new nodes, acquiring more instances if necessary"
#: States in which a cluster holds machines that AWS may take back.
_WITH_NODES = frozenset({"RUNNING", "RESIZING", "RESTARTING"})
#: What the ADD_NODES_FAILED of a SPOT_WITH_FALLBACK cluster that went on-demand says.
FALLBACK_MESSAGE = (
    "Spot capacity unavailable; falling back to on-demand instances (availability SPOT_WITH_FALLBACK)."
)


class Lifecycle:
    """Moves the clusters of one workspace from state to state; the caller holds the workspace's lock.

    :param start_seconds: PENDING to RUNNING; the steps of a start (scenario failures, init scripts)
        happen at fractions of it.
    :param terminate_seconds: how long TERMINATING lasts.
    :param restart_seconds: how long RESTARTING lasts.
    :param resize_seconds: how long RESIZING lasts.
    :param autotermination_scale: emulated seconds per minute of ``autotermination_minutes``.
    :param rng: the workspace's random source (ids, IPs), shared so a seeded workspace repeats itself.
    :param scenarios: the workspace's scenarios, taken as a start reaches the point each one changes.
    :param capacity: the workspace's EC2 shortages (``capacity.py``): what a start, a resize or a
        replacement can buy, and when a spot node is taken back.
    :param catalog: the workspace's offer (its zones, its pools' node types).
    :param dbfs: the workspace's DBFS, where ``dbfs`` init scripts are read from as they run (a missing
        file fails the start).
    :param pools: the workspace's instance pools: a start of a cluster naming one takes its nodes there,
        and gives them back when it terminates.
    :param pool_start_seconds: PENDING to RUNNING when every node came from a pool's idle instances
        (``start_seconds`` when any had to be launched).
    """

    def __init__(
        self,
        *,
        start_seconds: float,
        terminate_seconds: float,
        restart_seconds: float,
        resize_seconds: float,
        autotermination_scale: float,
        rng: random.Random,
        scenarios: Scenarios,
        log_delivery: LogDelivery | None,
        capacity: Capacity | None = None,
        catalog: Catalog | None = None,
        dbfs: Dbfs | None = None,
        pools: InstancePools | None = None,
        pool_start_seconds: float | None = None,
    ) -> None:
        self.start_seconds = start_seconds
        self.pool_start_seconds = start_seconds / 4 if pool_start_seconds is None else pool_start_seconds
        self.pools = pools
        self.terminate_seconds = terminate_seconds
        self.restart_seconds = restart_seconds
        self.resize_seconds = resize_seconds
        self.autotermination_scale = autotermination_scale
        self.log_delivery = log_delivery
        self._random = rng
        self._scenarios = scenarios
        self._capacity = capacity or Capacity()
        self._catalog = catalog or Catalog()
        self.dbfs = dbfs

    # -- time ---------------------------------------------------------------------------------------------

    def advance(self, cluster: dict[str, Any], now: float) -> None:
        """Run every step (and the autotermination, and spot reclaims) due by ``now``, in order. A reclaim
        comes before a step due at the same moment."""
        while True:
            steps = cluster["_steps"]
            idle_at = self._idle_deadline(cluster)
            due = steps[0]["at"] if steps else None
            reclaim = self._reclaim_due(cluster)
            if (
                reclaim is not None
                and reclaim <= now
                and (due is None or reclaim <= due)
                and (idle_at is None or reclaim <= idle_at)
            ):
                self._reclaim(cluster, reclaim)
                continue
            if idle_at is not None and idle_at <= now and (due is None or idle_at < due):
                minutes = cluster["autotermination_minutes"]
                self.begin_termination(
                    cluster,
                    idle_at,
                    cluster_events.reason("INACTIVITY", "SUCCESS", inactivity_duration_min=str(minutes)),
                )
                continue
            if due is None or due > now:
                return
            self._apply(cluster, steps.pop(0))

    def next_due(self, cluster: Mapping[str, Any]) -> float | None:
        """When ``advance`` next has something to do for this cluster (its next step, or else its
        autotermination, or a spot reclaim before either); None while nothing is planned."""
        steps = cluster["_steps"]
        due = float(steps[0]["at"]) if steps else self._idle_deadline(cluster)
        reclaim = self._reclaim_due(cluster)
        if reclaim is None:
            return due
        return reclaim if due is None else min(due, reclaim)

    def _idle_deadline(self, cluster: Mapping[str, Any]) -> float | None:
        minutes = cluster.get("autotermination_minutes") or 0
        if cluster["state"] != "RUNNING" or minutes <= 0 or cluster["_steps"]:
            return None
        return float(cluster["_last_activity"]) + minutes * self.autotermination_scale

    # -- transitions ---------------------------------------------------------------------------------------

    def _apply(self, cluster: dict[str, Any], step: dict[str, Any]) -> None:
        at, op = step["at"], step["op"]
        if op == "event":
            cluster_events.record(cluster, at, step["type"], **step.get("details", {}))
        elif op == "start_continues":
            self._plan_start(cluster, at)
        elif op == "acquire":
            self._acquire(cluster, at, fallback=step.get("fallback", False))
        elif op == "running":
            self._become_running(
                cluster, at, fallback=step.get("fallback", False), driver_ip=step.get("driver_ip")
            )
        elif op == "init_scripts_ran":
            self._init_scripts_ran(cluster, at, step["runs"], step["node"], step.get("reason"))
        elif op == "terminating":
            self.begin_termination(cluster, at, step["reason"])
        elif op == "terminated":
            cluster.update(
                state="TERMINATED",
                state_message=step.get("message", ""),
                terminated_time=cluster_events.ms(at),
            )
            nodes.forget_all(cluster)
            if self.pools is not None:
                self.pools.release(str(cluster["cluster_id"]), at)
            # A terminated cluster holds its idempotency token no more (workspace.py).
            cluster.pop("_idempotency_token", None)
        elif op == "nodes_lost":
            nodes.lose_spot_nodes(cluster, at, int(step["count"]))
        elif op == "nodes_replaced":
            self._upsize(cluster, at)
        elif op == "resized":
            cluster.update(state="RUNNING", state_message="")
            cluster["_last_activity"] = at
            self._upsize(cluster, at)

    def begin_start(self, cluster: dict[str, Any], at: float, *, first: bool) -> None:
        """PENDING now, then what the scenarios say: RUNNING, or a failure ending TERMINATED.

        ``stuck_pending`` holds the start: for good, or with its ``seconds`` option for that long, after
        which the start goes on as any start does (so RUNNING comes ``start_seconds`` later).
        """
        cluster.update(state="PENDING", state_message=PENDING_MESSAGE, start_time=cluster_events.ms(at))
        cluster["_last_activity"] = at
        cluster.pop("termination_reason", None)
        cluster.pop("terminated_time", None)
        cluster.pop("_placement", None)
        cluster["_steps"] = []
        if first:
            cluster_events.record(
                cluster,
                at,
                "CREATING",
                user=cluster["creator_user_name"],
                **event_attributes(cluster["spec"]),
            )
        else:
            cluster_events.record(
                cluster, at, "STARTING", user=cluster.get("_started_by", cluster["creator_user_name"])
            )
        stuck = self._scenarios.take("stuck_pending", cluster)
        if stuck is not None:
            if stuck.get("seconds") is not None:
                _plan(cluster, at + float(stuck["seconds"]), "start_continues")
            return
        self._plan_start(cluster, at)

    def _plan_start(self, cluster: dict[str, Any], at: float) -> None:
        """Plan a start from ``at`` on, from the scenarios that apply to it now: RUNNING, or a failure."""
        start = self.start_seconds
        if self.pools is not None and (
            cluster.get("instance_pool_id") or cluster.get("driver_instance_pool_id")
        ):
            grant = self.pools.take(cluster, nodes.target_workers(cluster), at)
            if not isinstance(grant, Grant):  # the pool refused: a quick failure, no machine is bought
                _plan(cluster, at + self.pool_start_seconds / 2, "terminating", reason=grant)
                return
            if grant.warm:
                start = self.pool_start_seconds
        aws = cluster["aws_attributes"]
        capacity = self._scenarios.take("spot_capacity_failure", cluster)
        fallback = self._scenarios.take("spot_fallback_to_on_demand", cluster) is not None
        if capacity is not None:
            if aws["availability"] == "SPOT_WITH_FALLBACK":
                fallback = True
            else:
                _plan(
                    cluster,
                    at + start * 0.5,
                    "terminating",
                    reason=cluster_events.reason(
                        "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
                        "CLOUD_FAILURE",
                        aws_api_error_code="InsufficientInstanceCapacity",
                        aws_error_message="There is no Spot capacity available that matches your request.",
                    ),
                )
                return
        if fallback:
            _plan(
                cluster,
                at + start * 0.4,
                "event",
                type="ADD_NODES_FAILED",
                details={
                    "reason": cluster_events.reason(
                        "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
                        "CLOUD_FAILURE",
                        aws_api_error_code="InsufficientInstanceCapacity",
                        databricks_error_message=FALLBACK_MESSAGE,
                    )
                },
            )
        # The instances are bought halfway, where a start without capacity fails (capacity.py).
        _plan(cluster, at + start * 0.5, "acquire", fallback=fallback)
        if self._scenarios.take("docker_image_pull_failure", cluster) is not None:
            image = (cluster.get("docker_image") or {}).get("url", "")
            _plan(
                cluster,
                at + start * 0.6,
                "terminating",
                reason=cluster_events.reason(
                    "DOCKER_IMAGE_PULL_FAILURE",
                    "CLIENT_ERROR",
                    databricks_error_message=f"Failed to pull docker image {image}: manifest unknown",
                ),
            )
            return
        scripts = cluster.get("init_scripts") or []
        if not scripts:
            _plan(cluster, at + start, "running", fallback=fallback)
            return
        # The scripts run in the driver's container, so its IP names their log folder.
        driver_ip = nodes.private_ip(self._random)
        details = init_scripts.started_details(scripts)
        _plan(cluster, at + start * 0.6, "event", type="INIT_SCRIPTS_STARTED", details=details)
        failure = self._scenarios.take("init_script_failure", cluster)
        runs = init_scripts.plan_runs(
            scripts,
            started=at + start * 0.6,
            seconds=start * 0.2,
            failing=None if failure is None else int(failure.get("script_index", 0)),
            failure_stderr=str((failure or {}).get("stderr", init_scripts.DEFAULT_FAILURE_STDERR)),
        )
        reason = None
        if failure is not None:
            reason = cluster_events.reason(
                "INIT_SCRIPT_FAILURE",
                "CLIENT_ERROR",
                instance_id=nodes.instance_id(self._random),
                databricks_error_message=init_scripts.failure_message(runs[-1]),
            )
        _plan(cluster, at + start * 0.8, "init_scripts_ran", runs=runs, node=driver_ip, reason=reason)
        if failure is None:
            _plan(cluster, at + start, "running", fallback=fallback, driver_ip=driver_ip)

    def _init_scripts_ran(
        self,
        cluster: dict[str, Any],
        at: float,
        runs: list[init_scripts.ScriptRun],
        node_ip: str,
        reason: dict[str, Any] | None,
    ) -> None:
        """The scripts are done: their logs go out, then INIT_SCRIPTS_FINISHED or the failure. A ``dbfs``
        script whose file is not in DBFS now fails there, before any later script runs."""
        missing = self._missing_script(runs)
        if missing is not None:
            runs = [*runs[:missing], init_scripts.missing_file(runs[missing])]
            reason = cluster_events.reason(
                "INIT_SCRIPT_FAILURE",
                "CLIENT_ERROR",
                instance_id=nodes.instance_id(self._random),
                databricks_error_message=init_scripts.missing_file_message(runs[-1]),
            )
        self._deliver_logs(cluster, init_scripts.log_files(cluster["cluster_id"], node_ip, runs))
        if reason is not None:
            self.begin_termination(cluster, at, reason)
            return
        cluster_events.record(
            cluster, at, "INIT_SCRIPTS_FINISHED", **init_scripts.finished_details(runs, node_ip)
        )

    def _missing_script(self, runs: list[init_scripts.ScriptRun]) -> int | None:
        """The position of the first run whose ``dbfs`` script file is not in DBFS, if any."""
        if self.dbfs is None:
            return None
        for position, run in enumerate(runs):
            target = run["script"].get("dbfs")
            if target is not None and self.dbfs.find_file(str(target["destination"])) is None:
                return position
        return None

    # -- capacity ------------------------------------------------------------------------------------------

    def _acquire(self, cluster: dict[str, Any], at: float, *, fallback: bool) -> None:
        """The start buys its instances (``capacity.plan_start``): without its driver, or with under 85%
        of its on-demand workers, it fails; spot workers that cannot be had are missing; SPOT_WITH_FALLBACK
        ones go on demand. ``fallback``: a scenario already sent every worker on demand."""
        aws = cluster["aws_attributes"]
        workers = nodes.target_workers(cluster)
        plan = capacity.plan_start(
            self._capacity.shortages,
            zones=capacity.zones_to_try(aws.get("zone_id"), self._catalog.zones),
            availability=aws["availability"],
            first_on_demand=int(aws.get("first_on_demand", 0)),
            driver_types=self._candidates(cluster, driver=True),
            worker_types=self._candidates(cluster, driver=False),
            workers=workers,
            at=at,
            spot_ok=not fallback,
        )
        if plan.driver is None:
            assert plan.driver_miss is not None
            self.begin_termination(cluster, at, self._short_reason(plan.driver_miss, at))
            return
        if plan.failed:
            miss = next(m for m in plan.worker_misses if m is not None and m.market == capacity.ON_DEMAND)
            message = (
                f"Acquired {plan.on_demand_acquired} of the {plan.on_demand_requested} on-demand workers "
                f"requested; a cluster starts with at least {capacity.ON_DEMAND_QUORUM_PERCENT}% of them."
            )
            self.begin_termination(
                cluster, at, self._short_reason(miss, at, databricks_error_message=message)
            )
            return
        cluster["_zone"] = plan.zone
        cluster["_placement"] = {
            "acquired_at": at,
            "driver": _pick_json(plan.driver),
            "workers": [_pick_json(pick) for pick in plan.workers if pick is not None],
        }
        fell_back = plan.driver.fell_back or any(pick is not None and pick.fell_back for pick in plan.workers)
        if fell_back and not fallback:
            self._record_fallback(cluster, at)
        self._record_missing(cluster, at, [m for m in plan.worker_misses if m is not None], workers)

    def _candidates(self, cluster: Mapping[str, Any], *, driver: bool) -> list[str]:
        pool = self._catalog.pool(cluster.get("instance_pool_id") or "")
        pool_node_type = None if pool is None else str(pool["node_type_id"])
        return capacity.candidates(cluster, driver=driver, pool_node_type=pool_node_type)

    def _zone(self, cluster: Mapping[str, Any]) -> str:
        """The zone the cluster's machines are in: where its start put them, else its own or the default."""
        zone = cluster.get("_zone")
        if zone:
            return str(zone)
        return capacity.zones_to_try(cluster["aws_attributes"].get("zone_id"), self._catalog.zones)[0]

    def _worker_picks(
        self, cluster: Mapping[str, Any], at: float, first_slot: int, count: int
    ) -> tuple[list[Pick], list[Miss]]:
        """What ``count`` new workers, from worker ``first_slot`` on, can buy at ``at``: the picks had,
        and what was refused for the others."""
        aws = cluster["aws_attributes"]
        picked = capacity.pick_workers(
            self._capacity.shortages,
            zone=self._zone(cluster),
            availability=aws["availability"],
            first_on_demand=int(aws.get("first_on_demand", 0)),
            worker_types=self._candidates(cluster, driver=False),
            slots=range(first_slot, first_slot + count),
            at=at,
        )
        picks = [pick for _, pick, _ in picked if pick is not None]
        misses = [miss for _, _, miss in picked if miss is not None]
        return picks, misses

    def _short_reason(self, miss: Miss, at: float, **parameters: str) -> dict[str, Any]:
        """AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE for what ``miss`` says was refused."""
        return cluster_events.reason(
            "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
            "CLOUD_FAILURE",
            aws_api_error_code="InsufficientInstanceCapacity",
            aws_error_message=capacity.insufficient_capacity_message(
                self._capacity.shortages, miss, self._catalog.zones, at
            ),
            **parameters,
        )

    def _record_fallback(self, cluster: dict[str, Any], at: float) -> None:
        """ADD_NODES_FAILED: spot was short and SPOT_WITH_FALLBACK went on demand."""
        cluster_events.record(
            cluster,
            at,
            "ADD_NODES_FAILED",
            reason=cluster_events.reason(
                "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
                "CLOUD_FAILURE",
                aws_api_error_code="InsufficientInstanceCapacity",
                databricks_error_message=FALLBACK_MESSAGE,
            ),
        )

    def _record_missing(self, cluster: dict[str, Any], at: float, misses: list[Miss], asked: int) -> None:
        """ADD_NODES_FAILED: these workers could not be had; the cluster runs without them."""
        if not misses:
            return
        last = misses[-1]
        types = ", ".join(dict.fromkeys(miss.node_type_id for miss in misses))
        markets = " or ".join(
            dict.fromkeys("spot" if miss.market == capacity.SPOT else "on-demand" for miss in misses)
        )
        message = (
            f"Could not acquire {len(misses)} of {asked} workers ({types} on {markets} in {last.zone}): "
            "the cluster runs without them."
        )
        cluster_events.record(
            cluster,
            at,
            "ADD_NODES_FAILED",
            reason=self._short_reason(last, at, databricks_error_message=message),
        )

    def _upsize(self, cluster: dict[str, Any], at: float) -> None:
        """The cluster gets to its target size where capacity allows (new nodes may be spot again):
        UPSIZE_COMPLETED, or ADD_NODES_FAILED for the workers that could not be had."""
        target = nodes.target_workers(cluster)
        nodes.keep_executors(cluster, target)
        have = len(cluster["executors"])
        picks, misses = self._worker_picks(cluster, at, have + 1, target - have)
        nodes.add_executors(self._random, cluster, at, picks)
        if any(pick.fell_back for pick in picks):
            self._record_fallback(cluster, at)
        if misses:
            self._record_missing(cluster, at, misses, target - have)
            return
        cluster_events.record(
            cluster, at, "UPSIZE_COMPLETED", current_num_workers=target, target_num_workers=target
        )

    def _reclaim_due(self, cluster: Mapping[str, Any]) -> float | None:
        """When AWS next takes back one of the cluster's spot machines (``capacity.reclaim_at``), never
        before the machine was shown; None if it never does."""
        moments = [moment for _, moment in self._reclaims(cluster)]
        return min(moments, default=None)

    def _reclaims(self, cluster: Mapping[str, Any]) -> list[tuple[dict[str, Any], float]]:
        if cluster["state"] not in _WITH_NODES or "driver" not in cluster or not self._capacity.shortages:
            return []
        zone = self._zone(cluster)
        found = []
        for node in [cluster["driver"], *(cluster.get("executors") or [])]:
            entry = nodes.tracked(cluster, node)
            if entry is None or not node["node_aws_attributes"]["is_spot"]:
                continue
            moment = capacity.reclaim_at(
                self._capacity.shortages,
                set_at=self._capacity.set_at,
                node_type=entry["node_type_id"],
                zone=zone,
                acquired_at=float(entry["acquired_at"]),
            )
            if moment is not None:
                found.append((node, max(moment, float(entry["shown_at"]))))
        return found

    def _reclaim(self, cluster: dict[str, Any], at: float) -> None:
        """AWS takes back the spot machines due by ``at``: the driver ends the cluster
        (SPOT_INSTANCE_TERMINATION); executors are lost (NODES_LOST) and replaced half a start later
        where capacity allows."""
        lost = [node for node, moment in self._reclaims(cluster) if moment <= at]
        if any(node is cluster["driver"] for node in lost):
            reason = cluster_events.reason(
                "SPOT_INSTANCE_TERMINATION",
                "CLOUD_FAILURE",
                aws_instance_state_reason="Server.SpotInstanceTermination",
                instance_id=cluster["driver"]["instance_id"],
            )
            self.begin_termination(cluster, at, reason)
            return
        nodes.lose(cluster, at, lost)
        _plan(cluster, at + self.start_seconds / 2, "nodes_replaced")

    # -- transitions, continued --------------------------------------------------------------------------

    def _become_running(
        self, cluster: dict[str, Any], at: float, *, fallback: bool, driver_ip: str | None = None
    ) -> None:
        """RUNNING with what the start bought; after a restart, with the machines the cluster had (a new
        driver node of the same type and market, the executors kept, new ones bought for a larger size)."""
        cluster.update(state="RUNNING", state_message="")
        cluster["_last_activity"] = at
        # The driver came (back) up: the cluster's libraries install again from here (libraries.py).
        cluster["last_restarted_time"] = cluster_events.ms(at)
        cluster.setdefault("spark_context_id", self._random.randrange(10**18, 10**19))
        target = nodes.target_workers(cluster)
        placement = cluster.pop("_placement", None)
        if placement is not None:
            acquired_at = float(placement["acquired_at"])
            driver = Pick(**placement["driver"])
            nodes.place_driver(self._random, cluster, at, driver, driver_ip, acquired_at=acquired_at)
            nodes.keep_executors(cluster, 0)
            bought = [Pick(**pick) for pick in placement["workers"]][:target]
            nodes.add_executors(self._random, cluster, at, bought, acquired_at=acquired_at)
        else:
            driver, acquired_at = self._driver_again(cluster, at)
            nodes.place_driver(self._random, cluster, at, driver, driver_ip, acquired_at=acquired_at)
            nodes.keep_executors(cluster, target)
            have = len(cluster["executors"])
            picks, misses = self._worker_picks(cluster, at, have + 1, target - have)
            if fallback:  # the record of a start planned before the emulator bought instances
                picks = [Pick(pick.node_type_id, False) for pick in picks]
            nodes.add_executors(self._random, cluster, at, picks)
            self._record_missing(cluster, at, misses, target - have)
        cluster_events.record(cluster, at, "DRIVER_HEALTHY")
        cluster_events.record(
            cluster,
            at,
            "RUNNING",
            current_num_workers=len(cluster["executors"]),
            target_num_workers=target,
            emulator_placement=self._placement_details(cluster),
        )
        self._deliver_logs(cluster, driver_logs(cluster))
        lost = self._scenarios.take("spot_nodes_lost", cluster)
        if lost is not None:
            after = float(lost.get("after_seconds", self.start_seconds))
            count = int(lost.get("count", 1))
            _plan(cluster, at + after, "nodes_lost", count=count)
            _plan(cluster, at + after + self.start_seconds / 2, "nodes_replaced")

    def _driver_again(self, cluster: Mapping[str, Any], at: float) -> tuple[Pick, float]:
        """The driver of a restart: the one it had (its type and market, when it was bought), or for a
        record without one, what can be bought now (the first type on its rule's market if nothing)."""
        old = cluster.get("driver")
        entry = nodes.tracked(cluster, old) if old else None
        types = self._candidates(cluster, driver=True)
        if old is not None:
            node_type = entry["node_type_id"] if entry else types[0]
            acquired_at = float(entry["acquired_at"]) if entry else at
            return Pick(node_type, bool(old["node_aws_attributes"]["is_spot"])), acquired_at
        aws = cluster["aws_attributes"]
        rule = capacity.node_rule(0, aws["availability"], int(aws.get("first_on_demand", 0)))
        pick = capacity.acquire(self._capacity.shortages, self._zone(cluster), rule, types, at)
        return pick or Pick(types[0], rule != capacity.ON_DEMAND), at

    def _placement_details(self, cluster: Mapping[str, Any]) -> dict[str, Any]:
        """The emulator's own RUNNING detail (no workspace sends it): the zone the machines are in and the
        node type of each, the executors' in ``executors`` order."""
        workers = [nodes.tracked(cluster, node) for node in cluster.get("executors") or []]
        driver = nodes.tracked(cluster, cluster["driver"])
        return {
            "zone_id": self._zone(cluster),
            "driver_node_type_id": driver and driver["node_type_id"],
            "worker_node_type_ids": [entry and entry["node_type_id"] for entry in workers],
        }

    def begin_restart(self, cluster: dict[str, Any], at: float, user: str) -> None:
        """RESTARTING now, RUNNING again after ``restart_seconds``."""
        cluster.update(state="RESTARTING", state_message="Restarting Spark")
        cluster["_steps"] = []
        cluster_events.record(cluster, at, "RESTARTING", user=user)
        _plan(cluster, at + self.restart_seconds, "running", fallback=False)

    def begin_resize(self, cluster: dict[str, Any], at: float, user: str, previous_workers: int) -> None:
        """RESIZING now to the cluster's new size, RUNNING at it after ``resize_seconds``."""
        cluster.update(state="RESIZING", state_message="")
        cluster_events.record(
            cluster,
            at,
            "RESIZING",
            user=user,
            current_num_workers=previous_workers,
            target_num_workers=nodes.target_workers(cluster),
        )
        _plan(cluster, at + self.resize_seconds, "resized")

    def begin_termination(self, cluster: dict[str, Any], at: float, reason: dict[str, Any]) -> None:
        """TERMINATING now for ``reason``, TERMINATED after ``terminate_seconds``."""
        message = reason.get("parameters", {}).get("databricks_error_message", "")
        if reason["code"] == "INACTIVITY":
            minutes = reason["parameters"]["inactivity_duration_min"]
            message = f"Inactive cluster terminated (inactive for {minutes} minutes)."
        cluster.update(state="TERMINATING", state_message=message, termination_reason=reason)
        cluster["_steps"] = []
        cluster_events.record(cluster, at, "TERMINATING", reason=reason)
        if "driver" in cluster:  # it ran: the driver's last logs go out with the termination
            self._deliver_logs(cluster, driver_logs(cluster, terminating_at=at))
        _plan(cluster, at + self.terminate_seconds, "terminated", message=message)

    def _deliver_logs(self, cluster: Mapping[str, Any], files: Mapping[str, str]) -> None:
        conf = cluster.get("cluster_log_conf")
        if self.log_delivery is not None and conf:
            self.log_delivery.deliver(conf, cluster["cluster_id"], files)


def _plan(cluster: dict[str, Any], at: float, op: str, **args: Any) -> None:
    cluster["_steps"].append({"at": at, "op": op, **args})
    cluster["_steps"].sort(key=lambda step: step["at"])


def _pick_json(pick: Pick) -> dict[str, Any]:
    return {"node_type_id": pick.node_type_id, "spot": pick.spot}
