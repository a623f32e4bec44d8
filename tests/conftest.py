"""Airflow settings every test needs, set before anything imports airflow.

The package's own pytest plugin (``airflow_databricks_clusters/testing/pytest_plugin.py``, loaded by its
``pytest11`` entry point before this file) has already given the session a throw-away AIRFLOW_HOME with
no example DAGs, no database or secrets backend from the machine's environment: no test touches the
user's. Added here: unit-test mode (lets a test call ``operator.execute()`` directly) and a DAGs folder of
the process's own, where tests write their DAG files (the plugin's default is the repository's ``dags/``).
Tests that need a connection set ``AIRFLOW_CONN_<ID>`` themselves, pointing at an emulator they start.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

if "AIRFLOW_HOME" not in os.environ:
    raise pytest.UsageError(
        "the package's pytest plugin did not run: install the package (pip install -e .) and do not "
        "disable the databricks_clusters plugin"
    )
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# Each process (each xdist worker too) its own: the DAG files one writes stay apart from another's.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = tempfile.mkdtemp(prefix="dags-", dir=os.environ["AIRFLOW_HOME"])


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


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent under -p no:xdist (TEST_WORKERS=0)
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
