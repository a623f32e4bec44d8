"""The plugin's fixtures in this suite's own session: ``dag_runner``'s result, its errors for a DAG folder
that does not give the DAG asked for, and the workspace marker. The DAG files are written into this
process's DAGs folder (``tests/conftest.py``), where ``dag_runner`` reads them."""

from __future__ import annotations

import itertools
import json
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.testing.dag_runs import DagFolderError

_numbers = itertools.count()


@pytest.fixture
def dag_file() -> Iterator[Callable[[str], str]]:
    """Write a DAG file (``{dag_id}`` in its text is its id, unique per test); return the id."""
    written: list[Path] = []

    def write(text: str) -> str:
        dag_id = f"runner_{os.getpid()}_{next(_numbers)}"
        path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
        path.write_text(textwrap.dedent(text).replace("{dag_id}", dag_id))
        written.append(path)
        return dag_id

    yield write
    for path in written:
        path.unlink(missing_ok=True)


RETRIED_FAILURE = """
    # An airflow DAG: a task that pushes what the run's conf says, one that fails on each of its two tries.
    from datetime import timedelta
    from airflow.sdk import DAG, task

    with DAG("{dag_id}", schedule=None, catchup=False):
        @task
        def push(**context):
            return {"table": context["params"]["table"]}

        @task(retries=1, retry_delay=timedelta(hours=1))
        def flaky(value):
            raise ValueError(f"cannot load {value['table']}")

        @task
        def after(value):
            return value

        after(flaky(push()))
"""


def test_the_result_says_what_each_task_did(dag_runner: Any, dag_file: Callable[[str], str]) -> None:
    dag_id = dag_file(RETRIED_FAILURE)

    result = dag_runner(dag_id, conf={"table": "sales"})

    assert result.dag_id == dag_id
    assert result.state == "failed"
    assert result.task_states == {"push": "success", "flaky": "failed", "after": "upstream_failed"}
    assert result.try_numbers["flaky"] == 2  # retried at once: its hour's delay was not waited for
    assert result.errors == {"flaky": "cannot load sales"}
    assert result.xcom("push") == {"table": "sales"}
    assert result.xcom("flaky") is None


def test_a_dag_file_that_fails_to_import_is_named_with_its_error(
    dag_runner: Any, dag_file: Callable[[str], str]
) -> None:
    dag_id = dag_file(
        """
        # An airflow DAG file with a mistake in it.
        from airflow.sdk import DAG
        with DAG("{dag_id}", schedule=None):
            undefined_operator(task_id="t")
        """
    )

    with pytest.raises(DagFolderError) as raised:
        dag_runner(dag_id)

    assert f"{dag_id}.py" in str(raised.value)
    assert "NameError" in str(raised.value) and "undefined_operator" in str(raised.value)


def test_a_dag_id_no_file_defines_names_the_dags_there(
    dag_runner: Any, dag_file: Callable[[str], str]
) -> None:
    dag_id = dag_file(RETRIED_FAILURE)

    with pytest.raises(DagFolderError, match=f"'no_such_dag' not found in .*DAGs there: .*{dag_id}"):
        dag_runner("no_such_dag")


def test_the_workspace_fast_forwards_and_is_databricks_default(databricks_workspace: Emulator) -> None:
    assert databricks_workspace.fast_forward is True
    connection = json.loads(os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"])
    assert connection["port"] == databricks_workspace.port


@pytest.mark.databricks_workspace(conn_ids=["databricks_prod"], start_seconds=7, fast_forward=False)
def test_the_marker_names_more_connections_and_emulator_options(databricks_workspace: Emulator) -> None:
    assert databricks_workspace.fast_forward is False
    assert databricks_workspace.workspace.lifecycle.start_seconds == 7
    for name in ("AIRFLOW_CONN_DATABRICKS_DEFAULT", "AIRFLOW_CONN_DATABRICKS_PROD"):
        assert json.loads(os.environ[name])["port"] == databricks_workspace.port
