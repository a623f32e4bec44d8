"""The Clusters page and the leak sweep at a fleet's size: 5,000 clusters, 1,000 live, 100 ms a request.

Measured
    One embedded emulator on a stopped clock (in this process: its work per request is small beside the
    delay below, and a state file would be rewritten whole on every terminate), holding N clusters
    (normal: 5,000; ``--quick``: 200), every one carrying a
    task instance's tags and created by the connection's user, LIVE of them RUNNING (normal: 1,000;
    ``--quick``: 40) and the rest TERMINATED. Every request then waits DELAY seconds before its answer (an
    emulator ``delay`` fault on every path; normal: 0.1 s, a workspace across a network; ``--quick``:
    0.01 s). Requests are counted by the emulator (its ``stats()``), times by this process.

    * today's read (the baseline): what the Clusters page's read did before this benchmark existed, with
      the same hook: ``Me``, every ``clusters/list`` page, then ``clusters/events`` (up to 200 events) for
      every cluster of the plugin, one after the other. Its events calls are timed for the first
      BASELINE_EVENTS clusters (normal: 100; ``--quick``: 10) and the rest counted at that measured mean
      (``--full-baseline`` times all of them: about N x DELAY seconds);
    * first page: a new ``FleetReader`` (an API server just started) and the page's own answer
      (``fleet.page.table_answer``, default query: 50 rows, live first), from nothing to the answer;
    * read: that reader's whole read, to its complete snapshot, and its requests;
    * a later page: the answer for page 37 of the terminated clusters sorted by name, from the snapshot;
    * an opened row: ``FleetReader.events`` for one live cluster (its detail), and its requests;
    * sweep: ``DatabricksClusterSweeperOperator(min_age_minutes=0).execute()``, the task instances read
      from a table standing in for the Task SDK (SWEPT of the live clusters' tasks failed, the rest
      running), its time and requests; every leak it reports terminated is checked TERMINATING.

Figures
    seconds and requests for each of the above; the read's list pages (ceil(N / 100) for the live and the
    terminated clusters apart, 100 being the most ``clusters/list`` answers per page).

How to read it
    ``ratio first page/today's read`` and ``ratio requests per read/today's`` compare this page with the
    read it replaced, in the same run. The targets are ratios too: ``ratio first page/2 s target`` (at
    most 1.00x), ``ratio requests per read/(list pages + 2)`` (at most 1.00x: a read costs the list's
    pages and ``Me``, not the fleet), ``ratio sweep/60 s target`` (at most 1.00x; the sweeper's DAG runs
    every 15 minutes with ``max_active_runs=1``, so a sweep far inside its interval never queues the next).
    The request counts do not depend on the machine; the script exits 1 when one misses its target.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from emulator_process import TOKEN, airflow_env

FULL = {"clusters": 5000, "live": 1000, "delay": 0.1, "baseline_events": 100, "swept": 200}
QUICK = {"clusters": 200, "live": 40, "delay": 0.01, "baseline_events": 10, "swept": 8}
LIST_PAGE = 100
FIRST_PAGE_TARGET_SECONDS = 2.0
SWEEP_TARGET_SECONDS = 60.0


def tags(n: int) -> dict[str, str]:
    return {
        "airflow_dag_id": f"pipeline_{n % 20:02d}",
        "airflow_task_id": "create_cluster",
        "airflow_run_id": f"scheduled__2026-12-01T{n // 60 % 24:02d}:{n % 60:02d}:00+00:00-{n}",
        "airflow_map_index": "-1",
    }


def fill(emu: Any, clusters: int, live: int) -> None:
    """The fleet, made in process (only the measured requests go over HTTP)."""
    spec = {
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "r5d.xlarge",
        "num_workers": 2,
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
    }
    made = [
        str(
            emu.workspace.clusters_create({**spec, "cluster_name": f"fleet-{n:05d}", "custom_tags": tags(n)})[
                "cluster_id"
            ]
        )
        for n in range(clusters)
    ]
    emu.advance(60)
    for cluster_id in made[live:]:
        emu.workspace.clusters_delete({"cluster_id": cluster_id})
    emu.advance(60)


def requests_served(emu: Any) -> int:
    return int(emu.stats()["requests"])


def todays_read(emu: Any, timed_events: int | None) -> tuple[float, int]:
    """The read the page made before: ``Me``, the list, then each plugin cluster's events in turn.

    Returns its seconds and requests; with ``timed_events`` the events calls past that many are counted
    at the measured mean instead of made."""
    from airflow_databricks_clusters.fleet.sweep_policy import TaskInstanceRef, identify
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    hook = DatabricksClustersHook("databricks_default", timeout_seconds=10.0, retry_deadline_seconds=20.0)
    before, started = requests_served(emu), time.monotonic()
    owner = hook.current_user()["userName"]
    clusters = hook.list_clusters()
    theirs = [c for c in clusters if isinstance(identify(c, owner=owner), TaskInstanceRef)]
    listed = time.monotonic()
    made = theirs if timed_events is None else theirs[:timed_events]
    for cluster in made:
        hook.get_events(str(cluster["cluster_id"]), limit=200)
    events_seconds = time.monotonic() - listed
    requests = requests_served(emu) - before
    hook.close()
    left = len(theirs) - len(made)
    per_call = events_seconds / max(len(made), 1)
    return listed - started + events_seconds + left * per_call, requests + left


class TaskStates:
    """The Task SDK's answers for the sweep: the first ``failed`` live clusters' tasks failed, the rest
    running; every run exists and is still running."""

    def __init__(self, failed: set[str]) -> None:
        self.failed = failed
        self.calls = 0
        self.pushed: dict[str, Any] = {}

    def get_task_states(self, dag_id: str, map_index: int | None = None, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        return {
            run: {"create_cluster": "failed" if run in self.failed else "running"} for run in kw["run_ids"]
        }

    def get_dr_count(self, dag_id: str, run_ids: list[str], states: list[str] | None = None) -> int:
        self.calls += 1
        return len(run_ids)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 clusters, 10 ms a request")
    parser.add_argument("--full-baseline", action="store_true", help="time every events call of today's read")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="adc-fleet-scale-"))
    os.environ.update(airflow_env(work))
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "CRITICAL"
    problems: list[str] = []
    from airflow_databricks_clusters.emulator import Emulator

    with Emulator(token=TOKEN, time_scale=0, start_seconds=1, terminate_seconds=1) as emu:
        fill(emu, size["clusters"], size["live"])
        os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = emu.connection_env()
        emu.add_fault("delay", delay=size["delay"])
        stats = emu.stats()
        print(
            f"workspace: {stats['clusters']} clusters, {size['live']} live; "
            f"{size['delay'] * 1000:.0f} ms a request"
        )

        base_seconds, base_requests = todays_read(
            emu, None if args.full_baseline else size["baseline_events"]
        )
        how = (
            "all timed"
            if args.full_baseline
            else f"{size['baseline_events']} events calls timed, the rest at their mean"
        )
        print(f"today's read: {base_seconds:.1f} s, {base_requests} requests ({how})")

        from airflow_databricks_clusters.fleet.page import table_answer
        from airflow_databricks_clusters.fleet.reader import FleetReader
        from airflow_databricks_clusters.fleet.sweep_policy import Lookup, RunStatus
        from airflow_databricks_clusters.fleet.table import TableQuery

        def lookups(refs: Any) -> dict[Any, Lookup]:
            return {ref: Lookup.of_task("running", RunStatus.ACTIVE) for ref in refs}

        def everyone(dag_ids: Any, method: str) -> set[str]:
            return set(dag_ids)

        reader = FleetReader(["databricks_default"], max_age_seconds=3600)
        before, started = requests_served(emu), time.monotonic()
        first = table_answer(reader, TableQuery(), lookups, everyone)
        first_page = time.monotonic() - started
        assert len(first["clusters"]) >= min(50, size["live"]), first["workspaces"]
        print(
            f"first page: {first_page:.2f} s "
            f"({'all' if first['workspaces'][0]['complete'] else 'the live'} clusters read)"
        )
        done = reader.wait_complete("databricks_default", 600)
        read_seconds = time.monotonic() - started
        read_requests = requests_served(emu) - before
        assert done is not None and len(done.clusters) == size["clusters"], "the read did not complete"
        pages = math.ceil(size["live"] / LIST_PAGE) + math.ceil((size["clusters"] - size["live"]) / LIST_PAGE)
        print(f"read: {read_seconds:.2f} s, {read_requests} requests ({pages} list pages)")

        started = time.monotonic()
        later = table_answer(
            reader, TableQuery(page=37, sort="cluster", state="TERMINATED"), lookups, everyone
        )
        print(
            f"a later page from the snapshot: {time.monotonic() - started:.3f} s, "
            f"page {later['page']} of {later['pages']}"
        )

        live_cluster = next(c for c in done.clusters if c["state"] == "RUNNING")
        before, started = requests_served(emu), time.monotonic()
        events = reader.events("databricks_default", live_cluster)
        row_requests = requests_served(emu) - before
        print(
            f"an opened row: {time.monotonic() - started:.2f} s, {row_requests} requests, "
            f"{len(events)} events"
        )

        from airflow_databricks_clusters.sweeper import DatabricksClusterSweeperOperator

        live_runs = [c["custom_tags"]["airflow_run_id"] for c in done.clusters if c["state"] == "RUNNING"]
        task_states = TaskStates(set(live_runs[: size["swept"]]))
        before, started = requests_served(emu), time.monotonic()
        report = DatabricksClusterSweeperOperator(task_id="sweep", min_age_minutes=0).execute(
            {"ti": task_states}
        )  # type: ignore[arg-type]
        sweep_seconds = time.monotonic() - started
        sweep_requests = requests_served(emu) - before
        terminated = {entry["cluster_id"] for entry in report["terminated"]}
        print(
            f"sweep: {sweep_seconds:.2f} s (its report: {report['seconds']} s), {sweep_requests} requests, "
            f"{len(terminated)} terminated, {len(report['kept'])} kept, {task_states.calls} Task SDK calls"
        )
        now = {cluster_id: c["state"] for cluster_id, c in emu.clusters.items()}
        if len(terminated) != size["swept"] or any(
            now[c] not in ("TERMINATING", "TERMINATED") for c in terminated
        ):
            problems.append(f"the sweep terminated {len(terminated)} clusters, not the {size['swept']} leaks")

    print(f"ratio first page/today's read = {first_page / base_seconds:.4f}x")
    print(f"ratio requests per read/today's = {read_requests / base_requests:.4f}x")
    print(f"ratio first page/2 s target = {first_page / FIRST_PAGE_TARGET_SECONDS:.2f}x")
    print(f"ratio requests per read/(list pages + 2) = {read_requests / (pages + 2):.2f}x")
    print(f"ratio requests per opened row/1 = {row_requests:.2f}x")
    print(f"ratio sweep/60 s target = {sweep_seconds / SWEEP_TARGET_SECONDS:.2f}x")
    if read_requests > pages + 2:
        problems.append(f"a read made {read_requests} requests, over the list's {pages} pages + 2")
    if row_requests > 1:
        problems.append(f"an opened row made {row_requests} requests")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
