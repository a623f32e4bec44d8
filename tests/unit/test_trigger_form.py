"""The example pipeline's trigger form says its real rules, and a value that breaks one is refused in words.

Airflow 3.3's trigger form hands a number Param's ``minimum``/``maximum`` to a number input that clamps an
out-of-range value on blur, without a word; a Param's ``pattern`` reaches a person as its raw regular
expression. So the form's Params carry their rules as text, and ``create_cluster`` refuses a bad value
before any API call, in one line naming the field, the value and what is allowed: the DAG's own limits in
its first task (``check_form``), the Clusters API's rules in ``create_cluster``. Both run as a run runs them
(the form check, then the create task's fields rendered and ``execute``) against an emulator that must
receive nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_databricks_clusters.cluster_spec.validation import TAG_RULE
from airflow_databricks_clusters.emulator import Emulator

DAG_ID = "databricks_spot_cluster_pipeline"
NUMBER_FIELDS = ("min_workers", "max_workers", "spot_bid_price_percent")
#: What a Param's schema may say that the form turns into a silent clamp or shows as raw syntax.
HIDDEN_RULES = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern")
REGEX_SYNTAX = ("^", "$", "[A-Za-z", "{0,127}", "\\w", "(?")


class Recorder:
    """The task's logger, recording what it is told (structlog, which the task logs through, may print
    straight to stdout, where pytest's log capture does not look)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda message, *args, **_: self.lines.append((level, str(message) % args))

    def at(self, level: str) -> list[str]:
        return [line for at, line in self.lines if at == level]


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The DAG file's module (its DAG, its form limits, its form check) and its create task, freshly loaded:
    rendering a task replaces its templates with their values."""
    path = Path(__file__).resolve().parents[2] / "dags" / "databricks_spot_cluster_pipeline.py"
    spec = importlib.util.spec_from_file_location("trigger_form_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    create = module.dag.get_task("create_cluster")
    recorder = Recorder()
    monkeypatch.setattr(type(create), "log", property(lambda self: recorder))
    return SimpleNamespace(dag=module.dag, create=create, module=module, log=recorder)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Emulator]:
    """A workspace no refused form may send anything to."""
    with pytest.MonkeyPatch.context() as patch, Emulator(start_seconds=1.0, terminate_seconds=0.3) as emu:
        patch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", emu.connection_env())
        yield emu


def form(pipeline: Any, **given: Any) -> dict[str, Any]:
    """The params a run gets: the form's defaults, with what the person typed over them."""
    return {**{name: pipeline.dag.params[name] for name in pipeline.dag.params}, **given}


def run_create(pipeline: Any, params: dict[str, Any]) -> Any:
    """What a run does: check the form (``check_form``), then render create_cluster's fields and
    ``execute`` it."""
    create = pipeline.create
    when = datetime(2026, 11, 24, tzinfo=timezone.utc)
    context: Any = {
        "params": params,
        "dag_run": SimpleNamespace(logical_date=when, run_after=when),
        "ti": SimpleNamespace(map_index=-1, xcom_push=lambda **_: None),
        "run_id": "manual__trigger_form",
        "task": create,
    }
    pipeline.module.check_form_limits(context)
    create.render_template_fields(context)
    return create.execute(context)


def test_good_form_values_reach_the_cluster_spec(pipeline: Any) -> None:
    given = {"min_workers": 1, "max_workers": 3, "spot_bid_price_percent": 70, "image_tag": "2026.11.24"}
    context: Any = {
        "params": form(pipeline, **given),
        "dag_run": SimpleNamespace(logical_date=None, run_after=datetime(2026, 11, 24, tzinfo=timezone.utc)),
        "ti": SimpleNamespace(map_index=-1),
        "run_id": "manual__trigger_form",
        "task": pipeline.create,
    }
    pipeline.create.render_template_fields(context)
    pipeline.module.check_form_limits(context)
    spec = pipeline.create.build_spec(context)
    assert spec["autoscale"] == {"min_workers": 1, "max_workers": 3}
    assert spec["aws_attributes"]["spot_bid_price_percent"] == 70
    assert spec["docker_image"]["url"].endswith("/dataengineeringe2e:2026.11.24")
    assert spec["node_type_id"] == "r4.xlarge"
    assert pipeline.log.at("error") == []


def refused(pipeline: Any, workspace: Emulator, **given: Any) -> tuple[str, list[str]]:
    """The message a refused form fails create_cluster with, and what the task logged at ERROR; nothing may
    have reached the workspace."""
    sent = len(workspace.request_log)
    with pytest.raises(AirflowFailException) as caught:
        run_create(pipeline, form(pipeline, **given))
    assert workspace.request_log[sent:] == []
    return str(caught.value), pipeline.log.at("error")


