"""A capacity soak: seeded DAG runs against shifting EC2 shortages, with ``capacity_fallback`` against
without it, in the same process and against the same shortages.

Measured
    ``--runs`` plans (default 100: 200 DAG runs), each run twice, once per arm, one after the other, in
    this process (the ``DagRunner`` of the pytest plugin, outside pytest): a ``dag.test()`` of create -> work
    -> terminate (teardown), sync or deferred as the plan draws, the create task with ``retries=1`` and
    a retry delay of 0. The cluster asks for SPOT ``i3.xlarge`` in ``ap-southeast-1a``, driver included
    (``first_on_demand`` 0), so a spot shortage there ends its start with
    AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE.

    * without: the task's own spec alone (a retried try starts it again).
    * with: ``capacity_fallback`` = ``ALTERNATIVES``: ``r5d.xlarge`` (same size, same zone, spot), then
      ``i3.xlarge`` in ``ap-southeast-1b`` (spot), then ``i3.xlarge`` ON_DEMAND in ``ap-southeast-1a``.
      The driver's type is named with the workers' (``ALTERNATIVES`` says why).

    Before each run the emulator's shortages are set from the run's plan (``plan_runs``), as windows of
    emulated time around the run's start: mostly spot short for the primary type and zone (for a few
    minutes, which a retry may outlast, or for hours), sometimes the first alternative short too,
    sometimes the second, sometimes on-demand. An alternative is "with capacity" when no shortage of the
    run covers it at all. The emulator fast-forwards on a stopped clock (``time_scale`` 0): a start takes
    ``START_SECONDS`` and a termination ``TERMINATE_SECONDS`` of emulated time, passed at the first read,
    and the work task passes its planned ``work_seconds`` (``POST /emulator/clock``) after reading which
    of its workers are on spot (``executors[].node_aws_attributes.is_spot``).

Figures (per arm)
    reached RUNNING      runs whose cluster reached RUNNING (in either try)
    first try            of the runs whose alternatives had capacity and whose primary was short, those
                         that reached RUNNING in the create task's first try (target with: all)
    create tries         the try each create task ended on
    starts/run           CREATING and STARTING events of the run's clusters (a start, a retry's start, or
                         an edit-and-start onto an alternative)
    to RUNNING s         emulated seconds from CREATING to RUNNING, of the runs that got there (mean, p90)
    worker-hours         workers times emulated hours from RUNNING to TERMINATING (the work's time)
    spot share           of those worker-hours, the share on spot, each worker on the market it had while
                         the work ran
    leaked               clusters live after their run
    duplicated           task instances whose tags are on more than one cluster
    extra starts         runs with more edit-and-starts (STARTING) than starts that ended for want of
                         capacity (target: 0)

How to read it
    ``ratio with/without`` lines compare the arms on the same shortages. The shortage plan decides most of
    it (how many primaries are short, and for how long); the ratios say what ``capacity_fallback`` buys on
    that plan: RUNNING where a retry of the same spec meets the same shortage, sooner, at the cost of some
    worker-hours moved to the alternatives (on demand for the last one).

``--quick`` runs 6 plans; any mode exits 1 on a leak, a duplicate, an extra start, or a with-fallback run
whose alternatives had capacity that did not reach RUNNING in its first try.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ZONE_A, ZONE_B = "ap-southeast-1a", "ap-southeast-1b"
PRIMARY_TYPE, SAME_SIZE_TYPE = "i3.xlarge", "r5d.xlarge"  # 4 vCPUs each
SPOT, ON_DEMAND = "SPOT", "ON_DEMAND"
WORKERS = 2
#: What the task tries in order after its own spec (``capacity_fallback``). The driver takes the workers'
#: type (no ``driver_node_type_id``), so the first alternative moves both.
ALTERNATIVES: list[dict[str, Any]] = [
    {"node_type_id": SAME_SIZE_TYPE},
    {"zone_id": ZONE_B},
    {"availability": ON_DEMAND},
]
#: The (node type, zone, market) each try needs: the task's own spec, then each alternative.
NEEDS: list[tuple[str, str, str]] = [
    (PRIMARY_TYPE, ZONE_A, SPOT),
    (SAME_SIZE_TYPE, ZONE_A, SPOT),
    (PRIMARY_TYPE, ZONE_B, SPOT),
    (PRIMARY_TYPE, ZONE_A, ON_DEMAND),
]
#: Emulated seconds: a start (its instances are bought halfway), a termination.
START_SECONDS = 300.0
TERMINATE_SECONDS = 30.0
LIVE = ("PENDING", "RUNNING", "RESTARTING", "RESIZING")
CAPACITY_END = "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"
BASE_DATE = datetime(2026, 3, 1, tzinfo=timezone.utc)
ARMS = ("without", "with")
DEFAULT_SEED = 20260301
DEFAULT_RUNS = 100
QUICK_RUNS = 6


def dag_id(arm: str, deferrable: bool) -> str:
    return f"capacity_soak_{arm}_{'deferred' if deferrable else 'sync'}"


DAG_FILE = f'''# The capacity soak's airflow DAGs (DagBag reads files that mention airflow and dag).
import json
import os
import urllib.request
from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)


@task
def work(cluster_id, **context):
    """Read which workers are on spot, then let the planned work's emulated seconds pass."""
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    cluster = DatabricksClustersHook().get_cluster(cluster_id)
    if cluster["state"] != "RUNNING":
        raise AssertionError(f"work saw cluster {{cluster_id}} {{cluster['state']}}")
    executors = cluster.get("executors") or []
    spot = [bool((e.get("node_aws_attributes") or {{}}).get("is_spot")) for e in executors]
    request = urllib.request.Request(
        os.environ["CAPACITY_SOAK_URL"] + "/emulator/clock",
        data=json.dumps({{"advance_seconds": context["dag_run"].conf["work_seconds"]}}).encode(),
        headers={{"Authorization": "Bearer " + os.environ["CAPACITY_SOAK_TOKEN"]}},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).read()
    return {{"workers_on_spot": sum(spot), "workers_on_demand": len(spot) - sum(spot)}}


