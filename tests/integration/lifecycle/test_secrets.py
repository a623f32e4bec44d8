"""No secret from a cluster spec anywhere Airflow keeps things: one DAG run with dag.test() against the
emulator, a docker registry password given in every form a user can give it, each templated from its own
Variable (so no form is masked by another's masking), then the SQLite metadata database (rendered fields,
XComs, triggers, every other table), the captured task logs and the exception texts are searched for each
clear password. The passwords do reach the workspace: the create calls are watched.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)
from tests.integration.lifecycle.pipelines import dag_id_for, states

pytestmark = pytest.mark.usefixtures("airflow_db")

IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1"
BASE: dict[str, Any] = {
    "cluster_name": "secrets",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 1,
}
#: Forms whose create task succeeds (and defers, for some), and forms that are refused before any call.
CREATED = ("dict", "json_text", "json_file", "json_file_absolute", "docker_json_text", "spark_env")
DEFERRED = ("dict", "json_file_absolute")
REFUSED = ("mistyped_key", "missing_file")


def password_template(form: str) -> str:
    return "{{ var.value.pw_" + form + " }}"


def auth(form: str) -> dict[str, str]:
    return {"username": "AWS", "password": password_template(form)}


def with_image(form: str) -> dict[str, Any]:
    return {**BASE, "docker_image": {"url": IMAGE, "basic_auth": auth(form)}}


def forms(json_file: str, absolute_json_file: str) -> dict[str, dict[str, Any]]:
    """The create task's parameters for each form a docker password (or another secret) can come in."""
    mistyped = {
        "URL": IMAGE,
        "basic_auth": {"Username": "AWS", "Password": password_template("mistyped_key")},
    }
    spark_env = password_template("spark_env")
    return {
        "dict": with_image("dict"),
        "json_text": {"cluster_json": json.dumps(with_image("json_text"))},
        "json_file": {"cluster_json": json_file},
        "json_file_absolute": {"cluster_json": absolute_json_file},
        "docker_json_text": {
            **BASE,
            "docker_image": json.dumps(with_image("docker_json_text")["docker_image"]),
        },
        "spark_env": {
            **BASE,
            "spark_env_vars": {"DB_PASSWORD": spark_env},
            "spark_conf": json.dumps({"spark.hadoop.fs.s3a.secret.key": spark_env}),
        },
        "mistyped_key": {**BASE, "docker_image": mistyped},
        "missing_file": {"cluster_json": absolute_json_file.replace(".json", "-missing.json")},
    }


def build(dag_id: str, json_file: str, absolute_json_file: str) -> DAG:
    """The DAG: one create task per form, each with its terminate teardown."""
    with DAG(dag_id, schedule=None, catchup=False) as dag:
        for form, fields in forms(json_file, absolute_json_file).items():
            create = DatabricksCreateClusterOperator(
                task_id=f"create_{form}",
                deferrable=form in DEFERRED,
                polling_interval=0.2,
                retries=1,
                retry_delay=0,
                **fields,
            )
            if form in CREATED:
                teardown = DatabricksTerminateClusterOperator(
                    task_id=f"terminate_{form}", cluster_id=create.output, polling_interval=0.2
                )
                create >> teardown.as_teardown(setups=create)
    return dag


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh password per form, in the Variable ``pw_<form>`` (from the environment, as a secrets
    backend serves it: it is in no table of the metadata database)."""
    found = {form: f"{form}-pw-{secrets.token_hex(6)}" for form in (*CREATED, *REFUSED)}
    for form, password in found.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_PW_{form.upper()}", password)
    return found


@pytest.fixture
def sent_specs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every spec the create calls sent to the workspace."""
    sent: list[dict[str, Any]] = []
    original = DatabricksClustersHook.create_cluster

    def create_cluster(self: DatabricksClustersHook, spec: Any) -> str:
        sent.append(json.loads(json.dumps(spec)))
        return original(self, spec)

    monkeypatch.setattr(DatabricksClustersHook, "create_cluster", create_cluster)
    return sent


def metadata_rows() -> Iterator[tuple[str, str]]:
    """Every row of every table of the metadata database as text, trigger kwargs decrypted."""
    from airflow import settings
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import inspect, select, text

    with settings.engine.connect() as connection:
        for table in inspect(settings.engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                yield table, repr(tuple(row))
    with create_session() as session:
        for trigger in session.scalars(select(Trigger)):
            yield "trigger (kwargs)", repr(trigger.kwargs)


def test_no_password_in_any_form_reaches_a_table_a_log_or_an_error(
    emulator: Emulator,
    passwords: dict[str, str],
    sent_specs: list[dict[str, Any]],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag_id = dag_id_for("secrets")
    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dags.mkdir(parents=True, exist_ok=True)
    # The same cluster JSON a --json-file user has, once beside the DAG and once anywhere on disk.
    relative = dags / f"{dag_id}.json"
    relative.write_text(json.dumps(with_image("json_file"), indent=2))
    absolute = tmp_path / "cluster.json"
    absolute.write_text(json.dumps(with_image("json_file_absolute"), indent=2))
    dag_file = dags / f"{dag_id}.py"
    dag_file.write_text(
        "# An airflow DAG file written by a test (DagBag reads files that mention airflow and dag).\n"
        "from tests.integration.lifecycle.test_secrets import build\n"
        f"dag = build({dag_id!r}, {relative.name!r}, {str(absolute)!r})\n"
    )
    try:
        dag = DagBag(dag_folder=str(dag_file)).get_dag(dag_id)
        assert dag is not None
        dag_run = dag.test()
    finally:
        dag_file.unlink()
        relative.unlink()
    output = capfd.readouterr()
    logs = output.out + output.err

    # The run did what it should: every valid form made its cluster, with the real password, and
    # terminated it; the refused forms failed at once (no retry), before any call, saying why.
    ran = states(dag_run)
    assert {form: ran[f"create_{form}"] for form in CREATED} == dict.fromkeys(CREATED, "success"), ran
    assert {form: ran[f"create_{form}"] for form in REFUSED} == dict.fromkeys(REFUSED, "failed"), ran
    tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
    assert all(tries[f"create_{form}"] == 1 for form in REFUSED), tries
    assert len(sent_specs) == len(CREATED) == len(emulator.clusters)
    sent_passwords = {json.dumps(spec) for spec in sent_specs}
    for form in set(CREATED) - {"spark_env"}:
        assert any(passwords[form] in spec for spec in sent_passwords), form
    assert all(c["state"] in {"TERMINATING", "TERMINATED"} for c in emulator.clusters.values())
    # The mistyped keys are each named by their path; the one that meant a password shows no value.
    assert "docker_image.URL: got " in logs and "docker_image.basic_auth.Password: got '***'" in logs
    assert f"cluster_json: got '{absolute.with_name('cluster-missing.json')}'" in logs

    # Nowhere: not in a table (rendered fields, XComs, triggers, ...), not in a log line or an error.
    rows = list(metadata_rows())
    rendered = [row for table, row in rows if table == "rendered_task_instance_fields" and dag_id in row]
    # Every task's rendering is stored but the missing file's, which failed while rendering.
    assert len(rendered) == 2 * len(CREATED) + len(REFUSED) - 1, rendered
    for form, password in passwords.items():
        assert password not in logs, form
        leaks = [table for table, row in rows if password in row]
        assert leaks == [], (form, leaks)
