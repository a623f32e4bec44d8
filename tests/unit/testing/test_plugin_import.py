"""The pytest plugin loads in every pytest session of a machine with the package installed, before any
conftest: loading it must import no Airflow (Airflow would read its home before the plugin sets it) and no
emulator."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_plugin_imports_no_airflow_and_no_emulator() -> None:
    code = (
        "import sys\n"
        "import airflow_databricks_clusters.testing.pytest_plugin\n"
        "loaded = [m for m in sys.modules if m == 'airflow' or m.startswith(('airflow.', "
        "'airflow_databricks_clusters.emulator'))]\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
