"""Fixtures every conformance client needs: an emulated workspace (its ``url`` and ``token``), and raw
HTTP calls to it for setting a scene or reading what a client did.

Two clocks. ``emu`` stops emulated time (``time_scale=0``): nothing moves until a test calls
``emu.advance``, so what a client sees never depends on how fast the machine runs. ``live_emu`` runs in
real time with sub-second transitions, for a client whose own wait polls the wall clock (an SDK's
``*_and_wait``), which a stopped clock would leave waiting for good. A client's own fixtures (its
connection, a second address to serve on) live in its own test module.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import Api

__all__ = ["Api", "api", "emu", "live_emu", "no_databricks_environment", "on_port_80"]


@pytest.fixture
def no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``DATABRICKS_*`` variable of the developer's: the SDK reads them on top of what it is given, so
    one could take a test to their own workspace."""
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A workspace on a stopped clock (``emu.advance(seconds)`` moves it)."""
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, run_seconds=0.3, time_scale=0) as emulator:
        yield emulator


@pytest.fixture
def live_emu() -> Iterator[Emulator]:
    """A workspace in real time: a start takes 0.4 s, a termination 0.2 s, a job run 0.3 s."""
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, run_seconds=0.3) as emulator:
        yield emulator


@pytest.fixture
def api(emu: Emulator) -> Api:
    """Raw HTTP calls to ``emu`` (status and JSON body, nothing interpreted)."""
    return Api(emu)


def on_port_80(**options: Any) -> Emulator:
    """A started workspace on port 80, the scheme's default, of a random loopback address 127.x.y.z: for
    clients that drop or omit a default port (the legacy CLI can reach nothing else). Random, so two test
    sessions on one machine do not collide; skipped, saying why, where port 80 cannot be bound."""
    rng = random.Random()
    for _ in range(20):
        host = f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
        try:
            return Emulator(host=host, port=80, **options).start()
        except PermissionError as err:
            pytest.skip(f"cannot bind port 80 (it needs privileges this user lacks: {err})")
        except OSError as err:
            if err.errno == errno.EADDRNOTAVAIL:
                pytest.skip(f"{host} is not a loopback address on this machine: {err}")
            if err.errno != errno.EADDRINUSE:
                raise
    pytest.fail("20 random loopback addresses all had port 80 in use")
