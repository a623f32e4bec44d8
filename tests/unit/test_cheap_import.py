"""A DAG file that imports the operators stays cheap to parse.

Importing them must load no HTTP client, no amazon provider and no emulator code, and of this package only
the few modules a DAG file needs to build its tasks: the hook, the pre-flight checks and their results,
the spec builder, the wait engine and the state tables load when a task runs. Checked in a fresh
interpreter, against what ``airflow.sdk`` (which every DAG file imports anyway) already loads.
``benchmarks/dag_parse_cost.py`` measures what this saves a DAG processor.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PACKAGE = "airflow_databricks_clusters"

PROBE = """
import json, sys
import airflow.sdk
before = set(sys.modules)
{code}
print(json.dumps(sorted(set(sys.modules) - before)))
"""

FORBIDDEN = (
    "requests",
    "httpx",
    "urllib3",
    "airflow.providers.amazon",
    "boto3",
    "botocore",
    f"{PACKAGE}.emulator",
    f"{PACKAGE}.hooks",
    "fastapi",
    "uvicorn",
)

#: Every module of this package (but the package itself, which ``airflow.sdk`` may have loaded to read
#: its provider info) that importing each module loads at DAG parse time; anything else of the package it
#: loaded would be a run-time cost paid by every parse.
PARSE_TIME = {
    f"{PACKAGE}.operators": {
        f"{PACKAGE}.operators",
        f"{PACKAGE}.operator_base",
        f"{PACKAGE}.spec_rendering",
        f"{PACKAGE}.links",
        f"{PACKAGE}.cluster_spec",
        f"{PACKAGE}.cluster_spec.fields",
    },
    f"{PACKAGE}.sensors": {f"{PACKAGE}.sensors", f"{PACKAGE}.links"},
    PACKAGE: set(),
}

#: Tasks as a DAG file builds them, with the defaults (no pre-flight check skipped).
DAG_FILE = """
from airflow.sdk import DAG

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)
from airflow_databricks_clusters.sensors import DatabricksClusterSensor

with DAG("cheap", schedule=None):
    create = DatabricksCreateClusterOperator(
        task_id="create", spark_version="15.4.x-scala2.12", node_type_id="{{ params.node }}", num_workers=1
    )
    sense = DatabricksClusterSensor(task_id="sense", cluster_id=create.output)
    sense >> DatabricksTerminateClusterOperator(task_id="terminate", cluster_id=create.output)
"""


def loaded_by(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = json.loads(out.strip().splitlines()[-1])
    return loaded


def ours(loaded: list[str]) -> set[str]:
    return {name for name in loaded if name.startswith(PACKAGE + ".")}


@pytest.mark.parametrize(
    "module",
    [f"{PACKAGE}.operators", f"{PACKAGE}.sensors", f"{PACKAGE}.triggers", PACKAGE],
)
def test_import_loads_no_http_client_aws_or_emulator(module: str) -> None:
    loaded = loaded_by(f"import {module}")
    assert module in loaded or module == PACKAGE
    pulled = [name for name in loaded if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert pulled == []


@pytest.mark.parametrize("module", list(PARSE_TIME))
def test_import_loads_only_the_parse_time_modules_of_the_package(module: str) -> None:
    assert ours(loaded_by(f"import {module}")) == PARSE_TIME[module]


def test_building_tasks_loads_nothing_more_of_the_package() -> None:
    expected = PARSE_TIME[f"{PACKAGE}.operators"] | PARSE_TIME[f"{PACKAGE}.sensors"]
    assert ours(loaded_by(DAG_FILE)) == expected
