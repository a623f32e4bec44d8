"""Airflow finds the plugin through its provider entry point, with its trigger and extra link."""

from __future__ import annotations

import subprocess
import sys


def run_airflow(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, check=True
    ).stdout


def test_providers_list_shows_the_plugin() -> None:
    assert "airflow-databricks-clusters" in run_airflow("providers", "list", "--output", "plain")


def test_trigger_and_extra_link_are_registered() -> None:
    triggers = run_airflow("providers", "triggers", "--output", "plain")
    assert "airflow_databricks_clusters.triggers" in triggers
    links = run_airflow("providers", "links", "--output", "plain")
    assert "airflow_databricks_clusters.links.DatabricksClusterLink" in links


def test_every_registered_operator_module_holds_an_operator() -> None:
    import importlib

    from airflow.sdk import BaseOperator

    from airflow_databricks_clusters import get_provider_info

    modules = [m for entry in get_provider_info()["operators"] for m in entry["python-modules"]]
    assert "airflow_databricks_clusters.sweeper" in modules
    for name in modules:
        module = importlib.import_module(name)
        operators = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseOperator) and value.__module__ == name
        ]
        assert operators, f"{name} defines no operator"
    from airflow_databricks_clusters.sweeper import DatabricksClusterSweeperOperator

    assert DatabricksClusterSweeperOperator.__module__ in modules


def test_the_provider_info_passes_airflows_own_schema() -> None:
    # The providers manager validates every provider's dict against this schema when it loads them.
    import json
    from importlib.resources import files

    import jsonschema

    from airflow_databricks_clusters import get_provider_info

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_option_the_package_reads_is_declared_with_its_default() -> None:
    # Airflow lists, documents and defaults a provider's options from its "config" section.
    import re
    from pathlib import Path

    import airflow_databricks_clusters as package
    from airflow_databricks_clusters import CONFIG_SECTION, get_provider_info

    source = "\n".join(p.read_text() for p in Path(package.__file__).parent.rglob("*.py"))
    read = set(re.findall(r'conf\.get\w*\(\s*CONFIG_SECTION,\s*"(\w+)"', source))
    assert not re.search(r'conf\.get\w*\(\s*"databricks_clusters"', source), "name the section CONFIG_SECTION"
    declared = get_provider_info()["config"][CONFIG_SECTION]["options"]
    assert read == set(declared) == {"conn_ids", "cache_seconds"}
    for option, default in (("cache_seconds", "15"), ("conn_ids", "databricks_default")):
        # The value is the last line (a log line may come before it).
        assert run_airflow("config", "get-value", CONFIG_SECTION, option).splitlines()[-1] == default


def test_the_common_compat_provider_the_hook_imports_from_is_declared_at_the_version_that_has_it() -> None:
    # get_async_connection first exists in apache-airflow-providers-common-compat 1.9.0; Airflow itself
    # asks for >=1.7.4, with which every deferred wait would fail to read its connection.
    from importlib.metadata import requires, version

    from packaging.requirements import Requirement
    from packaging.version import Version

    declared = [Requirement(text) for text in requires("airflow-databricks-clusters") or []]
    (compat,) = [r for r in declared if r.name == "apache-airflow-providers-common-compat" and not r.marker]
    assert min(Version(str(spec.version)) for spec in compat.specifier if spec.operator == ">=") >= Version(
        "1.9.0"
    )
    assert Version(version("apache-airflow-providers-common-compat")) in compat.specifier
    from airflow.providers.common.compat.connection import get_async_connection

    assert callable(get_async_connection)


def test_the_readme_install_line_names_the_extra_that_brings_the_provider_its_example_imports() -> None:
    import re
    from importlib.metadata import requires
    from pathlib import Path

    from packaging.requirements import Requirement

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (extra,) = re.findall(r"pip install 'airflow-databricks-clusters\[(\w+)\]'` installs it too", readme)
    assert "from airflow.providers.databricks.operators.databricks import" in readme
    brought = [
        Requirement(text).name
        for text in requires("airflow-databricks-clusters") or []
        if f'extra == "{extra}"' in text
    ]
    assert brought == ["apache-airflow-providers-databricks"]
