"""Requests per second and latency of the emulator's ``clusters/get``, ``jobs/runs/get``, ``jobs/get``,
``jobs/list`` by name and ``dbfs/get-status`` as clusters, jobs, runs and DBFS files accumulate.

Measured
    One emulator (``python -m airflow_databricks_clusters.emulator``, its own process, so the client here
    does not share a GIL with the server) on a loopback port. The workspace is filled through the API up to
    N clusters (``POST /api/2.1/clusters/create``), N one-time runs, one on each cluster
    (``POST /api/2.1/jobs/runs/submit``), and N jobs, each named for its number and run once on its cluster
    (``POST /api/2.2/jobs/create``, ``POST /api/2.2/jobs/run-now``), and N small DBFS files in one folder
    (``POST /api/2.0/dbfs/put``), for each N (normal: 1, 100, 1000,
    3000; ``--quick``: 1, 20); the clusters start in 50 ms and a run lasts a day, so every cluster is
    RUNNING and every run RUNNING when the measurement begins (``GET /emulator/stats`` confirms the
    cluster and run counts: N and 2N). For each N, one
    ``requests.Session`` sends sequential requests, in alternating timed phases (normal: 3 rounds of 1.5 s
    each; ``--quick``: 1 round of 0.25 s) of:

    * baseline: ``GET /.well-known/databricks-config``, served by the same server and app without touching
      the workspace (no auth, no lock, no per-cluster work): the fixed cost of HTTP, uvicorn, the app and
      the client;
    * get: ``GET /api/2.1/clusters/get?cluster_id=<the first cluster>`` with the bearer token, which takes
      the workspace lock and (``Workspace._advance``) brings the workspace up to date before answering;
    * runs-get: ``GET /api/2.1/jobs/runs/get?run_id=<the first run>``, which also reads the run's cluster
      (as a run in progress does on every look);
    * jobs-get: ``GET /api/2.2/jobs/get?job_id=<the first job>``;
    * jobs-named: ``GET /api/2.2/jobs/list?name=<the first job's name>`` (the one job of that name), as
      the official provider finds a job by name;
    * dbfs-status: ``GET /api/2.0/dbfs/get-status?path=<the first file>``.

Figures (per N and endpoint)
    req/s                requests completed per second (sequential, one connection)
    p50 / p90 / p99      latency in milliseconds, as the client saw it
    mean                 mean latency in milliseconds

How to read it
    ``ratio get/baseline N=<n>: time per request = X.XXx`` is the mean latency of ``clusters/get`` over that
    of the baseline measured in the same rounds (``ratio runs-get/baseline``: of ``jobs/runs/get``); 1.00x
    would mean the workspace costs nothing per request. If a ratio grows with N, the per-request work grows
    with the number of clusters (or runs); the ``growth`` lines turn it into microseconds per existing
    cluster per request (between the smallest and largest N): about 0 when a request's cost does not
    depend on N, within the noise of a shared machine (a few tenths of a microsecond either way).
    ``ratio <endpoint> N=<largest>/N=<smallest>`` is the same request's mean time on the fullest workspace
    over its time on the emptiest one, both measured in this run: about 1.00x when it costs the same
    however many clusters, jobs and runs the workspace holds.
    Absolute figures depend on the machine; compare ratios.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from emulator_process import SPEC, TOKEN, EmulatorProcess

BASELINE_PATH = "/.well-known/databricks-config"
GET_PATH = "/api/2.1/clusters/get"
RUNS_GET_PATH = "/api/2.1/jobs/runs/get"
JOBS_GET_PATH = "/api/2.2/jobs/get"
JOBS_LIST_PATH = "/api/2.2/jobs/list"
DBFS_STATUS_PATH = "/api/2.0/dbfs/get-status"
STATS_PATH = "/emulator/stats"
#: The endpoints timed, in the order of each round's phases: the baseline first.
ENDPOINTS = ("baseline", "get", "runs-get", "jobs-get", "jobs-named", "dbfs-status")
#: Clusters RUNNING at once, runs that never end while measured.
EMULATOR_OPTIONS = ("--start-seconds", "0.05", "--terminate-seconds", "0.05", "--run-seconds", "86400")


@dataclass
class Sample:
    """Latencies (seconds) of one endpoint over all rounds, and the time spent sending them."""

    latencies: list[float]
    elapsed: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000

    def percentile_ms(self, pct: float) -> float:
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
        return ordered[index] * 1000


def phase(send: Callable[[], None], seconds: float, latencies: list[float]) -> float:
    """Send sequential requests for ``seconds``; append each latency; return the time spent."""
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        before = now
        send()
        now = time.perf_counter()
        latencies.append(now - before)
    return now - start


def call(session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
    """The JSON answer; RuntimeError for anything but a 200."""
    response = session.request(method, url, **kwargs)
    if response.status_code != 200:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text}")
    return response.json()


def measure(
    session: requests.Session,
    url: str,
    cluster_id: str,
    run_id: int,
    job_id: int,
    rounds: int,
    seconds: float,
) -> dict[str, Sample]:
    senders: dict[str, Callable[[], None]] = {
        "baseline": lambda: call(session, "GET", url + BASELINE_PATH),
        "get": lambda: call(session, "GET", url + GET_PATH, params={"cluster_id": cluster_id}),
        "runs-get": lambda: call(session, "GET", url + RUNS_GET_PATH, params={"run_id": run_id}),
        "jobs-get": lambda: call(session, "GET", url + JOBS_GET_PATH, params={"job_id": job_id}),
        "jobs-named": lambda: call(session, "GET", url + JOBS_LIST_PATH, params={"name": job_name(0)}),
        "dbfs-status": lambda: call(session, "GET", url + DBFS_STATUS_PATH, params={"path": file_path(0)}),
    }
    # A few of each first: connection set up, caches warm, every cluster's start applied.
    for _ in range(20):
        for send in senders.values():
            send()
    samples = {name: Sample([], 0.0) for name in ENDPOINTS}
    for _ in range(rounds):
        for name in ENDPOINTS:
            samples[name].elapsed += phase(senders[name], seconds, samples[name].latencies)
    return samples


def fill(session: requests.Session, url: str, count: int) -> list[str]:
    return [
        str(call(session, "POST", url + "/api/2.1/clusters/create", json=SPEC)["cluster_id"])
        for _ in range(count)
    ]


def submit(session: requests.Session, url: str, cluster_ids: Sequence[str]) -> list[int]:
    """One run on each cluster."""
    runs = []
    for cluster_id in cluster_ids:
        task = {
            "task_key": "t",
            "existing_cluster_id": cluster_id,
            "spark_python_task": {"python_file": "x.py"},
        }
        runs.append(
            int(call(session, "POST", url + "/api/2.1/jobs/runs/submit", json={"tasks": [task]})["run_id"])
        )
    return runs


def job_name(index: int) -> str:
    return f"benchmark-job-{index}"


def add_jobs(session: requests.Session, url: str, cluster_ids: Sequence[str], first: int) -> list[int]:
    """One job on each cluster, numbered from ``first``, each run once (its run lasts a day)."""
    jobs = []
    for index, cluster_id in enumerate(cluster_ids, start=first):
        task = {
            "task_key": "t",
            "existing_cluster_id": cluster_id,
            "spark_python_task": {"python_file": "x.py"},
        }
        settings = {"name": job_name(index), "tasks": [task]}
        job_id = int(call(session, "POST", url + "/api/2.2/jobs/create", json=settings)["job_id"])
        call(session, "POST", url + "/api/2.2/jobs/run-now", json={"job_id": job_id})
        jobs.append(job_id)
    return jobs


def file_path(index: int) -> str:
    return f"/benchmark/file-{index}.txt"


def add_files(session: requests.Session, url: str, first: int, count: int) -> None:
    """``count`` small DBFS files, numbered from ``first``."""
    for index in range(first, first + count):
        body = {
            "path": file_path(index),
            "contents": base64.b64encode(b"benchmark\n").decode(),
            "overwrite": True,
        }
        call(session, "POST", url + "/api/2.0/dbfs/put", json=body)


def growth_us(
    results: dict[int, dict[str, Sample]], name: str, low: int, high: int, figure: Callable[[Sample], float]
) -> float:
    """How much more an endpoint's ``figure`` (ms) exceeds the baseline's at ``high`` than at ``low``, in
    microseconds per cluster between them."""
    extra_ms = (figure(results[high][name]) - figure(results[high]["baseline"])) - (
        figure(results[low][name]) - figure(results[low]["baseline"])
    )
    return extra_ms * 1000 / (high - low)


def row(label: str, sample: Sample) -> str:
    return (
        f"  {label:<9}{sample.rps:>9.0f}{sample.percentile_ms(50):>9.2f}{sample.percentile_ms(90):>9.2f}"
        f"{sample.percentile_ms(99):>9.2f}{sample.mean_ms:>9.2f}{len(sample.latencies):>9}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N = 1, 20; one short round (a smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="cluster counts N (default 1 100 1000 3000)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per N (default 3, --quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per endpoint per round (1.5, --quick 0.25)")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes or ([1, 20] if args.quick else [1, 100, 1000, 3000])))
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (0.25 if args.quick else 1.5)
    if sizes[0] < 1:
        parser.error("--sizes: every N must be at least 1")

    print(
        f"Emulator throughput: sequential requests on one connection, {rounds} round(s) x {seconds:g} s"
        " per endpoint and N"
    )
    results: dict[int, dict[str, Sample]] = {}
    with EmulatorProcess(EMULATOR_OPTIONS) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        ids: list[str] = []
        runs: list[int] = []
        jobs: list[int] = []
        files = 0
        for n in sizes:
            start = time.perf_counter()
            ids += fill(session, server.url, n - len(ids))
            time.sleep(0.1)  # past start_seconds: every cluster is due to be RUNNING
            runs += submit(session, server.url, ids[len(runs) :])
            jobs += add_jobs(session, server.url, ids[len(jobs) :], len(jobs))
            add_files(session, server.url, files, n - files)
            files = n
            filled = time.perf_counter() - start
            held = call(session, "GET", server.url + STATS_PATH)
            if (held["clusters"], held["runs"]) != (n, 2 * n):
                raise RuntimeError(f"{STATS_PATH}: expected {n} clusters and {2 * n} runs, got {held}")
            results[n] = measure(session, server.url, ids[0], runs[0], jobs[0], rounds, seconds)
            print(f"N={n} clusters, jobs, one-time runs, job runs and files (filled in {filled:.1f} s)")
            print(
                f"  {'endpoint':<9}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
                f"{'mean ms':>9}{'count':>9}"
            )
            for name in ENDPOINTS:
                print(row(name, results[n][name]))

    for name in ENDPOINTS[1:]:
        for n, samples in results.items():
            base, ours = samples["baseline"], samples[name]
            print(
                f"ratio {name}/baseline N={n}: time per request = {ours.mean_ms / base.mean_ms:.2f}x"
                f" (p50 {ours.percentile_ms(50) / base.percentile_ms(50):.2f}x,"
                f" req/s {ours.rps / base.rps:.2f}x)"
            )
    if len(sizes) > 1:
        low, high = sizes[0], sizes[-1]
        for name in ENDPOINTS[1:]:
            full, empty = results[high][name], results[low][name]
            print(
                f"ratio {name} N={high}/N={low}: time per request = {full.mean_ms / empty.mean_ms:.2f}x"
                f" (p50 {full.percentile_ms(50) / empty.percentile_ms(50):.2f}x; baseline"
                f" {results[high]['baseline'].mean_ms / results[low]['baseline'].mean_ms:.2f}x)"
            )
        growing = (
            ("get", "clusters/get"),
            ("runs-get", "jobs/runs/get"),
            ("jobs-get", "jobs/get"),
            ("jobs-named", "jobs/list by name"),
            ("dbfs-status", "dbfs/get-status"),
        )
        for name, what in growing:
            mean_us = growth_us(results, name, low, high, lambda sample: sample.mean_ms)
            p50_us = growth_us(results, name, low, high, lambda sample: sample.percentile_ms(50))
            print(
                f"growth: {what} costs {mean_us:.2f} us more per existing cluster (job, runs, file)"
                f" per request (over the baseline, N={low} -> N={high}; by the medians {p50_us:.2f} us)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
