"""What the built wheel holds beyond the modules: the PEP 561 marker that makes the type hints count.

Read from ``pyproject.toml`` rather than from a built wheel: a build needs setuptools >= 68 (the
``build-system`` floor), which an isolated build downloads, and this suite does not reach the network.
"""

from __future__ import annotations

from pathlib import Path

from setuptools.config.pyprojecttoml import load_file

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_py_typed() -> None:
    # setuptools' own reader of pyproject.toml (tomllib is not in Python 3.10, the lowest declared).
    setuptools = load_file(REPO / "pyproject.toml")["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["airflow_databricks_clusters"]
    assert (REPO / "airflow_databricks_clusters" / "py.typed").is_file()
