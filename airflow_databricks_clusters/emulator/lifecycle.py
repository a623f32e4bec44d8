"""A cluster's life: its states, the steps planned between them, and the lazy time that runs them.

Time is lazy: each public method of the workspace first brings every cluster up to ``now()``
(``Lifecycle.advance``, on the clusters that ``next_due`` says have something due: see ``schedule.py``).
A transition whose time has come happens then, stamped with the moment it was due, so what a client sees
is what it would have seen polling a real workspace at any rate. Planned transitions are plain data (the
record's ``_steps``), so a workspace can be saved to JSON and resumed.

A start is PENDING, then what the scenarios say (``scenarios.py``): RUNNING, or a failure ending
TERMINATED; a RUNNING cluster that stays idle past its ``autotermination_minutes`` terminates itself.
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

from airflow_databricks_clusters.emulator import cluster_events, init_scripts, nodes
from airflow_databricks_clusters.emulator.cluster_record import event_attributes
from airflow_databricks_clusters.emulator.driver_logs import driver_logs
from airflow_databricks_clusters.emulator.scenarios import Scenarios

if TYPE_CHECKING:
    from airflow_databricks_clusters.emulator.log_delivery import LogDelivery

PENDING_MESSAGE = "Finding instances for new nodes, acquiring more instances if necessary"


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
    ) -> None:
        self.start_seconds = start_seconds
        self.terminate_seconds = terminate_seconds
        self.restart_seconds = restart_seconds
        self.resize_seconds = resize_seconds
        self.autotermination_scale = autotermination_scale
        self.log_delivery = log_delivery
        self._random = rng
        self._scenarios = scenarios

    # -- time ---------------------------------------------------------------------------------------------

    def advance(self, cluster: dict[str, Any], now: float) -> None:
        """Run every step (and the autotermination) due by ``now``, in order."""
        while True:
            steps = cluster["_steps"]
            idle_at = self._idle_deadline(cluster)
            due = steps[0]["at"] if steps else None
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
        autotermination); None while nothing is planned."""
        steps = cluster["_steps"]
        return float(steps[0]["at"]) if steps else self._idle_deadline(cluster)

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
            cluster.pop("driver", None)
            cluster.pop("executors", None)
        elif op == "nodes_lost":
            nodes.lose_spot_nodes(cluster, at, int(step["count"]))
        elif op == "nodes_replaced":
            nodes.upsize(self._random, cluster, at)
        elif op == "resized":
            cluster.update(state="RUNNING", state_message="")
            cluster["_last_activity"] = at
            nodes.upsize(self._random, cluster, at)

    def begin_start(self, cluster: dict[str, Any], at: float, *, first: bool) -> None:
        """PENDING now, then what the scenarios say: RUNNING, or a failure ending TERMINATED.

        ``stuck_pending`` holds the start: for good, or with its ``seconds`` option for that long, after
        which the start goes on as any start does (so RUNNING comes ``start_seconds`` later).
        """
        cluster.update(state="PENDING", state_message=PENDING_MESSAGE, start_time=cluster_events.ms(at))
        cluster["_last_activity"] = at
        cluster.pop("termination_reason", None)
        cluster.pop("terminated_time", None)
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
                        databricks_error_message=(
                            "Spot capacity unavailable; falling back to on-demand instances "
                            "(availability SPOT_WITH_FALLBACK)."
                        ),
                    )
                },
            )
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
        """The scripts are done: their logs go out, then INIT_SCRIPTS_FINISHED or the failure."""
        self._deliver_logs(cluster, init_scripts.log_files(cluster["cluster_id"], node_ip, runs))
        if reason is not None:
            self.begin_termination(cluster, at, reason)
            return
        cluster_events.record(
            cluster, at, "INIT_SCRIPTS_FINISHED", **init_scripts.finished_details(runs, node_ip)
        )

    def _become_running(
        self, cluster: dict[str, Any], at: float, *, fallback: bool, driver_ip: str | None = None
    ) -> None:
        cluster.update(state="RUNNING", state_message="")
        cluster["_last_activity"] = at
        cluster.setdefault("spark_context_id", self._random.randrange(10**18, 10**19))
        workers = nodes.target_workers(cluster)
        nodes.place_driver(self._random, cluster, at, driver_ip)
        nodes.place_executors(self._random, cluster, at, workers, spot_ok=not fallback)
        cluster_events.record(cluster, at, "DRIVER_HEALTHY")
        cluster_events.record(cluster, at, "RUNNING", current_num_workers=workers, target_num_workers=workers)
        self._deliver_logs(cluster, driver_logs(cluster))
        lost = self._scenarios.take("spot_nodes_lost", cluster)
        if lost is not None:
            after = float(lost.get("after_seconds", self.start_seconds))
            count = int(lost.get("count", 1))
            _plan(cluster, at + after, "nodes_lost", count=count)
            _plan(cluster, at + after + self.start_seconds / 2, "nodes_replaced")

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
