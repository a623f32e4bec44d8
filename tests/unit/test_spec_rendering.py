"""The create operator's rendering: where a ``cluster_json`` path is read from, and every secret the rendered
fields hold masked before Airflow stores them (no workspace, no database).

What Airflow stores is read with the task runner's own ``_serialize_rendered_fields``, which it calls right
after ``render_template_fields`` to write ``rendered_task_instance_fields``.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields
from airflow.sdk.log import redact

from airflow_databricks_clusters.cluster_spec.build import load_cluster_json
from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator

IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1"
BASE: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
AUTH = {"username": "AWS", "password": "{{ pw }}"}


def operator(searchpath: Path, **fields: Any) -> DatabricksCreateClusterOperator:
    with DAG("rendering", schedule=None, template_searchpath=[str(searchpath)]):
        return DatabricksCreateClusterOperator(task_id="create", **fields)


def render(op: DatabricksCreateClusterOperator, password: str) -> None:
    op.render_template_fields({"pw": password, "env": "prod"})  # type: ignore[arg-type]


def cluster_file(folder: Path, name: str = "cluster.json", **extra: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps({**BASE, **extra}, indent=2))
    return path


FORMS: dict[str, Any] = {
    "docker_image dict": lambda d: {"docker_image": {"url": IMAGE, "basic_auth": AUTH}},
    "docker_image mistyped keys": lambda d: {
        "docker_image": {"URL": IMAGE, "basic_auth": {"Username": "AWS", "Password": "{{ pw }}"}}
    },
    "docker_image JSON text": lambda d: {"docker_image": json.dumps({"url": IMAGE, "basic_auth": AUTH})},
    "docker_image Python text": lambda d: {"docker_image": str({"url": IMAGE, "basic_auth": AUTH})},
    "cluster_json dict": lambda d: {
        "cluster_json": {**BASE, "docker_image": {"url": IMAGE, "basic_auth": AUTH}}
    },
    "cluster_json JSON text": lambda d: {
        "cluster_json": json.dumps({**BASE, "docker_image": {"url": IMAGE, "basic_auth": AUTH}})
    },
    "cluster_json relative file": lambda d: {
        "cluster_json": cluster_file(d, docker_image={"url": IMAGE, "basic_auth": AUTH}).name
    },
    "cluster_json absolute file": lambda d: {
        "cluster_json": str(cluster_file(d, docker_image={"url": IMAGE, "basic_auth": AUTH}))
    },
    "spark_env_vars": lambda d: {"spark_env_vars": {"DB_PASSWORD": "{{ pw }}"}},
    "spark_conf JSON text": lambda d: {
        "spark_conf": json.dumps({"spark.hadoop.fs.s3a.secret.key": "{{ pw }}"})
    },
    "client_secret in cluster_json": lambda d: {
        "cluster_json": json.dumps({**BASE, "spark_env_vars": {"OAUTH": {"client_secret": "{{ pw }}"}}})
    },
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_no_rendered_field_airflow_stores_holds_the_password(tmp_path: Path, form: str) -> None:
    password = "pw-" + secrets.token_hex(8)  # a fresh one: masked by this test's rendering, no other
    op = operator(tmp_path, **FORMS[form](tmp_path))
    render(op, password)
    stored = json.dumps(_serialize_rendered_fields(op))
    assert password not in stored
    assert "***" in stored
    # Every log line goes through the same masker.
    assert redact(f"pulling with {password}") == "pulling with ***"


def test_an_absolute_cluster_json_path_is_read_and_rendered(tmp_path: Path) -> None:
    path = cluster_file(tmp_path, cluster_name="etl-{{ env }}")
    op = operator(tmp_path / "elsewhere", cluster_json=str(path))
    render(op, "unused-password")
    assert load_cluster_json(op.cluster_json)["cluster_name"] == "etl-prod"


def test_a_relative_cluster_json_path_is_read_from_the_template_search_path(tmp_path: Path) -> None:
    (tmp_path / "clusters").mkdir()
    cluster_file(tmp_path / "clusters", "prod.json", cluster_name="etl-{{ env }}")
    # The path is a template too: it is rendered, then read, then its content rendered.
    op = operator(tmp_path, cluster_json="clusters/{{ env }}.json")
    render(op, "unused-password")
    assert load_cluster_json(op.cluster_json)["cluster_name"] == "etl-prod"


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("/no/such/dir/cluster.json", "No such file or directory"),
        ("missing/cluster.json", "not found"),
        ("{{ env }}.json", "not found"),
    ],
)
def test_a_cluster_json_path_that_cannot_be_read_fails_at_once_naming_the_field(
    tmp_path: Path, given: str, reason: str
) -> None:
    op = operator(tmp_path, cluster_json=given)
    with pytest.raises(AirflowFailException) as caught:
        render(op, "unused-password")
    message = str(caught.value)
    shown = given.replace("{{ env }}", "prod")
    assert message.startswith(f"Invalid Databricks cluster spec: cluster_json: got {shown!r}")
    assert "\n" not in message
    assert "allowed: a dict, JSON text, or the path of a JSON file" in message
    assert reason in message
    if not given.startswith("/"):
        assert str(tmp_path) in message  # where a relative path was looked for


def test_an_absolute_path_to_a_directory_fails_naming_the_field(tmp_path: Path) -> None:
    op = operator(tmp_path, cluster_json=str(tmp_path))
    with pytest.raises(AirflowFailException, match=r"cluster_json: got .*Is a directory"):
        render(op, "unused-password")


def test_cluster_json_given_as_none_by_a_template_is_not_given(tmp_path: Path) -> None:
    op = operator(tmp_path, cluster_json="{{ None }}", **BASE)
    render(op, "unused-password")
    assert op.cluster_json == "None"  # read as "no base spec" by the spec builder


def test_other_fields_ending_in_json_are_values_not_files(tmp_path: Path) -> None:
    op = operator(tmp_path, spark_conf={"spark.driver.extraJavaOptions": "-Dconf=/dbfs/conf/app.json"})
    render(op, "unused-password")
    assert op.spark_conf == {"spark.driver.extraJavaOptions": "-Dconf=/dbfs/conf/app.json"}


class Recorder:
    """A task's logger that keeps what it is told at ERROR."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, message: str, *args: Any) -> None:
        self.errors.append(message % args)

    def __getattr__(self, level: str) -> Any:
        return lambda *_, **__: None


