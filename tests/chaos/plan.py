"""What each run of the chaos soak does, drawn from one seed. Pure: no I/O.

A run is a DAG run of create -> work -> terminate (teardown), sync or deferred, with ``retries`` 0 or 1,
and at most one fault. ``RunPlan.expected`` says how the run must end and, when it fails, which task must
fail and what its error must name: the soak checks every run against it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

#: Fault kind -> weight. Faults on ``clusters/create`` weigh most: a lost or doubtful create is where a
#: cluster is leaked or made twice.
FAULT_WEIGHTS: dict[str, int] = {
    "none": 6,
    "lost_create_answer": 8,
    "create_dropped_before": 5,
    "create_server_error": 6,
    "create_malformed": 6,
    "rate_limit_storm": 5,
    "server_errors": 5,
    "malformed_read": 4,
    "slow_answers": 4,
    "spot_capacity": 5,
    "nodes_lost": 3,
    "image_pull": 4,
    "init_script": 4,
    "downstream_fails": 4,
    "worker_killed": 3,
    "triggerer_restart": 4,
}

#: Paths that the create task, the downstream check and the teardown read, where transport faults go.
READ_PATHS = ("clusters/get", "clusters/list", "clusters/events")
ANY_PATHS = ("clusters/create", *READ_PATHS, "clusters/delete")


@dataclass(frozen=True)
class Expected:
    """How a run must end: ``success``, or ``failed`` with ``task`` failing for ``cause``."""

    state: str
    task: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class RunPlan:
    """One run: its number (in the soak), mode, retries, fault and the fault's parameters."""

    number: int
    deferrable: bool
    retries: int
    fault: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def cluster_name(self) -> str:
        return f"chaos-{self.number}"

    @property
    def dag_id(self) -> str:
        return f"chaos_{'deferred' if self.deferrable else 'sync'}_retries_{self.retries}"

    @property
    def expected(self) -> Expected:
        causes = {
            "spot_capacity": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
            "image_pull": "DOCKER_IMAGE_PULL_FAILURE",
            "init_script": "INIT_SCRIPT_FAILURE",
        }
        if self.fault in causes and self.retries == 0:
            return Expected("failed", "create_cluster", causes[self.fault])
        # The look-up for an earlier try's cluster cannot be read: creating blindly could make a second
        # cluster, so the try fails naming the endpoint (a retry reads it again).
        if (
            self.fault == "malformed_read"
            and self.params["path"] == "clusters/list"
            and self.params["times"] > self.retries
        ):
            return Expected("failed", "create_cluster", "clusters/list")
        if self.fault == "downstream_fails":
            return Expected("failed", "work", "the Spark job on")
        if self.fault == "worker_killed" and self.retries == 0:
            # The scheduler fails a task whose worker died; nothing in the task could say why.
            return Expected("failed", "create_cluster", None)
        return Expected("success")

    def describe(self) -> str:
        shown = ", ".join(f"{key}={value}" for key, value in sorted(self.params.items()))
        mode = "deferred" if self.deferrable else "sync"
        return f"run {self.number}: {mode}, retries={self.retries}, {self.fault}({shown})"


def plan_runs(seed: int, runs: int) -> list[RunPlan]:
    """The soak's runs for ``seed``: the same seed always gives the same runs."""
    rng = random.Random(seed)
    kinds, weights = zip(*FAULT_WEIGHTS.items(), strict=True)
    plans = []
    for number in range(runs):
        deferrable = rng.random() < 0.5
        retries = rng.choice((0, 1))
        fault = rng.choices(kinds, weights)[0]
        if fault == "triggerer_restart" and not deferrable:
            deferrable = True  # only a deferred wait lives in the triggerer
        plans.append(RunPlan(number, deferrable, retries, fault, _params(rng, fault)))
    return plans


def _params(rng: random.Random, fault: str) -> dict[str, Any]:
    if fault == "create_server_error":
        return {"status": rng.choice((500, 502, 503, 504))}
    if fault == "create_malformed":
        # Handled, then answered with something unreadable: the cluster exists and its id is lost.
        body = rng.choice(("<html>502 Bad Gateway</html>", '{"cluster_id": ', "{}", "[]"))
        return {"body": body, "status": rng.choice((200, 502))}
    if fault == "rate_limit_storm":
        return {"path": rng.choice(ANY_PATHS), "times": rng.randint(1, 3)}
    if fault == "server_errors":
        return {"path": rng.choice(ANY_PATHS), "status": rng.choice((500, 502, 503, 504)), "times": 2}
    if fault == "malformed_read":
        # Two unreadable reads in a row are tolerated by the wait; the next good one carries on.
        return {"path": rng.choice(READ_PATHS), "times": rng.randint(1, 2)}
    if fault == "slow_answers":
        return {"path": rng.choice(ANY_PATHS), "delay": round(rng.uniform(0.1, 0.6), 2), "times": 3}
    if fault == "nodes_lost":
        return {"count": rng.randint(1, 2)}
    if fault == "triggerer_restart":
        return {"after_polls": rng.randint(1, 3)}
    return {}
