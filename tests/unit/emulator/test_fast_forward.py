"""fast_forward.settle: the clock moves to each moment the thing read names, until it names none."""

from __future__ import annotations

from airflow_databricks_clusters.emulator.clock import EmulatedClock
from airflow_databricks_clusters.emulator.fast_forward import MAX_STEPS, settle
from airflow_databricks_clusters.emulator.workspace import PASSING_STATES


def stopped_clock() -> EmulatedClock:
    return EmulatedClock(time_scale=0, start=1000.0)


def test_the_clock_moves_to_each_due_moment_in_turn_and_stops_when_nothing_is_due() -> None:
    clock = stopped_clock()
    dues = [1002.0, 1002.5, 1010.0]
    seen: list[float] = []

    def settles_at() -> float | None:
        seen.append(clock.now())
        while dues and dues[0] <= clock.now():
            dues.pop(0)
        return dues[0] if dues else None

    settle(clock, settles_at)

    assert 1010.0 <= clock.now() < 1010.001
    assert len(seen) == 4  # once before each move, once to find nothing left


def test_a_moment_already_past_does_not_move_the_clock_back() -> None:
    clock = stopped_clock()
    calls = iter([900.0, None])

    settle(clock, lambda: next(calls))

    assert 1000.0 <= clock.now() < 1000.001


def test_a_thing_that_never_rests_holds_the_reader_only_so_many_steps() -> None:
    clock = stopped_clock()
    calls = 0

    def always_one_more_second() -> float:
        nonlocal calls
        calls += 1
        return clock.now() + 1

    settle(clock, always_one_more_second)

    assert calls == MAX_STEPS


def test_the_states_passed_through_are_those_between_two_resting_ones() -> None:
    assert frozenset({"PENDING", "RESTARTING", "RESIZING", "TERMINATING"}) == PASSING_STATES