def test_a_bad_spec_fails_with_one_line_naming_every_field_logged_at_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = operator(tmp_path, **{**BASE, "autoscale": "3,3", "spot_bid_price_percent": "lots"})
    log = Recorder()
    monkeypatch.setattr(DatabricksCreateClusterOperator, "log", property(lambda self: log))
    context: Any = {"ti": type("TI", (), {"map_index": -1})(), "run_id": "manual__1"}
    render(op, "unused-password")
    with pytest.raises(AirflowFailException) as caught:
        op.build_spec(context)
    line = (
        "Invalid Databricks cluster spec (3 problems): "
        "[1] autoscale.max_workers: got '3'; allowed: greater than min_workers (3) "
        "[2] aws_attributes.spot_bid_price_percent: got 'lots'; allowed: an integer from 1 to 10000 "
        "[3] num_workers: got 1; allowed: either num_workers or autoscale, not both"
    )
    assert str(caught.value) == line
    assert log.errors == [line]
    # Not chained to the SpecError: Airflow's traceback would repeat the problems in another form.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_an_unreadable_cluster_json_is_logged_at_error_in_the_same_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = operator(tmp_path, cluster_json="missing/cluster.json")
    log = Recorder()
    monkeypatch.setattr(DatabricksCreateClusterOperator, "log", property(lambda self: log))
    with pytest.raises(AirflowFailException) as caught:
        render(op, "unused-password")
    assert log.errors == [str(caught.value)]
