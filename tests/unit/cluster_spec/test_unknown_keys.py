"""No unknown key reaches a workspace (issue 21): every key of the spec and of the API objects inside it is
checked against the Clusters API's create fields before any call, and an unknown one is a problem naming
its path and the nearest known field. Fields the API has but the builder does not model pass as given, and
``extra_api_fields`` sends a field the plugin has never heard of, on purpose.

Pure: the builder and the validator only. ``tests/integration/lifecycle/test_bad_input.py`` runs the same
typos through the operator against a workspace that must receive nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.cluster_spec.fields import JSON_ONLY_FIELDS, PASSED_CREATE_FIELDS
from airflow_databricks_clusters.errors import SpecError

BASE: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1"
PW = "p4ssw0rd-never-shown"


def refused(**fields: Any) -> dict[str, str]:
    """Each problem's field and what it allows."""
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**fields)
    assert PW not in str(caught.value)
    return {problem.field: problem.allowed for problem in caught.value.problems}


# -- the issue's examples, as written ----------------------------------------------------------------------


def test_a_typo_in_aws_attributes_is_named_with_the_field_it_meant() -> None:
    found = refused(**BASE, aws_attributes={"availabilty": "SPOT"})
    assert list(found) == ["aws_attributes.availabilty"]
    assert found["aws_attributes.availabilty"].endswith("did you mean 'availability'?")


def test_typos_in_cluster_json_are_named_each_with_the_field_it_meant() -> None:
    found = refused(**BASE, cluster_json={"autotermination_minute": 30, "spark_env_var": {"ENV": "prod"}})
    assert list(found) == ["cluster_json.autotermination_minute", "cluster_json.spark_env_var"]
    assert found["cluster_json.autotermination_minute"].endswith("did you mean 'autotermination_minutes'?")
    assert found["cluster_json.spark_env_var"].endswith("did you mean 'spark_env_vars'?")


def test_a_typo_of_a_required_field_names_the_typo_first() -> None:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(
            cluster_json={"num_worker": 2, "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge"}
        )
    first = caught.value.problems[0]
    assert (first.field, first.value) == ("cluster_json.num_worker", 2)
    assert first.allowed.endswith("did you mean 'num_workers'?")
    assert (
        "cluster_json.num_worker: got 2; allowed: a Clusters API create field: did you mean 'num_workers'?"
        in str(caught.value)
    )


# -- every object the API defines inside a spec ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path", "meant"),
    [
        pytest.param({"num_workers": None, "autoscale": {"min_worker": 1, "max_workers": 2}},
                     "autoscale.min_worker", "min_workers", id="autoscale"),
        pytest.param({"docker_image": {"url": IMAGE, "basic_uath": {"username": "u", "password": PW}}},
                     "docker_image.basic_uath", "basic_auth", id="docker_image"),
        pytest.param({"docker_image": {"URL": IMAGE}}, "docker_image.URL", "url", id="docker_image-case"),
        pytest.param({"docker_image": {"url": IMAGE, "basic_auth": {"usrname": "u", "password": PW}}},
                     "docker_image.basic_auth.usrname", "username", id="basic_auth"),
        pytest.param({"init_scripts": [{"volume": {"destination": "/Volumes/c/s/v/i.sh"}}]},
                     "init_scripts[0].volume", "volumes", id="init_scripts-kind"),
        pytest.param({"init_scripts": ["s3://b/ok.sh", {"s3": {"destnation": "s3://b/i.sh"}}]},
                     "init_scripts[1].s3.destnation", "destination", id="init_scripts-s3"),
        pytest.param({"init_scripts": [{"s3": {"destination": "s3://b/i.sh", "regoin": "ap-southeast-1"}}]},
                     "init_scripts[0].s3.regoin", "region", id="init_scripts-s3-region"),
        pytest.param({"init_scripts": [{"workspace": {"destinaton": "/Workspace/i.sh"}}]},
                     "init_scripts[0].workspace.destinaton", "destination", id="init_scripts-workspace"),
        pytest.param({"cluster_log_conf": {"dbfss": {"destination": "dbfs:/logs"}}}, "cluster_log_conf.dbfss",
                     "dbfs", id="cluster_log_conf-kind"),
        pytest.param({"cluster_log_conf": {"s3": {"destination": "s3://b/logs", "regin": "ap-southeast-1"}}},
                     "cluster_log_conf.s3.regin", "region", id="cluster_log_conf-s3"),
        pytest.param({"cluster_log_conf": {"volumes": {"destinations": "/Volumes/c/s/v"}}},
                     "cluster_log_conf.volumes.destinations", "destination", id="cluster_log_conf-volumes"),
        pytest.param({"aws_attributes": {"ebs_volume_typ": "GENERAL_PURPOSE_SSD"}},
                     "aws_attributes.ebs_volume_typ", "ebs_volume_type", id="aws_attributes-ebs"),
    ],
)  # fmt: skip
def test_an_unknown_key_is_named_by_its_path_with_the_field_it_meant(
    fields: dict[str, Any], path: str, meant: str
) -> None:
    found = refused(**{**BASE, **fields})
    # Only the typo: a typo's echo (the destination "missing" beside "destnation") would bury it.
    assert list(found) == [path]
    assert found[path].endswith(f"did you mean {meant!r}?")


