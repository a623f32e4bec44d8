"""Airflow settings every test needs, set before anything imports airflow.

Airflow reads its configuration at import time, so this runs at collection: a throw-away AIRFLOW_HOME
(no test touches the user's), unit-test mode (lets a test call ``operator.execute()`` directly) and no
example DAGs (unit-test mode would otherwise switch them on). Tests that need a connection set
``AIRFLOW_CONN_<ID>`` themselves, pointing at an emulator they start.
"""

from __future__ import annotations

import os
import tempfile

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="adc-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(_AIRFLOW_HOME, "dags"))
