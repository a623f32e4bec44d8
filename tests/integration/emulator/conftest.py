"""An emulator per test, and a plain HTTP client for it (the wire, as any client sees it).

The emulator's clock is stopped (``time_scale=0``): emulated time moves only when a test advances it, so
what a test sees never depends on how fast the machine runs it. ``Api.wait_for`` advances it in steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_databricks_clusters.emulator import Emulator

SPEC: dict[str, Any] = {
    "cluster_name": "emu-test",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 2,
    "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
}

#: How far ``Api.wait_for`` moves emulated time between two looks.
STEP = 0.05


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A workspace on a stopped clock."""
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, run_seconds=0.3, time_scale=0) as emulator:
        yield emulator


class Api:
    """Raw calls: status and JSON body, nothing interpreted."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emu.token}"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, Any]:
        response = self.session.request(method, self.emu.url + path, json=body, params=params or None)
        return response.status_code, response.json()

    def create(self, **overrides: Any) -> str:
        status, body = self.call("POST", "/api/2.1/clusters/create", {**SPEC, **overrides})
        assert status == 200, body
        return str(body["cluster_id"])

    def get(self, cluster_id: str) -> dict[str, Any]:
        status, body = self.call("GET", "/api/2.1/clusters/get", cluster_id=cluster_id)
        assert status == 200, body
        return dict(body)

    def wait_for(self, cluster_id: str, *states: str, within: float = 60.0) -> dict[str, Any]:
        """Advance emulated time in 0.05 s steps until the cluster is in one of ``states``; fail if it is
        not within ``within`` emulated seconds. No real waiting, whatever the emulator's time scale."""
        waited = 0.0
        while True:
            cluster = self.get(cluster_id)
            if cluster["state"] in states:
                return cluster
            assert waited < within, f"still {cluster['state']} after {within} emulated seconds"
            self.emu.advance(STEP)
            waited += STEP

    def clock(self, **change: Any) -> dict[str, Any]:
        """``GET /emulator/clock``, or with ``change`` (advance_seconds, time_scale) ``POST`` it."""
        status, body = self.call("POST" if change else "GET", "/emulator/clock", change or None)
        assert status == 200, body
        return dict(body)

    def event_types(self, cluster_id: str) -> list[str]:
        return [e["type"] for e in self.emu.events(cluster_id)]


@pytest.fixture
def api(emu: Emulator) -> Api:
    return Api(emu)
