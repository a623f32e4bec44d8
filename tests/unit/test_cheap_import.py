"""A DAG file that imports the operators stays cheap to parse.

Importing them must load no HTTP client, no amazon provider and no emulator code: those load when a task
runs. Checked in a fresh interpreter, against what ``airflow.sdk`` (which every DAG file imports anyway)
already loads.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import airflow.sdk
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""

FORBIDDEN = (
    "requests",
    "httpx",
    "urllib3",
    "airflow.providers.amazon",
    "boto3",
    "botocore",
    "airflow_databricks_clusters.emulator",
    "airflow_databricks_clusters.hooks",
    "fastapi",
    "uvicorn",
)


@pytest.mark.parametrize(
    "module",
    [
        "airflow_databricks_clusters.operators",
        "airflow_databricks_clusters.sensors",
        "airflow_databricks_clusters.triggers",
        "airflow_databricks_clusters",
    ],
)
def test_import_loads_no_http_client_aws_or_emulator(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert module in loaded or module == "airflow_databricks_clusters"
    pulled = [name for name in loaded if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert pulled == []
