"""EmulatedClock: real time at a scale, plus what advance() adds; never backwards. No test here waits: the
real-time sources are stand-ins that a test moves by hand."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from airflow_databricks_clusters.emulator.clock import EmulatedClock

EPOCH = 1_800_000_000.0


class RealTime:
    """Stand-ins for ``time.monotonic`` and ``time.time`` that move only when told."""

    def __init__(self) -> None:
        self.mono = 500.0
        self.epoch = EPOCH

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.epoch

    def passes(self, seconds: float) -> None:
        self.mono += seconds
        self.epoch += seconds


@pytest.fixture
def real() -> RealTime:
    return RealTime()


def clock(real: RealTime, **kwargs: Any) -> EmulatedClock:
    return EmulatedClock(monotonic=real.monotonic, wall=real.wall, **kwargs)


def test_it_starts_at_the_wall_time_or_the_given_start(real: RealTime) -> None:
    assert clock(real).now() == EPOCH
    assert clock(real, start=1000.0).now() == 1000.0


def test_scale_1_is_real_time(real: RealTime) -> None:
    c = clock(real)
    real.passes(2.5)
    assert c.now() == EPOCH + 2.5


def test_scale_0_is_frozen_until_advanced(real: RealTime) -> None:
    c = clock(real, time_scale=0)
    real.passes(3600)
    assert c.now() == EPOCH
    assert c.advance(2.0) == EPOCH + 2.0
    real.passes(3600)
    assert c.now() == EPOCH + 2.0


def test_scale_20_runs_twenty_times_faster_and_advance_adds_to_it(real: RealTime) -> None:
    c = clock(real, time_scale=20)
    real.passes(0.1)
    assert c.now() == pytest.approx(EPOCH + 2.0)
    c.advance(10)
    real.passes(0.1)
    assert c.now() == pytest.approx(EPOCH + 14.0)


def test_changing_the_scale_keeps_the_reading(real: RealTime) -> None:
    c = clock(real)
    real.passes(10)
    c.time_scale = 0
    assert c.time_scale == 0.0
    assert c.now() == EPOCH + 10
    real.passes(10)
    assert c.now() == EPOCH + 10
    c.time_scale = 20
    assert c.now() == EPOCH + 10
    real.passes(1)
    assert c.now() == pytest.approx(EPOCH + 30)
    c.time_scale = 1
    real.passes(1)
    assert c.now() == pytest.approx(EPOCH + 31)


def test_readings_never_go_backwards_across_scale_changes(real: RealTime) -> None:
    c = clock(real, time_scale=3)
    readings = []
    for step in range(200):
        real.passes(0.0123)
        c.time_scale = [0, 0.5, 1, 7, 20][step % 5]
        readings.append(c.now())
        c.advance(0.001 * (step % 3))
        readings.append(c.now())
    assert readings == sorted(readings)


@pytest.mark.parametrize("seconds", [-1, -0.001, math.nan, math.inf, True, "5", None])
def test_advance_refuses_anything_but_seconds_from_0(real: RealTime, seconds: Any) -> None:
    c = clock(real, time_scale=0)
    with pytest.raises(ValueError, match="advance takes"):
        c.advance(seconds)
    assert c.now() == EPOCH


def test_advance_says_why_a_negative_value_is_refused(real: RealTime) -> None:
    with pytest.raises(ValueError, match=r"time only moves forward: advance takes seconds from 0, got -5"):
        clock(real).advance(-5)


def test_advance_by_0_is_fine(real: RealTime) -> None:
    assert clock(real, time_scale=0).advance(0) == EPOCH


@pytest.mark.parametrize("scale", [-1, math.nan, math.inf, True, "fast", None])
def test_a_scale_must_be_a_finite_number_from_0(real: RealTime, scale: Any) -> None:
    with pytest.raises(ValueError, match="time_scale must be a finite number from 0"):
        clock(real, time_scale=scale)
    c = clock(real)
    with pytest.raises(ValueError, match="time_scale must be"):
        c.time_scale = scale
    assert c.time_scale == 1.0


def test_a_start_must_be_a_finite_instant(real: RealTime) -> None:
    with pytest.raises(ValueError, match="start must be a finite epoch time"):
        clock(real, start=math.nan)


def test_concurrent_advances_all_count(real: RealTime) -> None:
    c = clock(real, time_scale=0)
    seen: list[list[float]] = []

    def work() -> None:
        mine = []
        for _ in range(500):
            mine.append(c.advance(0.25))
        seen.append(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert c.now() == EPOCH + 8 * 500 * 0.25
    # Each thread saw the clock only move forward, and no two advances returned the same reading.
    assert all(mine == sorted(mine) for mine in seen)
    assert len({reading for mine in seen for reading in mine}) == 8 * 500


def test_a_frozen_clock_resumes_where_it_stopped(real: RealTime) -> None:
    c = clock(real, time_scale=0)
    c.advance(42)
    saved = c.to_json()
    assert saved == {"now": EPOCH + 42, "wall": EPOCH, "time_scale": 0.0}
    real.passes(3600)  # the emulator is down for an hour
    resumed = EmulatedClock.resumed(saved, time_scale=0, monotonic=real.monotonic, wall=real.wall)
    assert resumed.now() == EPOCH + 42


def test_a_running_clock_resumes_as_if_it_had_kept_running(real: RealTime) -> None:
    c = clock(real, time_scale=20)
    c.advance(100)
    saved = c.to_json()
    real.passes(10)
    # Down for 10 s at its saved pace (20x), and from now on at the new one.
    resumed = EmulatedClock.resumed(saved, time_scale=1, monotonic=real.monotonic, wall=real.wall)
    assert resumed.now() == pytest.approx(EPOCH + 100 + 200)
    real.passes(1)
    assert resumed.now() == pytest.approx(EPOCH + 301)


def test_a_resumed_clock_never_starts_before_the_saved_reading(real: RealTime) -> None:
    saved = clock(real).to_json()
    real.epoch -= 7200  # the wall clock was set back while the emulator was down
    resumed = EmulatedClock.resumed(saved, monotonic=real.monotonic, wall=real.wall)
    assert resumed.now() == saved["now"]
