"""Airflow settings every test needs, set before anything imports airflow.

Airflow reads its configuration at import time, so this runs at collection: a throw-away AIRFLOW_HOME
(no test touches the user's), unit-test mode (lets a test call ``operator.execute()`` directly) and no
example DAGs (unit-test mode would otherwise switch them on). Tests that need a connection set
``AIRFLOW_CONN_<ID>`` themselves, pointing at an emulator they start.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="adc-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
_DAGS_FOLDER = os.path.join(_AIRFLOW_HOME, "dags")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # A worker inherits the controller's folder: its own keeps the DAG files tests write apart.
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = _DAGS_FOLDER
else:
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", _DAGS_FOLDER)


# -- running in parallel (pytest-xdist) --------------------------------------------------------------------

#: Folders whose tests share one expensive thing (a deployment started by the folder's conftest, the soak's
#: shards): each folder's tests go to one worker as one unit, so the thing is made once, not once a worker.
#: Listed longest first: they are sent out first, since a long pole sent last sets the suite's end while
#: the other workers sit idle.
SHARED_FOLDERS = ("tests/chaos", "tests/system", "tests/system/celery")


def _unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its shared folder, or else its module (whose module-scoped
    fixtures are then made once)."""
    module = nodeid.split("::", 1)[0]
    folder = module.rpartition("/")[0]
    return folder if folder in SHARED_FOLDERS else module


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    # xdist's own --dist loadgroup marks a test by rewriting its node id, which pytest 9.2 no longer lets a
    # plugin do: the units are told by path instead.
    from xdist.scheduler import LoadScopeScheduling

    # Units go out in the collection's order (long poles first, below), not biggest-count first.
    config.option.loadscopereorder = False

    class BySharedFolder(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return BySharedFolder(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        unit = _unit(item.nodeid)
        return SHARED_FOLDERS.index(unit) if unit in SHARED_FOLDERS else len(SHARED_FOLDERS)

    items.sort(key=rank)  # stable: within a rank, the collection's order


# -- the session's summary -----------------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Lines a test leaves as a ``summary: <topic>`` property (the soak's counts), shown at the end of the
    session, also when the test passed, and also when it ran on an xdist worker (its report carries them
    back; a module-level list would stay in the worker)."""
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in report.user_properties:
                if name.startswith("summary: "):
                    terminalreporter.write_line(f"{name.removeprefix('summary: ')}: {value}")
