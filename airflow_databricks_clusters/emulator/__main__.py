"""``python -m airflow_databricks_clusters.emulator``: the emulator command."""

from __future__ import annotations

import sys

from airflow_databricks_clusters.emulator.cli import main

sys.exit(main(["emulator", *sys.argv[1:]]))
