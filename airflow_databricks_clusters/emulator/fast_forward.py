"""Fast-forward: a read of one cluster or run finds it already where it is going.

With it on, before the emulator answers ``clusters/get``, ``clusters/events``, ``jobs/runs/get`` or
``jobs/runs/get-output``, it moves its clock forward to the moment the thing read leaves its passing
state, again and again until it rests: a cluster PENDING, RESTARTING, RESIZING or TERMINATING is seen
RUNNING or TERMINATED (a failed start ends there too, reason and all), a run is seen ended. So a client
that polls (the plugin's operators, the official provider's ``polling_period_seconds``, databricks-sdk's
waits) gets its answer at the first read and never sleeps, whatever its polling interval: a DAG test runs
in the time its tasks take to start, not in the workspace's minutes.

Time moves for the whole workspace, as if the client had waited that long: every other cluster's
transitions due by then happen too. A cluster that rests is never moved past (an idle RUNNING cluster is
not fast-forwarded into its autotermination), nor one that waits on nothing planned (``stuck_pending``
without ``seconds``). A ``libraries/cluster-status`` read moves it until the cluster rests and then until
its libraries' installs do (``libraries.py``); a run waiting on its task's libraries moves through them
too. Lists (``clusters/list``, ``jobs/runs/list``, ``libraries/all-cluster-statuses``) are answered as
they are.
"""

from __future__ import annotations

from collections.abc import Callable

from airflow_databricks_clusters.emulator.clock import EmulatedClock

#: The most steps one read moves through: a start with init scripts and scenario events takes a handful;
#: the bound only keeps a planning mistake from holding the server.
MAX_STEPS = 1000
#: Past the due moment by this much, so float rounding never leaves the clock an ulp short of it.
_PAST = 1e-6


def settle(clock: EmulatedClock, settles_at: Callable[[], float | None]) -> None:
    """Advance ``clock`` to each moment ``settles_at`` names until it names none (the thing rests)."""
    for _ in range(MAX_STEPS):
        due = settles_at()
        if due is None:
            return
        clock.advance(max(0.0, due - clock.now()) + _PAST)
