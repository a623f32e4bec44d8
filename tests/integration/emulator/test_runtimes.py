"""The runtimes the emulated workspace offers, over HTTP: supported ones only, and a retired one (the source
article's 7.0) refused at create and edit with the workspace's error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.emulator.conftest import Api

SEED = Path(__file__).resolve().parents[3] / "dags" / "clusters" / "dataengineeringe2e.json"
ACCOUNT = "123456789012"
#: The oldest runtime a workspace supports on 2026-11-24 (14.3 LTS, end of support 2027-02-01).
OLDEST_SUPPORTED = (14, 3)


def seed_file_filled() -> dict[str, Any]:
    """The source article's file with its account placeholders filled, the rest (its `"num_workers": null`
    too) as `databricks clusters create --json-file` sends it."""
    return dict(json.loads(SEED.read_text().replace("<AWS_Account_ID>", ACCOUNT)))


def refusal(status: int, body: Any, runtime: str) -> None:
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["message"] == f"Invalid spark version {runtime}."


def test_only_supported_runtimes_are_offered(api: Api) -> None:
    status, body = api.call("GET", "/api/2.1/clusters/spark-versions")
    assert status == 200, body
    keys = [version["key"] for version in body["versions"]]
    assert "7.0.x-scala2.12" not in keys and "13.3.x-scala2.12" not in keys
    for version in body["versions"]:
        # Every key is "<major>[.<minor>].x-...-scala<x.y>", its name the runtime and the Spark it includes.
        found = re.match(r"^(\d+)\.(?:(\d+)\.)?x-[a-z0-9-]*scala(\d+\.\d+)$", version["key"])
        assert found, version
        assert (int(found[1]), int(found[2] or 0)) >= OLDEST_SUPPORTED, version
        assert re.search(rf"\(includes Apache Spark \d+\.\d+\.\d+, .*Scala {found[3]}\)$", version["name"])
    # The runtimes this project's DAGs and tests use are among them.
    assert {"15.4.x-scala2.12", "17.3.x-scala2.13"} <= set(keys)


def test_the_source_articles_file_as_it_is_is_refused_and_creates_nothing(api: Api) -> None:
    status, body = api.call("POST", "/api/2.1/clusters/create", seed_file_filled())
    refusal(status, body, "7.0.x-scala2.12")
    assert api.emu.clusters == {}


def test_the_source_articles_file_with_a_supported_runtime_runs(api: Api) -> None:
    status, body = api.call(
        "POST", "/api/2.1/clusters/create", {**seed_file_filled(), "spark_version": "17.3.x-scala2.13"}
    )
    assert status == 200, body
    cluster = api.wait_for(body["cluster_id"], "RUNNING")
    assert cluster["spark_version"] == "17.3.x-scala2.13"
    assert cluster["node_type_id"] == "r4.xlarge"
    assert cluster["spark_conf"]["spark.databricks.cluster.profile"] == "serverless"


@pytest.mark.parametrize("state", ["RUNNING", "TERMINATED"])
def test_an_edit_to_a_retired_runtime_is_refused_and_changes_nothing(api: Api, state: str) -> None:
    cluster_id = api.create()
    api.wait_for(cluster_id, "RUNNING")
    if state == "TERMINATED":
        api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
        api.wait_for(cluster_id, "TERMINATED")
    before = api.get(cluster_id)
    edit = {
        "cluster_id": cluster_id,
        "spark_version": "7.0.x-scala2.12",
        "node_type_id": before["node_type_id"],
        "num_workers": before["num_workers"],
    }
    status, body = api.call("POST", "/api/2.1/clusters/edit", edit)
    refusal(status, body, "7.0.x-scala2.12")
    after = api.get(cluster_id)
    assert (after["state"], after["spark_version"]) == (state, before["spark_version"])
