"""Transport faults a test switches on: rate limits, server errors, slow answers, dropped connections.

A fault matches requests by method and a path fragment and fires on the Nth matching call, on every call
(``times`` limits how often), or at a ``rate`` (seeded, so a test is repeatable). The request log records
what came in and what went out, never a value the request carried: only their fingerprints
(``sent_values.py``), so that a test can tell where a secret was sent while the log holds none.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("status", "rate_limit", "delay", "drop_before", "drop_after", "malformed")
#: What a ``malformed`` fault answers unless told otherwise: a proxy's error page with a 200.
PROXY_PAGE = "<html><head><title>Bad Gateway</title></head><body>upstream hiccup</body></html>"


@dataclass
class Fault:
    """One fault. ``kind``: status (answer ``status`` with an error body), rate_limit (429 with
    Retry-After), delay (answer after ``delay`` seconds), drop_before (close the connection without
    handling the request), drop_after (handle it, then close without answering), malformed (handle it,
    then answer HTTP ``status`` (default 200) with ``body`` as it is: ``"{}"``, truncated JSON, an HTML
    page).

    ``path`` matches a request path that ends with it (``clusters/list`` is not ``clusters/list-zones``);
    the empty path matches every request."""

    kind: str
    path: str = ""
    method: str | None = None
    nth: int | None = None
    times: int | None = None
    rate: float | None = None
    status: int | None = None  # default: 503 for a status fault, 200 for a malformed one
    retry_after: int = 1
    delay: float = 0.0
    body: str = PROXY_PAGE
    fired: int = 0
    seen: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def answer_status(self) -> int:
        """The HTTP status a status or malformed fault answers with."""
        if self.status is not None:
            return self.status
        return 200 if self.kind == "malformed" else 503

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and path.rstrip("/").endswith(self.path)

    def should_fire(self) -> bool:
        """Count one matching call; say whether the fault fires on it."""
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.nth is not None and self.seen != self.nth:
            return False
        if self.rate is not None and self._random.random() >= self.rate:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "nth": self.nth,
            "times": self.times,
            "rate": self.rate,
            "status": self.answer_status() if self.kind in ("status", "malformed") else self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "body": self.body[:80],
            "fired": self.fired,
        }


REQUEST_LOG_SIZE = 10_000


class Faults:
    """The active faults and the request log of one emulator."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        #: The newest ``REQUEST_LOG_SIZE`` requests: a client calling in a loop must not grow it for good.
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    def add(self, kind: str, *, path: str = "", seed: int = 0, **options: Any) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind: got {kind!r}; allowed: {', '.join(FAULT_KINDS)}")
        fault = Fault(kind=kind, path=path, _random=random.Random(seed), **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def pick(self, method: str, path: str) -> Fault | None:
        """The first fault that fires on this request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and fault.should_fire():
                    return fault
        return None

    def log(
        self,
        method: str,
        path: str,
        status: int | None,
        fault: str | None = None,
        sent: Sequence[str] = (),
    ) -> None:
        """Record one request; ``sent`` is the fingerprints of what it carried."""
        entry = {
            "time": time.time(), "method": method, "path": path, "status": status, "fault": fault,
            "sent": list(sent),
        }  # fmt: skip
        with self._lock:
            self.request_log.append(entry)
