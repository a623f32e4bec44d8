"""The operator's cluster parameters, the spec builder's fields and the validator's fields are one table.

Each test fails when one of them drifts from ``cluster_spec.fields``: a field the validator checks but the
operator does not take (as ``ebs_volume_iops`` once was), a parameter the spec builder refuses, a field
no handler checks.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.cluster_spec.fields import (
    API_CREATE_FIELDS,
    AWS_FIELDS,
    CREATE_FIELDS,
    JSON_ONLY_FIELDS,
    KNOWN_KEYS,
    OPERATOR_FIELDS,
    PASSED_CREATE_FIELDS,
    Kind,
)
from airflow_databricks_clusters.cluster_spec.validation import _FIELD_HANDLERS
from airflow_databricks_clusters.errors import SpecError
from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator

#: The create operator's parameters that are not cluster fields.
OPERATOR_OWN = {
    "self", "kwargs", "cluster_json", "single_node", "wait_for_running", "deferrable", "polling_interval",
    "timeout", "delete_on_error", "docker_auth", "preflight_checks", "skip_preflight_checks",
    "extra_api_fields", "capacity_fallback", "libraries",
}  # fmt: skip
BASE = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
#: A value of the wrong kind for each kind of field: the validator must name the field for it.
WRONG: dict[Kind, Any] = {
    Kind.STRING: ["not", "a", "string"],
    Kind.INT: "many",
    Kind.BOOL: "perhaps",
    Kind.ENUM: "NOT_AN_OPTION",
    Kind.MAP: "not an object",
    Kind.OBJECT: 12345,
}


def test_the_operator_takes_exactly_the_table_as_parameters() -> None:
    params = set(inspect.signature(DatabricksCreateClusterOperator.__init__).parameters)
    assert params - OPERATOR_OWN == set(OPERATOR_FIELDS)
    assert set(DatabricksCreateClusterOperator.template_fields) == {
        "cluster_json",
        *OPERATOR_FIELDS,
        "extra_api_fields",
        "capacity_fallback",
        "libraries",
    }


def test_the_known_keys_are_every_create_field_once_and_the_modelled_objects_fields() -> None:
    parts = [set(CREATE_FIELDS), set(JSON_ONLY_FIELDS), set(PASSED_CREATE_FIELDS)]
    assert all(not one & other for one in parts for other in parts if one is not other)
    assert list(KNOWN_KEYS) == [*CREATE_FIELDS, *JSON_ONLY_FIELDS, *PASSED_CREATE_FIELDS]
    assert list(KNOWN_KEYS) == list(API_CREATE_FIELDS)
    assert list(KNOWN_KEYS["aws_attributes"] or {}) == list(AWS_FIELDS)
    # Each object the validator reads whole (Kind.OBJECT) has its keys checked, but ssh_public_keys, a list
    # of strings; the maps (spark_conf, ...) hold the user's own keys.
    objects = {name for name, kind in CREATE_FIELDS.items() if kind is Kind.OBJECT}
    assert {name for name, keys in KNOWN_KEYS.items() if keys is not None} == objects - {
        "ssh_public_keys"
    } | {"aws_attributes"}


def test_every_checked_field_has_a_validator_handler() -> None:
    # The operator's fields, those it takes only in cluster_json, and idempotency_token (which the operator
    # sets itself: a given one is refused); no other passed field is checked.
    assert set(_FIELD_HANDLERS) == set(CREATE_FIELDS) | set(JSON_ONLY_FIELDS) | {"idempotency_token"}


@pytest.mark.parametrize("name", list(CREATE_FIELDS))
def test_the_validator_names_every_create_field_given_a_wrong_value(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**{**BASE, name: WRONG[CREATE_FIELDS[name]]})
    assert any(p.field.split(".")[0].split("[")[0] == name for p in caught.value.problems), caught.value


@pytest.mark.parametrize("name", list(JSON_ONLY_FIELDS))
def test_the_validator_names_every_cluster_json_only_field_given_a_wrong_value(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**BASE, cluster_json={name: WRONG[JSON_ONLY_FIELDS[name]]})
    assert [p.field for p in caught.value.problems] == [name]


@pytest.mark.parametrize("name", list(JSON_ONLY_FIELDS))
def test_a_cluster_json_only_field_is_no_operator_parameter(name: str) -> None:
    assert name not in OPERATOR_FIELDS
    with pytest.raises(SpecError, match=f"{name}: got"):
        build_cluster_spec(**BASE, **{name: {"alternate_node_type_ids": ["i3.2xlarge"]}})


@pytest.mark.parametrize("name", list(AWS_FIELDS))
def test_the_validator_names_every_aws_field_given_a_wrong_value(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**{**BASE, name: WRONG[AWS_FIELDS[name]]})
    assert any(p.field == f"aws_attributes.{name}" for p in caught.value.problems), caught.value


@pytest.mark.parametrize("name", list(OPERATOR_FIELDS))
def test_a_field_given_to_the_operator_reaches_the_spec_builder(name: str) -> None:
    operator = DatabricksCreateClusterOperator(task_id="t", **{name: "x"})
    assert getattr(operator, name) == "x"
