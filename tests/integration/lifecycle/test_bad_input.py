"""Bad input through the create operator, against the emulator: the task's own input fails the task before
any API call; a malformed answer of each endpoint the operator calls fails it naming the endpoint (or is
read past, naming it, where the operator can do without it), and no cluster is left running either way.

The operator runs as a task does — fields rendered, then ``execute`` — called directly (no DAG run per
case). ``tests/unit/cluster_spec/test_bad_input.py`` holds the hostile specs; every one of them that the
operator takes as parameters is run here too. ``test_create_under_faults.py`` holds the faults issue 9
reproduced (one unreadable create answer, three unreadable states, an unreadable lookup after a lost create).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)
from tests.unit.cluster_spec.test_bad_input import BASE, ROWS

LIVE = {"PENDING", "RUNNING", "RESTARTING", "RESIZING"}
PARAMETERS = {"cluster_json", "single_node", *DatabricksCreateClusterOperator.template_fields}


class TaskInstance:
    map_index = -1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context() -> Any:
    return {"ti": TaskInstance(), "run_id": "manual__bad_input"}


def create_task(**fields: Any) -> DatabricksCreateClusterOperator:
    with DAG("bad_input", schedule=None):
        return DatabricksCreateClusterOperator(
            task_id="create_cluster", deferrable=False, polling_interval=0.2, timeout=120, **fields
        )


def run(operator: Any) -> Any:
    """What the task runner does with a task: render its fields, then execute it."""
    task_context = context()
    operator.render_template_fields(task_context)
    return operator.execute(task_context)


def live_clusters(emulator: Emulator) -> list[str]:
    return [cid for cid, cluster in emulator.clusters.items() if cluster["state"] in LIVE]


def paths(emulator: Emulator) -> list[str]:
    return [str(request["path"]) for request in emulator.request_log]


@pytest.fixture(scope="module")
def workspace() -> Iterator[Emulator]:
    """One workspace for every hostile spec: none of them may send it anything."""
    with pytest.MonkeyPatch.context() as patch, Emulator(start_seconds=1.0, terminate_seconds=0.3) as emu:
        patch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        yield emu


OPERATOR_ROWS = [row for row in ROWS if set(row.values[0]) <= PARAMETERS]


@pytest.mark.parametrize(("fields", "field", "allowed"), OPERATOR_ROWS)
def test_a_hostile_spec_fails_the_task_at_once_before_any_call(
    workspace: Emulator, fields: dict[str, Any], field: str, allowed: str
) -> None:
    sent, made = len(workspace.request_log), set(workspace.clusters)
    operator = create_task(**{**BASE, **fields})
    with pytest.raises(AirflowFailException) as caught:  # no retry: a retry reads the same input
        run(operator)
    assert f" {field}: got " in str(caught.value) and "\n" not in str(caught.value)  # one line
    assert "p4ssw0rd" not in str(caught.value)
    assert workspace.request_log[sent:] == []
    assert set(workspace.clusters) == made


#: The typos of issue 21, as the user's DAG wrote them: each was sent as it was, and two created a cluster.
TYPOS = [
    pytest.param({"aws_attributes": {"availabilty": "SPOT"}}, "aws_attributes.availabilty", "availability",
                 id="aws_attributes"),
    pytest.param({"cluster_json": {"autotermination_minute": 30, "spark_env_var": {"ENV": "prod"}}},
                 "cluster_json.autotermination_minute", "autotermination_minutes", id="cluster_json"),
    pytest.param({"num_workers": None, "cluster_json": {"num_worker": 2}}, "cluster_json.num_worker",
                 "num_workers", id="cluster_json-required"),
    pytest.param({"init_scripts": [{"s3": {"destnation": "s3://b/init.sh"}}]},
                 "init_scripts[0].s3.destnation", "destination", id="init_scripts"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "path", "meant"), TYPOS)
def test_a_typo_fails_the_task_before_any_call_naming_its_path_and_the_field_meant(
    workspace: Emulator, fields: dict[str, Any], path: str, meant: str
) -> None:
    sent = len(workspace.request_log)
    with pytest.raises(AirflowFailException) as caught:  # no retry: a retry reads the same typo
        run(create_task(**{**BASE, **fields}))
    assert f" {path}: got " in str(caught.value), str(caught.value)
    assert f"did you mean {meant!r}?" in str(caught.value)
    assert workspace.request_log[sent:] == []  # not even the lookup for an earlier try's cluster


def test_a_field_newer_than_the_plugin_is_sent_on_purpose_and_the_workspace_has_its_say(
    emulator: Emulator,
) -> None:
    # A field no workspace knows: the workspace refuses it, as it would refuse a field the plugin does not
    # know and a real workspace does not have yet. What the user opted into: its answer, not the plugin's.
    operator = create_task(**BASE, extra_api_fields={"brand_new_field": True})
    with pytest.raises(Exception) as caught:
        run(operator)
    assert not isinstance(caught.value, AirflowFailException)  # the plugin let it through
    assert "MALFORMED_REQUEST: Could not parse request object: Unknown field brand_new_field" in str(
        caught.value
    )
    assert paths(emulator).count("/api/2.1/clusters/create") == 1
    assert live_clusters(emulator) == []


def test_the_operator_takes_the_whole_hostile_matrix() -> None:
    # Only the builder's own unknown-field rows cannot be operator parameters (Airflow refuses them).
    left_out = [row.id for row in ROWS if row not in OPERATOR_ROWS]
    assert left_out == ["unknown-field", "unknown-secret"]


def finish(emulator: Emulator, cluster_id: str) -> dict[str, Any] | None:
    """The teardown a DAG runs after a create that succeeded."""
    with DAG("bad_input", schedule=None):
        terminate = DatabricksTerminateClusterOperator(
            task_id="terminate_cluster", cluster_id=cluster_id, deferrable=False, polling_interval=0.2
        )
    report: dict[str, Any] | None = terminate.execute(context())
    return report


#: A malformed answer of each endpoint the create operator calls, in each way one is malformed (an HTML
#: page from a proxy, a truncated body, JSON of the wrong shape), answered every time it is called.
HTML = "<html><body>upstream hiccup</body></html>"
MALFORMED: dict[str, list[str]] = {
    "clusters/create": [HTML, '{"cluster_id": "0123-4', '{"cluster_id": 3}', "[]"],
    "clusters/get": [
        HTML,
        '{"cluster_id": "x", "sta',
        '{"cluster_id": "x"}',
        '{"cluster_id": "x", "state": 3}',
    ],
    "clusters/list": [
        HTML,
        '{"clusters": [{"clus',
        "{}",
        '{"clusters": "none"}',
        '{"clusters": [{"state": "RUNNING"}]}',
    ],
    "clusters/events": [HTML, '{"events": [', '{"events": "none"}', '{"events": [1]}'],
}
CASES = [
    pytest.param(path, body, id=f"{path}-{index}")
    for path, bodies in MALFORMED.items()
    for index, body in enumerate(bodies)
]


@pytest.mark.parametrize(("path", "body"), CASES)
def test_a_malformed_answer_names_its_endpoint_and_leaves_nothing_running(
    emulator: Emulator, caplog: pytest.LogCaptureFixture, path: str, body: str
) -> None:
    emulator.add_fault("malformed", path=path, body=body)
    operator = create_task(**BASE)
    try:
        cluster_id = run(operator)
    except Exception as err:  # the task fails: with a message naming the endpoint
        failure: Exception | None = err
        cluster_id = None
        assert path in str(err), str(err)
    else:
        failure = None
    creates = paths(emulator).count("/api/2.1/clusters/create")
    if path == "clusters/list":
        # The lookup for an earlier try's cluster comes first: it fails, and nothing is created.
        assert failure is not None and creates == 0
    elif path == "clusters/get":
        # The wait cannot read the state: the task fails and terminates what it made.
        assert failure is not None and creates == 1
        assert "could not read its state" in str(failure)
    elif path == "clusters/create":
        # The cluster was made, its answer unreadable. Sent again with the same idempotency token, the
        # create makes nothing more; its answer unreadable too, the tags find the one cluster.
        assert failure is None and creates == 2, failure
        assert list(emulator.clusters) == [cluster_id]
    else:
        # Events only feed the summary and the report: read past, with a warning naming the endpoint.
        assert failure is None and creates == 1, failure
        assert f"could not read its events: POST /api/2.1/{path}: HTTP 200: answered" in caplog.text
    if cluster_id is not None:
        finish(emulator, cluster_id)
    emulator.clear_faults()
    assert live_clusters(emulator) == [], json.dumps(emulator.clusters, default=str)[:500]
