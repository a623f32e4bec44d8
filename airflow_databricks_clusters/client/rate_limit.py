"""One request rate for a whole process, and the pause a 429 imposes on all of it. Pure: no I/O.

``RateLimit`` answers, for each request about to go out, how long it must wait first: at most ``rate``
requests per second on average, bursts of up to ``burst`` at once, and none at all before a time the
workspace asked for with a 429 and its ``Retry-After`` (``hold``). One 429 thus slows every wait of a
triggerer, not only the one that met it, which is what the workspace asked for. The async driver is
``client.transport.RateGate``; the clock is the caller's.
"""

from __future__ import annotations

#: Requests per second one process sends at most. Databricks publishes no Clusters API limit; its Go SDK
#: limits itself to 15 per second, and a shared poller needs a few per thousand waits.
DEFAULT_RATE = 15.0
#: Requests that may go out at once before the rate applies.
DEFAULT_BURST = 15
#: How long a 429 without a usable Retry-After holds the process back.
DEFAULT_HOLD_SECONDS = 1.0
#: The longest one 429 holds the process back, whatever its Retry-After says: the call that met it gives
#: up by then (the retry policy's deadline), and the other waits keep their own deadlines.
MAX_HOLD_SECONDS = 60.0


class RateLimit:
    """A generic cell rate algorithm: each request reserves the next slot, ``1 / rate`` apart."""

    def __init__(self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"RateLimit: rate must be > 0 and burst >= 1, got {rate}, {burst}")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self._theoretical = 0.0
        self._hold_until = 0.0

    def reserve(self, now: float) -> float:
        """Reserve a slot for one request at ``now``; the seconds to wait before sending it."""
        start = max(now, self._hold_until)
        theoretical = max(self._theoretical, start)
        send_at = max(start, theoretical - self.tolerance)
        self._theoretical = theoretical + self.interval
        return send_at - now

    def release(self) -> None:
        """Give back a slot reserved and not used (its request was cancelled, or a 429 came first)."""
        self._theoretical = max(self._hold_until, self._theoretical - self.interval)

    def held_for(self, now: float) -> float:
        """Seconds the last 429 still holds requests back (a request reserved before it waits them out)."""
        return max(0.0, self._hold_until - now)

    def hold(self, now: float, retry_after: float | None) -> None:
        """The workspace answered 429: no request before ``retry_after`` seconds from ``now``."""
        seconds = DEFAULT_HOLD_SECONDS if retry_after is None or retry_after < 0 else retry_after
        self._hold_until = max(self._hold_until, now + min(seconds, MAX_HOLD_SECONDS))
        # The slots reserved before the 429 start again after the pause, a burst at most.
        self._theoretical = max(self._theoretical, self._hold_until)
