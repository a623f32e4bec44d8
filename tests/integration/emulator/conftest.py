"""An emulator per test, and a plain HTTP client for it (the wire, as any client sees it)."""

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


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, run_seconds=0.3) as emulator:
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

    def wait_for(self, cluster_id: str, *states: str, timeout: float = 10) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + timeout
        while True:
            cluster = self.get(cluster_id)
            if cluster["state"] in states:
                return cluster
            assert time.monotonic() < deadline, cluster["state"]
            time.sleep(0.05)

    def event_types(self, cluster_id: str) -> list[str]:
        return [e["type"] for e in self.emu.events(cluster_id)]


@pytest.fixture
def api(emu: Emulator) -> Api:
    return Api(emu)
