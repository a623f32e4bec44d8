"""The capacity soak in short (``benchmarks/capacity_soak.py`` in full): every shortage pattern, sync and
deferred, run with and without ``capacity_fallback`` against the same shortages.

Each plan is one pattern: nothing short; the primary (spot i3.xlarge in ap-southeast-1a) short for less
than a retry takes, or for hours; then the alternatives short one after another, to every one of them.
With ``capacity_fallback`` a run whose alternatives had capacity must reach RUNNING in its first try, on
the first alternative with capacity, after exactly one edit-and-start per shortage met; no run of either
arm may leak its cluster or make a second one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.capacity_soak import ARMS, NEEDS, Outcome, RunPlan, Shortage, soak

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300), pytest.mark.usefixtures("airflow_db")]

HOURS = 4 * 3600.0
#: Ends after the first start found no capacity and before the retry's start buys its instances.
MINUTES = 240.0


def shortages(*needs: int, primary_until: float = HOURS) -> tuple[Shortage, ...]:
    return tuple(Shortage(need, -600.0, primary_until if need == 0 else HOURS) for need in needs)


#: (shortages, the alternative the with-fallback arm must end on: None for its own spec, "none" for no
#: RUNNING, whether the arm without fallback reaches RUNNING)
PATTERNS: list[tuple[tuple[Shortage, ...], int | str | None, bool]] = [
    ((), None, True),
    (shortages(0, primary_until=MINUTES), 0, True),
    (shortages(0), 0, False),
    (shortages(0, 1), 1, False),
    (shortages(0, 1, 2), 2, False),
    (shortages(0, 2), 0, False),
    (shortages(0, 1, 2, 3), "none", False),
]


def plans() -> list[RunPlan]:
    """Each pattern once, sync and deferred in turn; the longest way to RUNNING in both modes."""
    runs = [(index, index % 2 == 1) for index in range(len(PATTERNS))] + [(4, True)]
    return [
        RunPlan(number, deferrable, PATTERNS[index][0], work_seconds=1800.0)
        for number, (index, deferrable) in enumerate(runs)
    ]


def pattern_of(plan: RunPlan) -> tuple[tuple[Shortage, ...], int | str | None, bool]:
    return next(pattern for pattern in PATTERNS if pattern[0] == plan.shortages)


def test_capacity_fallback_reaches_running_at_once_and_leaks_nothing() -> None:
    assert len(NEEDS) == 4  # the patterns above name each of them
    outcomes = soak(plans(), Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]))
    assert len(outcomes) == len(plans()) * len(ARMS)
    problems = [o.line() for o in outcomes if o.problems()]
    assert not problems, "\n".join(problems)
    wrong = [o.line() for o in outcomes if not as_expected(o)]
    assert not wrong, "\n".join(wrong)


def as_expected(outcome: Outcome) -> bool:
    _, alternative, without_runs = pattern_of(outcome.plan)
    met = len(outcome.plan.shortages)
    if outcome.arm == "without":
        # A retry of the same spec meets the same shortage, unless it was over by then.
        return outcome.reached_running == without_runs and outcome.alternative is None
    if alternative == "none":
        # Every alternative short: both tries go through them all, each start after a shortage.
        return not outcome.reached_running and outcome.create_try == 2 and outcome.capacity_ends == 2 * met
    expected_starts = 1 if alternative is None else int(alternative) + 2
    return (
        outcome.first_try_running
        and outcome.alternative == alternative
        and outcome.starts == expected_starts
        and outcome.edit_starts == outcome.capacity_ends == expected_starts - 1
    )