def test_no_form_field_has_a_rule_the_form_would_clamp_to_or_show_as_syntax(pipeline: Any) -> None:
    for name in pipeline.dag.params:
        schema = pipeline.dag.params.get_param(name).schema
        assert [rule for rule in HIDDEN_RULES if rule in schema] == [], name


def test_every_number_field_states_its_rule_in_its_description(pipeline: Any) -> None:
    limits = pipeline.module.FORM_LIMITS
    assert set(limits) == set(NUMBER_FIELDS)
    described = {name: pipeline.dag.params.get_param(name).description for name in NUMBER_FIELDS}
    assert "1 to 20" in described["min_workers"]
    assert "greater than min_workers, up to 50" in described["max_workers"]
    assert "1 to 100 (% of the on-demand price)" in described["spot_bid_price_percent"]
    # The refusals say the rule in the same words as the form.
    assert all(limits[name][2] in described[name] for name in NUMBER_FIELDS)


def test_the_image_tag_rule_is_said_in_words(pipeline: Any) -> None:
    description = pipeline.dag.params.get_param("image_tag").description
    assert TAG_RULE in description
    assert not any(syntax in description for syntax in REGEX_SYNTAX)


def test_the_form_check_is_the_task_before_create_cluster_and_never_a_hook_of_it(pipeline: Any) -> None:
    check = pipeline.dag.get_task("check_form")
    assert check.downstream_task_ids == {"create_cluster"}
    # A bad form is an AirflowFailException (never retried); a try lost to the machine is retried.
    assert check.retries == pipeline.create.retries == 1
    # A pre_execute hook would run again on the create task's resume from deferral, outside its cleanup.
    assert pipeline.create._pre_execute_hook is None


def test_the_defaults_and_the_limits_themselves_pass_the_form_check(pipeline: Any) -> None:
    check = pipeline.module.check_form_limits
    check({"params": form(pipeline), "task": pipeline.create})
    edges = {"min_workers": 20, "max_workers": 50, "spot_bid_price_percent": 100}
    check({"params": form(pipeline, **edges), "task": pipeline.create})
    check({"params": form(pipeline, min_workers=1, spot_bid_price_percent=1), "task": pipeline.create})


@pytest.mark.parametrize(
    ("given", "line"),
    [
        (
            {"min_workers": 25, "max_workers": 30},
            "Trigger form value out of range: min_workers: got 25; allowed: 1 to 20",
        ),
        ({"min_workers": 0}, "Trigger form value out of range: min_workers: got 0; allowed: 1 to 20"),
        (
            {"max_workers": 51},
            "Trigger form value out of range: max_workers: got 51; "
            "allowed: greater than min_workers, up to 50",
        ),
        (
            {"spot_bid_price_percent": 150},
            "Trigger form value out of range: spot_bid_price_percent: got 150; "
            "allowed: 1 to 100 (% of the on-demand price)",
        ),
        (
            {"min_workers": 21, "spot_bid_price_percent": 0},
            "Trigger form value out of range (2 problems): [1] min_workers: got 21; allowed: 1 to 20 "
            "[2] spot_bid_price_percent: got 0; allowed: 1 to 100 (% of the on-demand price)",
        ),
    ],
)
def test_an_out_of_range_number_is_refused_in_one_line_naming_the_field(
    pipeline: Any, workspace: Emulator, given: dict[str, Any], line: str
) -> None:
    message, errors = refused(pipeline, workspace, **given)
    assert message == line
    assert errors == [line]


def test_max_workers_equal_to_min_workers_is_refused_in_one_line_before_any_call(
    pipeline: Any, workspace: Emulator
) -> None:
    message, errors = refused(pipeline, workspace, min_workers=2, max_workers=2)
    line = (
        "Invalid Databricks cluster spec: autoscale.max_workers: got 2; allowed: greater than min_workers (2)"
    )
    assert message == line
    assert errors == [line]


@pytest.mark.parametrize("tag", ["bad tag!", ".hidden", "-rc1", "", "t" * 129, "v1:2", "ünï"])
def test_a_bad_image_tag_is_refused_in_words_before_any_call(
    pipeline: Any, workspace: Emulator, tag: str
) -> None:
    message, errors = refused(pipeline, workspace, image_tag=tag)
    assert "\n" not in message
    assert message.startswith("Invalid Databricks cluster spec: docker_image.url: got '")
    assert message.endswith(f"allowed: a tag (after the ':') of {TAG_RULE}")
    assert not any(syntax in message for syntax in REGEX_SYNTAX), message
    assert errors == [message]
