"""Requests per second and latency of the emulator's ``GET /api/2.1/clusters/get`` as clusters accumulate.

Measured
    One emulator (``python -m airflow_databricks_clusters.emulator``, its own process, so the client here
    does not share a GIL with the server) on a loopback port. The workspace is filled through the API
    (``POST /api/2.1/clusters/create``) up to N clusters for each N (normal: 1, 100, 1000, 3000; ``--quick``:
    1, 20); the clusters start in 50 ms, so every one is RUNNING when the measurement begins. For each N, one
    ``requests.Session`` sends sequential requests, in alternating timed phases (normal: 3 rounds of 1.5 s
    each; ``--quick``: 1 round of 0.25 s) of:

    * baseline: ``GET /.well-known/databricks-config``, served by the same server and app without touching
      the workspace (no auth, no lock, no per-cluster work): the fixed cost of HTTP, uvicorn, the app and
      the client;
    * get: ``GET /api/2.1/clusters/get?cluster_id=<the first cluster>`` with the bearer token, which takes
      the workspace lock and (``Workspace._advance``) brings every cluster up to date before answering.

Figures (per N and endpoint)
    req/s                requests completed per second (sequential, one connection)
    p50 / p90 / p99      latency in milliseconds, as the client saw it
    mean                 mean latency in milliseconds

How to read it
    ``ratio get/baseline N=<n>: time per request = X.XXx`` is the mean latency of ``clusters/get`` over that
    of the baseline measured in the same rounds; 1.00x would mean the workspace costs nothing per request.
    If the ratio grows with N, the per-request work grows with the number of clusters; the last line turns
    the growth into microseconds per existing cluster per request (between the smallest and largest N).
    Absolute figures depend on the machine; compare ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

TOKEN = "dapi-benchmark-token"
SPEC: dict[str, Any] = {
    "cluster_name": "bench",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 2,
    "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
}
BASELINE_PATH = "/.well-known/databricks-config"
GET_PATH = "/api/2.1/clusters/get"
LISTENING = re.compile(r"listening on (http://\S+)")


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


class Server:
    """The emulator command in a child process; stopped with SIGTERM, killed if it does not stop."""

    def __init__(self) -> None:
        command = [
            sys.executable,
            "-m",
            "airflow_databricks_clusters.emulator",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--start-seconds",
            "0.05",
            "--terminate-seconds",
            "0.05",
        ]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
        )
        self.url = ""

    def __enter__(self) -> Server:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = LISTENING.search(line)
            if match:
                self.url = match.group(1)
                return self
        self.stop()
        raise RuntimeError("the emulator did not start")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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


def measure(
    session: requests.Session, url: str, cluster_id: str, rounds: int, seconds: float
) -> tuple[Sample, Sample]:
    def baseline() -> None:
        response = session.get(url + BASELINE_PATH)
        if response.status_code != 200:
            raise RuntimeError(f"{BASELINE_PATH}: {response.status_code} {response.text}")

    def get() -> None:
        response = session.get(url + GET_PATH, params={"cluster_id": cluster_id})
        if response.status_code != 200:
            raise RuntimeError(f"{GET_PATH}: {response.status_code} {response.text}")

    # A few of each first: connection set up, caches warm, every cluster's start applied.
    for _ in range(20):
        baseline()
        get()
    base, ours = Sample([], 0.0), Sample([], 0.0)
    for _ in range(rounds):
        base.elapsed += phase(baseline, seconds, base.latencies)
        ours.elapsed += phase(get, seconds, ours.latencies)
    return base, ours


def fill(session: requests.Session, url: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = session.post(url + "/api/2.1/clusters/create", json=SPEC)
        if response.status_code != 200:
            raise RuntimeError(f"clusters/create: {response.status_code} {response.text}")
        ids.append(str(response.json()["cluster_id"]))
    return ids


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
    results: dict[int, tuple[Sample, Sample]] = {}
    with Server() as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        ids: list[str] = []
        for n in sizes:
            start = time.perf_counter()
            ids += fill(session, server.url, n - len(ids))
            filled = time.perf_counter() - start
            time.sleep(0.1)  # past start_seconds: every cluster is due to be RUNNING
            base, ours = measure(session, server.url, ids[0], rounds, seconds)
            results[n] = (base, ours)
            print(f"N={n} clusters (filled in {filled:.1f} s)")
            print(
                f"  {'endpoint':<9}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
                f"{'mean ms':>9}{'count':>9}"
            )
            print(row("baseline", base))
            print(row("get", ours))

    for n, (base, ours) in results.items():
        print(
            f"ratio get/baseline N={n}: time per request = {ours.mean_ms / base.mean_ms:.2f}x"
            f" (p50 {ours.percentile_ms(50) / base.percentile_ms(50):.2f}x,"
            f" req/s {ours.rps / base.rps:.2f}x)"
        )
    if len(sizes) > 1:
        low, high = sizes[0], sizes[-1]
        extra_ms = (results[high][1].mean_ms - results[high][0].mean_ms) - (
            results[low][1].mean_ms - results[low][0].mean_ms
        )
        print(
            f"growth: clusters/get costs {extra_ms * 1000 / (high - low):.2f} us more per existing cluster"
            f" per request (over the baseline, N={low} -> N={high})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