def build(dag_id, *, fallback, deferrable):
    defaults = {{"retries": 0, "retry_delay": timedelta(0)}}
    with DAG(dag_id, schedule=None, start_date=None, catchup=False, default_args=defaults) as dag:
        create = DatabricksCreateClusterOperator(
            task_id="create_cluster",
            cluster_name="{{{{ dag_run.conf['cluster_name'] }}}}",
            spark_version="15.4.x-scala2.12",
            node_type_id={PRIMARY_TYPE!r},
            num_workers={WORKERS},
            availability="SPOT",
            first_on_demand=0,
            zone_id={ZONE_A!r},
            autotermination_minutes=120,
            capacity_fallback={ALTERNATIVES!r} if fallback else None,
            deferrable=deferrable,
            polling_interval=1,
            timeout=timedelta(minutes=30),
            retries=1,
            retry_delay=timedelta(0),
        )
        teardown = DatabricksTerminateClusterOperator(
            task_id="terminate_cluster", cluster_id=create.output, deferrable=deferrable, polling_interval=1
        )
        create >> work(create.output) >> teardown.as_teardown(setups=create)
    return dag


'''
DAG_FILE += "".join(
    f"{dag_id(arm, deferrable)} = build({dag_id(arm, deferrable)!r}, fallback={arm == 'with'}, "
    f"deferrable={deferrable})\n"
    for arm in ARMS
    for deferrable in (False, True)
)


# -- the plan ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shortage:
    """``NEEDS[need]`` cannot be had from ``begin`` to ``end`` seconds after the run's start."""

    need: int
    begin: float
    end: float

    def as_set(self, start: float) -> dict[str, Any]:
        node_type, zone, market = NEEDS[self.need]
        return {
            "node_type_id": node_type,
            "zone_id": zone,
            "market": market,
            "from_seconds": start + self.begin,
            "until_seconds": start + self.end,
        }


@dataclass(frozen=True)
class RunPlan:
    number: int
    deferrable: bool
    shortages: tuple[Shortage, ...]
    work_seconds: float

    @property
    def cluster_name(self) -> str:
        return f"capacity-soak-{self.number}"

    @property
    def primary_short(self) -> bool:
        return any(s.need == 0 for s in self.shortages)

    @property
    def primary_short_for_long(self) -> bool:
        """The primary is short for half an hour or more: no retry of it gets capacity."""
        return any(s.need == 0 and s.end >= 1800 for s in self.shortages)

    @property
    def alternatives_had_capacity(self) -> bool:
        """Some alternative was not short at any moment of the run."""
        short = {s.need for s in self.shortages}
        return any(need not in short for need in range(1, len(NEEDS)))

    def describe(self) -> str:
        short = ", ".join(f"{'/'.join(NEEDS[s.need])} to +{s.end:.0f}s" for s in self.shortages) or "none"
        return f"run {self.number} ({'deferred' if self.deferrable else 'sync'}): short {short}"


def plan_runs(seed: int, runs: int) -> list[RunPlan]:
    """The runs for ``seed``: the same seed always gives the same plan. Every window begins before the run
    (so no machine bought during it is taken back) and ends minutes or hours after it starts: always after
    the first start's instances are bought, so a primary planned short is met."""
    rng = random.Random(seed)
    plans = []
    for number in range(runs):
        shortages = []
        if rng.random() < 0.85:
            # Minutes: a retry of the same spec may find capacity again. Hours: it will not.
            end = rng.uniform(180, 480) if rng.random() < 0.35 else rng.uniform(1800, 14400)
            shortages.append(Shortage(0, -rng.uniform(0, 1800), end))
            for need, chance in ((1, 0.45), (2, 0.25), (3, 0.2)):
                if rng.random() < chance:
                    shortages.append(Shortage(need, -rng.uniform(0, 1800), rng.uniform(3600, 14400)))
        plans.append(RunPlan(number, rng.random() < 0.5, tuple(shortages), rng.uniform(1800, 5400)))
    return plans


# -- running ----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run of one arm did."""

    arm: str
    plan: RunPlan
    state: str = ""
    create_try: int = 0
    reached_running: bool = False
    starts: int = 0
    edit_starts: int = 0
    capacity_ends: int = 0
    to_running: float | None = None
    worker_seconds: float = 0.0
    spot_worker_seconds: float = 0.0
    alternative: int | None = None
    leaked: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    @property
    def first_try_running(self) -> bool:
        return self.reached_running and self.create_try == 1

    @property
    def extra_starts(self) -> bool:
        return self.edit_starts > self.capacity_ends

    @property
    def missed(self) -> bool:
        """A with-fallback run whose alternatives had capacity and that did not get RUNNING at once."""
        return self.arm == "with" and self.plan.alternatives_had_capacity and not self.first_try_running

    def line(self) -> str:
        verdict = "; ".join(self.problems()) or "ok"
        if not self.reached_running:
            on = "never RUNNING"
        else:
            on = "RUNNING on " + ("its own spec" if self.alternative is None else f"[{self.alternative}]")
        return (
            f"{self.plan.describe()} [{self.arm}]: {self.state}, try {self.create_try}, {self.starts} "
            f"start(s), {on}: {verdict}"
        )

    def problems(self) -> list[str]:
        found = []
        if self.leaked:
            found.append(f"leaked {self.leaked}")
        if self.duplicated:
            found.append(f"duplicated {self.duplicated}")
        if self.extra_starts:
            found.append(f"{self.edit_starts} edit-and-starts after {self.capacity_ends} shortage(s)")
        if self.missed:
            found.append(f"alternatives had capacity, yet {self.state} on try {self.create_try}")
        return found


def run_one(runner: Any, emu: Any, plan: RunPlan, arm: str) -> Outcome:
    from airflow_databricks_clusters.cluster_spec.build import task_instance_tags

    start = emu.clock.now()
    emu.set_capacity([s.as_set(start) for s in plan.shortages])
    logical_date = BASE_DATE + timedelta(minutes=plan.number)
    conf = {"cluster_name": plan.cluster_name, "work_seconds": plan.work_seconds}
    result = runner.run(dag_id(arm, plan.deferrable), conf=conf, logical_date=logical_date)
    outcome = Outcome(arm, plan, state=result.state, create_try=result.try_numbers.get("create_cluster", 0))
    tags = task_instance_tags(result.dag_id, "create_cluster", result.run_id)
    clusters = [
        c
        for c in emu.clusters.values()
        if all((c.get("custom_tags") or {}).get(key) == value for key, value in tags.items())
    ]
    outcome.leaked = [c["cluster_id"] for c in clusters if c["state"] in LIVE]
    if len(clusters) > 1:
        outcome.duplicated = [c["cluster_id"] for c in clusters]
    workers = result.xcom("work") or {}
    for cluster in clusters:
        events = emu.events(cluster["cluster_id"])
        kinds = [e["type"] for e in events]
        outcome.starts += kinds.count("CREATING") + kinds.count("STARTING")
        outcome.edit_starts += kinds.count("STARTING")
        outcome.capacity_ends += sum(
            1
            for e in events
            if e["type"] == "TERMINATING"
            and ((e.get("details") or {}).get("reason") or {}).get("code") == CAPACITY_END
        )
        moments = {kind: [e["timestamp"] / 1000 for e in events if e["type"] == kind] for kind in set(kinds)}
        if moments.get("RUNNING"):
            outcome.reached_running = True
            running = moments["RUNNING"][0]
            outcome.to_running = running - moments["CREATING"][0]
            ended = [t for t in moments.get("TERMINATING", []) if t >= running]
            held = (ended[0] if ended else emu.clock.now()) - running
            outcome.worker_seconds += held * (
                workers.get("workers_on_spot", 0) + workers.get("workers_on_demand", 0)
            )
            outcome.spot_worker_seconds += held * workers.get("workers_on_spot", 0)
    summary = result.xcom("create_cluster", "cluster_summary")
    if summary:
        outcome.alternative = summary.get("capacity_fallback")
    return outcome


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def soak(plans: Sequence[RunPlan], dags_folder: Path, *, verbose: bool = False) -> list[Outcome]:
    """Run every plan in both arms (without, then with) against one fast-forwarding emulator on a stopped
    clock; the DAG file is written into ``dags_folder`` (the configured DAGs folder)."""
    from airflow_databricks_clusters.emulator import Emulator
    from airflow_databricks_clusters.testing.dag_runs import DagRunner

    (dags_folder / "capacity_soak_dags.py").write_text(DAG_FILE)
    outcomes = []
    emulator = Emulator(
        start_seconds=START_SECONDS, terminate_seconds=TERMINATE_SECONDS, time_scale=0, fast_forward=True
    )
    with (
        emulator as emu,
        environment(
            AIRFLOW_CONN_DATABRICKS_DEFAULT=emu.connection_env(),
            CAPACITY_SOAK_URL=emu.url,
            CAPACITY_SOAK_TOKEN=emu.token,
        ),
    ):
        runner = DagRunner(dags_folder)
        for plan in plans:
            for arm in ARMS:
                began = time.monotonic()
                outcome = run_one(runner, emu, plan, arm)
                outcomes.append(outcome)
                if verbose or outcome.problems():
                    print(f"{outcome.line()} ({time.monotonic() - began:.2f} s)", flush=True)
    return outcomes


# -- reporting --------------------------------------------------------------------------------------------


@dataclass
class ArmFigures:
    """One arm's figures (see the module's docstring)."""

    runs: int
    reached: int
    first_try: int
    eligible: int
    eligible_first_try: int
    tries: Counter[int]
    starts_per_run: float
    to_running: list[float]
    worker_hours: float
    spot_share: float
    leaked: int
    duplicated: int
    extra_starts: int
    missed: int
    alternatives: Counter[int | None]


def figures(outcomes: Sequence[Outcome]) -> ArmFigures:
    eligible = [o for o in outcomes if o.plan.alternatives_had_capacity and o.plan.primary_short]
    workers = sum(o.worker_seconds for o in outcomes)
    return ArmFigures(
        runs=len(outcomes),
        reached=sum(o.reached_running for o in outcomes),
        first_try=sum(o.first_try_running for o in outcomes),
        eligible=len(eligible),
        eligible_first_try=sum(o.first_try_running for o in eligible),
        tries=Counter(o.create_try for o in outcomes),
        starts_per_run=statistics.fmean(o.starts for o in outcomes) if outcomes else 0.0,
        to_running=sorted(o.to_running for o in outcomes if o.to_running is not None),
        worker_hours=workers / 3600,
        spot_share=sum(o.spot_worker_seconds for o in outcomes) / workers if workers else 0.0,
        leaked=sum(len(o.leaked) for o in outcomes),
        duplicated=sum(len(o.duplicated) for o in outcomes),
        extra_starts=sum(o.extra_starts for o in outcomes),
        missed=sum(o.missed for o in outcomes),
        alternatives=Counter(o.alternative for o in outcomes if o.reached_running),
    )


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "n/a (nothing to divide by)"


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] if ordered else 0.0


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "0/0"


def report(outcomes: Sequence[Outcome], plans: Sequence[RunPlan], seed: int, wall: float) -> int:
    """Print the figures; return how many problems were found (leaks, duplicates, extra starts, misses)."""
    arms = {arm: figures([o for o in outcomes if o.arm == arm]) for arm in ARMS}
    long = sum(p.primary_short_for_long for p in plans)
    print(
        f"plans: {len(plans)} (seed {seed}), {len(outcomes)} DAG runs in {wall:.0f} s; the primary short "
        f"in {sum(p.primary_short for p in plans)} ({long} for half an hour or more), every alternative "
        f"short too in {sum(not p.alternatives_had_capacity for p in plans)}"
    )
    for arm in ARMS:
        f = arms[arm]
        print(f"[{arm} capacity_fallback]")
        print(
            f"  reached RUNNING    {share(f.reached, f.runs)}; in the first try {share(f.first_try, f.runs)}"
        )
        eligible = share(f.eligible_first_try, f.eligible)
        print(
            f"  first try          {eligible} of those short on the primary whose alternatives had capacity"
        )
        print(f"  create tries       {', '.join(f'try {k}: {v}' for k, v in sorted(f.tries.items()))}")
        print(f"  starts/run         {f.starts_per_run:.2f}")
        print(f"  to RUNNING s       mean {mean(f.to_running):.0f}, p90 {p90(f.to_running):.0f}")
        print(f"  worker-hours       {f.worker_hours:.1f}, {f.spot_share:.1%} on spot")
        if arm == "with":
            on = sorted(f.alternatives.items(), key=lambda item: -1 if item[0] is None else item[0])
            shown = ", ".join(f"{'own spec' if k is None else f'capacity_fallback[{k}]'} {v}" for k, v in on)
            print(f"  RUNNING on         {shown}")
        print(f"  leaked {f.leaked}, duplicated {f.duplicated}, extra starts {f.extra_starts}")
    without, with_ = arms["without"], arms["with"]
    # Time to RUNNING compared on the plans both arms got RUNNING (the easy ones, for the arm without).
    both = {o.plan.number for o in outcomes if o.arm == "with" and o.reached_running} & {
        o.plan.number for o in outcomes if o.arm == "without" and o.reached_running
    }
    common = {
        arm: [
            o.to_running
            for o in outcomes
            if o.arm == arm and o.plan.number in both and o.to_running is not None
        ]
        for arm in ARMS
    }
    print(f"ratio with/without reached RUNNING = {ratio(with_.reached, without.reached)}")
    print(f"ratio with/without RUNNING in the first try = {ratio(with_.first_try, without.first_try)}")
    print(f"ratio with/without starts per run = {ratio(with_.starts_per_run, without.starts_per_run)}")
    print(
        f"ratio with/without mean s to RUNNING, on the {len(both)} plans both reached = "
        f"{ratio(mean(common['with']), mean(common['without']))}"
    )
    print(f"ratio with/without worker-hours = {ratio(with_.worker_hours, without.worker_hours)}")
    print(f"ratio with/without spot share of worker-hours = {ratio(with_.spot_share, without.spot_share)}")
    problems = sum(f.leaked + f.duplicated + f.extra_starts + f.missed for f in arms.values())
    print(
        f"leaked={without.leaked + with_.leaked} duplicated={without.duplicated + with_.duplicated} "
        f"extra_starts={without.extra_starts + with_.extra_starts} missed={with_.missed}"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="plans, each run in both arms")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS} plans")
    parser.add_argument("--verbose", action="store_true", help="a line per run")
    args = parser.parse_args()
    runs = QUICK_RUNS if args.quick else args.runs

    from airflow_databricks_clusters.testing.airflow_home import SessionHome

    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "CRITICAL"
    home = SessionHome(Path())
    home.dags_folder = home.path / "dags"
    home.enter()  # before anything imports airflow
    try:
        home.dags_folder.mkdir()
        from airflow_databricks_clusters.testing.airflow_home import create_database

        create_database()
        plans = plan_runs(args.seed, runs)
        started = time.monotonic()
        outcomes = soak(plans, home.dags_folder, verbose=args.verbose)
        problems = report(outcomes, plans, args.seed, time.monotonic() - started)
    finally:
        home.exit()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
