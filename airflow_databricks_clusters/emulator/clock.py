"""The emulator's clock: emulated time that runs at a chosen pace and that a test can move forward.

``now()`` is a start instant, plus the real (monotonic) time elapsed since, times ``time_scale``, plus
every ``advance(seconds)``. ``time_scale`` 1.0 is real time, 0 a frozen clock that only ``advance`` moves
(a test then decides exactly when each transition happens), 20 runs emulated time twenty times faster.
The clock never goes backwards: ``advance`` refuses negative seconds, and changing the scale keeps the
reading where it is.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any


class EmulatedClock:
    """Emulated epoch seconds; thread-safe.

    :param time_scale: emulated seconds per real second (0 stops the clock, 1 is real time).
    :param start: the reading at construction (epoch seconds); default the wall time.
    :param monotonic: the real elapsed-time source (a test may pass its own).
    :param wall: the wall clock, read for ``start`` and the state file's reading.
    """

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._scale = _checked_scale(time_scale)
        # The reading is _base + (monotonic() - _anchor) * _scale; a change of scale moves the anchor.
        self._base = wall() if start is None else _checked_instant(start)
        self._anchor = monotonic()
        self._last = self._base

    def now(self) -> float:
        """Emulated time, epoch seconds."""
        with self._lock:
            return self._read()

    @property
    def time_scale(self) -> float:
        """Emulated seconds per real second; settable at any time (the reading does not jump)."""
        with self._lock:
            return self._scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        scale = _checked_scale(value)
        with self._lock:
            self._rebase()
            self._scale = scale

    def advance(self, seconds: float) -> float:
        """Move emulated time forward by ``seconds`` (0 or more); returns the new reading."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ValueError(f"advance takes a finite number of seconds, got {seconds!r}")
        if seconds < 0:
            raise ValueError(f"time only moves forward: advance takes seconds from 0, got {seconds!r}")
        with self._lock:
            self._base += float(seconds)
            return self._read()

    # -- the state file ------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, float]:
        """The reading to save with the workspace: emulated now, the wall time then, and the scale."""
        with self._lock:
            return {"now": self._read(), "wall": self._wall(), "time_scale": self._scale}

    @classmethod
    def resumed(
        cls,
        saved: Mapping[str, Any],
        *,
        time_scale: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> EmulatedClock:
        """A clock that carries on from a saved reading as if it had kept running, at its saved scale,
        while the emulator was stopped: a frozen clock resumes exactly where it stopped, a real-time one
        at the wall time. Never before the saved reading, so no saved record lies in the future.
        """
        stopped = max(0.0, wall() - float(saved["wall"]))
        start = float(saved["now"]) + stopped * _checked_scale(float(saved["time_scale"]))
        return cls(time_scale=time_scale, start=start, monotonic=monotonic, wall=wall)

    # -- internals (the lock held) -------------------------------------------------------------------------

    def _read(self) -> float:
        reading = self._base + (self._monotonic() - self._anchor) * self._scale
        # Float rounding across a change of scale could step back by an ulp; a clock must not.
        self._last = max(self._last, reading)
        return self._last

    def _rebase(self) -> None:
        anchor = self._monotonic()
        self._base += (anchor - self._anchor) * self._scale
        self._anchor = anchor


def _checked_scale(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"time_scale must be a finite number from 0 (0 stops the clock, 1 is real time), got {value!r}"
        )
    return float(value)


def _checked_instant(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"start must be a finite epoch time in seconds, got {value!r}")
    return float(value)
