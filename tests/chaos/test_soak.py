"""The chaos soak inside ``make test``: 300 DAG runs under seeded faults, on both cores.

Six shards run side by side, each in its own process with its own emulator and metadata database (a copy of
one migrated here): more processes than cores, so the soak keeps its share of a machine that other tests, or
other work, keep busy. The seed is fixed so that the suite is repeatable; ``CHAOS_SEED=<n>`` soaks another
one (``random`` draws one and prints it). A failing run reproduces alone with ``python -m tests.chaos.soak
--seed <n> --only <run>``.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.soak import migrate_database

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

RUNS = 300
SHARDS = 6
DEFAULT_SEED = 20261124
SUMMARY = re.compile(r"^runs=(\d+) faults=(\d+) leaked=(\d+) duplicated=(\d+) wrong=(\d+) seed=(\d+)$")
REPO = Path(__file__).resolve().parents[2]


def chosen_seed() -> int:
    given = os.environ.get("CHAOS_SEED", "")
    if given == "random":
        return random.SystemRandom().randrange(10**9)
    return int(given) if given else DEFAULT_SEED


def test_soak_leaks_nothing_duplicates_nothing_and_names_every_cause(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    seed = chosen_seed()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    logs = [tmp_path / f"shard-{index}.log" for index in range(SHARDS)]
    shards = []
    # One migrated metadata database, copied by every shard: a migration costs each shard seconds of CPU.
    database = tmp_path / "airflow.db"
    migrate_database({**env, "AIRFLOW_HOME": str(tmp_path)})
    command = [sys.executable, "-m", "tests.chaos.soak", "--seed", str(seed), "--runs", str(RUNS)]
    command += ["--database", str(database)]
    for index, log in enumerate(logs):
        with log.open("wb") as out:
            shards.append(
                subprocess.Popen(
                    [*command, "--shard", f"{index}/{SHARDS}"],
                    cwd=REPO,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    for shard in shards:
        shard.wait(timeout=1800)
    texts = [log.read_text(errors="replace") for log in logs]
    failed_runs = [line for text in texts for line in text.splitlines() if ": FAIL " in line]
    totals = [0, 0, 0, 0, 0]
    for text, shard in zip(texts, shards, strict=True):
        lines = text.strip().splitlines()
        match = SUMMARY.match(lines[-1]) if lines else None
        assert match, f"a shard ended without its summary (exit {shard.returncode}):\n{text[-4000:]}"
        totals = [a + int(b) for a, b in zip(totals, match.groups()[:5], strict=True)]
    runs, faults, leaked, duplicated, wrong = totals
    counts = f"runs={runs} faults={faults} leaked={leaked} duplicated={duplicated} wrong={wrong}"
    # Shown in the session's summary by tests/conftest.py, also when the soak ran on an xdist worker.
    record_property("summary: chaos soak", f"{counts} seed={seed}")
    numbers = [line.split(":")[0].removeprefix("run ") for line in failed_runs]
    reproduce = [f"python -m tests.chaos.soak --seed {seed} --only {number}" for number in numbers]
    assert runs == RUNS
    assert (leaked, duplicated, wrong) == (0, 0, 0), "\n".join([*failed_runs, "reproduce with:", *reproduce])
