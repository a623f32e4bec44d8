"""The benchmark scripts still run: each one's ``--quick`` mode exits 0 and prints its ratio lines.

Nothing here looks at the figures (the project keeps speed and memory targets in ``benchmarks/``, never
in timed tests); this only keeps the scripts from rotting as the code they measure changes. A script
that checks what it ran exits non-zero when the check fails (``capacity_soak.py``: a leaked or duplicated
cluster, or a fallback that did not reach RUNNING at once), which fails it here too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RATIO_LINE = re.compile(r"^ratio .+ = \d+\.\d+x", re.MULTILINE)


@pytest.mark.parametrize(
    "script",
    [
        "capacity_soak.py",
        "dag_parse_cost.py",
        "dag_test_speed.py",
        "emulator_throughput.py",
        "fleet_scale.py",
        "trigger_fleet.py",
        "worker_seconds.py",
    ],
)
def test_quick_run_exits_0_and_prints_ratios(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCHMARKS.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert RATIO_LINE.search(proc.stdout), proc.stdout
