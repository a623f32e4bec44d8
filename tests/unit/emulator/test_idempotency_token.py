"""Workspace.clusters_create with an ``idempotency_token``, in process on a hand-moved clock."""

from __future__ import annotations

from typing import Any

from airflow_databricks_clusters.emulator.workspace import Workspace

SPEC: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_held_until_its_cluster_is_terminated() -> None:
    clock = Clock()
    ws = Workspace(clock=clock, start_seconds=2.0, terminate_seconds=0.5, seed=1)
    first = ws.clusters_create({**SPEC, "idempotency_token": "t"})["cluster_id"]
    assert ws.clusters_create({**SPEC, "idempotency_token": "t"}) == {"cluster_id": first}
    clock.now += 2
    ws.clusters_delete({"cluster_id": first})
    assert ws.clusters_get({"cluster_id": first})["state"] == "TERMINATING"
    assert ws.clusters_create({**SPEC, "idempotency_token": "t"}) == {"cluster_id": first}
    record = ws.to_json()["clusters"][first]
    assert record["_idempotency_token"] == "t" and "idempotency_token" not in record["spec"]
    clock.now += 0.5
    second = ws.clusters_create({**SPEC, "idempotency_token": "t"})["cluster_id"]
    assert second != first and ws.cluster_count() == 2
    assert "_idempotency_token" not in ws.to_json()["clusters"][first]
    reloaded = Workspace.from_json(ws.to_json(), clock=clock, start_seconds=2.0)
    assert reloaded.clusters_create({**SPEC, "idempotency_token": "t"}) == {"cluster_id": second}