def test_a_typo_under_basic_auth_never_shows_its_value() -> None:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(
            **BASE, docker_image={"url": IMAGE, "basic_auth": {"username": "u", "pasword": PW}}
        )
    assert "docker_image.basic_auth.pasword: got '***'" in str(caught.value)
    assert PW not in str(caught.value)


def test_a_key_like_no_known_field_gets_no_suggestion_but_the_fields_there_are() -> None:
    found = refused(**BASE, aws_attributes={"colour": "red"}, cluster_json={"zzz_qqq": 1})
    aws, top = found["aws_attributes.colour"], found["cluster_json.zzz_qqq"]
    assert "did you mean" not in aws and "availability, first_on_demand" in aws
    assert "did you mean" not in top and "extra_api_fields" in top


def test_every_typo_and_every_other_problem_are_listed_at_once() -> None:
    found = refused(
        **BASE,
        availability="CHEAP",
        aws_attributes={"zone_idd": "auto"},
        init_scripts=[{"s3": {"destnation": "s3://b/i.sh"}}],
        cluster_json={"autotermination_minute": 30},
    )
    assert set(found) == {
        "aws_attributes.availability",
        "aws_attributes.zone_idd",
        "init_scripts[0].s3.destnation",
        "cluster_json.autotermination_minute",
    }


def test_a_builder_field_it_does_not_take_is_named_with_the_field_it_meant() -> None:
    found = refused(**BASE, num_workerz=3)
    assert found["num_workerz"].endswith("did you mean 'num_workers'?")


# -- newer API fields the builder does not model --------------------------------------------------------

NEWER: dict[str, Any] = {
    "kind": "CLASSIC_PREVIEW",
    "is_single_node": False,
    "use_ml_runtime": False,
    "worker_node_type_flexibility": {"alternate_node_type_ids": ["i3.2xlarge"]},
    "driver_node_type_flexibility": {"alternate_node_type_ids": ["i3.2xlarge"]},
    "remote_disk_throughput": 250,
    "total_initial_remote_disk_size": 100,
    "clone_from": {"source_cluster_id": "0101-000000-abcdefgh"},
    "cluster_source": "API",
    "workload_type": {"clients": {"jobs": True, "notebooks": False}},
    "dependency_mode": "SOME_MODE",
}


def test_newer_api_fields_the_builder_does_not_model_pass_as_given() -> None:
    spec = build_cluster_spec(**BASE, cluster_json=NEWER)
    assert {name: spec[name] for name in NEWER} == NEWER


def test_the_passed_fields_are_the_newer_ones_the_issue_names() -> None:
    # The flexible node types are checked now (test_node_type_flexibility.py), still only in cluster_json.
    assert set(NEWER) <= set(PASSED_CREATE_FIELDS) | set(JSON_ONLY_FIELDS)


# -- extra_api_fields: a field the plugin has never heard of, on purpose ---------------------------------


def test_extra_api_fields_are_sent_as_given() -> None:
    spec = build_cluster_spec(**BASE, extra_api_fields={"brand_new_field": {"any": ["shape", 1]}})
    assert spec["brand_new_field"] == {"any": ["shape", 1]}


def test_extra_api_fields_may_arrive_as_templated_text_or_not_at_all() -> None:
    assert build_cluster_spec(**BASE, extra_api_fields='{"brand_new_field": 2}')["brand_new_field"] == 2
    assert build_cluster_spec(**BASE, extra_api_fields="None") == build_cluster_spec(**BASE)


@pytest.mark.parametrize(
    ("extra", "path", "allowed"),
    [
        pytest.param({"kind": "CLASSIC_PREVIEW"}, "extra_api_fields.kind",
                     "a field this plugin does not know", id="known-passed-field"),
        pytest.param({"num_workers": 3}, "extra_api_fields.num_workers", "give it in cluster_json",
                     id="known-modelled-field"),
        pytest.param("not an object", "extra_api_fields", "an object", id="text"),
        pytest.param({"": 1}, "extra_api_fields.", "a non-empty field name", id="empty-name"),
        pytest.param({"brand_new_field": {1, 2}}, "extra_api_fields.brand_new_field", "a JSON value",
                     id="not-json"),
    ],
)  # fmt: skip
def test_extra_api_fields_may_not_hide_a_known_field_or_carry_what_json_cannot(
    extra: Any, path: str, allowed: str
) -> None:
    found = refused(**BASE, extra_api_fields=extra)
    assert path in found and allowed in found[path], found
