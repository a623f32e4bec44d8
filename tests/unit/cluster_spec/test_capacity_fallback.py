"""capacity_fallback: which start failures move on, to which alternative, and what an alternative may be."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.capacity_fallback import (
    TAG_CAPACITY_FALLBACK,
    alternative_of,
    alternative_specs,
    changes,
    is_capacity_shortage,
    next_alternative,
    overlay,
    parse_alternatives,
)
from airflow_databricks_clusters.cluster_spec.validation import validate_cluster_spec
from airflow_databricks_clusters.errors import SpecError

SPEC: dict[str, Any] = validate_cluster_spec(
    {
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "r5d.xlarge",
        "autoscale": {"min_workers": 1, "max_workers": 2},
        "aws_attributes": {"availability": "SPOT", "zone_id": "ap-southeast-1c", "first_on_demand": 1},
        "custom_tags": {"team": "data"},
    }
)
SPOT_SHORT = {
    "code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE",
    "type": "CLOUD_FAILURE",
    "parameters": {"aws_api_error_code": "InsufficientInstanceCapacity"},
}


@pytest.mark.parametrize(
    "reason",
    [
        SPOT_SHORT,
        {"code": "AWS_MAX_SPOT_INSTANCE_COUNT_EXCEEDED_FAILURE"},
        {"code": "AWS_INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET_FAILURE"},
        {"code": "SPOT_INSTANCE_TERMINATION"},
        {"code": "CLOUD_PROVIDER_LAUNCH_FAILURE", "parameters": {"aws_spot_request_status": "price-too-low"}},
        {
            "code": "CLOUD_PROVIDER_LAUNCH_FAILURE",
            "parameters": {"aws_api_error_code": "InsufficientInstanceCapacity"},
        },
    ],
)
def test_a_shortage_of_instances_moves_on(reason: dict[str, Any]) -> None:
    assert is_capacity_shortage(reason)
    assert next_alternative(None, 2, reason) == 0
    assert next_alternative(0, 2, reason) == 1


@pytest.mark.parametrize(
    "reason",
    [
        None,
        {},
        {"code": "USER_REQUEST"},
        {"code": "DOCKER_IMAGE_PULL_FAILURE"},
        {"code": "INIT_SCRIPT_FAILURE"},
        {
            "code": "CLOUD_PROVIDER_LAUNCH_FAILURE",
            "parameters": {"aws_api_error_code": "UnauthorizedOperation"},
        },
    ],
)
def test_any_other_end_fails_the_task_as_before(reason: dict[str, Any] | None) -> None:
    assert not is_capacity_shortage(reason)
    assert next_alternative(None, 2, reason) is None


def test_after_the_last_alternative_the_task_fails() -> None:
    assert next_alternative(1, 2, SPOT_SHORT) is None
    assert next_alternative(None, 0, SPOT_SHORT) is None


def test_an_alternative_is_laid_over_the_spec_and_tagged() -> None:
    laid = overlay(SPEC, {"node_type_id": "r5.xlarge", "zone_id": "ap-southeast-1a", "num_workers": 2}, 0)
    assert laid["node_type_id"] == "r5.xlarge"
    assert laid["num_workers"] == 2 and "autoscale" not in laid
    assert laid["aws_attributes"] == {**SPEC["aws_attributes"], "zone_id": "ap-southeast-1a"}
    assert laid["custom_tags"] == {"team": "data", TAG_CAPACITY_FALLBACK: "0"}
    assert alternative_of(laid) == 0 and alternative_of(SPEC) is None
    assert SPEC["node_type_id"] == "r5d.xlarge"  # the task's spec itself is untouched


def test_alternatives_are_validated_as_whole_specs_and_say_what_they_change() -> None:
    given = parse_alternatives(
        '[{"node_type_id": "r5.xlarge"}, '
        '{"availability": "ON_DEMAND", "autoscale": {"min_workers": "1", "max_workers": 3}}]'
    )
    first, second = alternative_specs(SPEC, given)
    assert changes(SPEC, first) == ['node_type_id "r5d.xlarge" -> "r5.xlarge"']
    assert second["autoscale"] == {"min_workers": 1, "max_workers": 3}
    assert changes(SPEC, second) == [
        'autoscale {"max_workers": 2, "min_workers": 1} -> {"max_workers": 3, "min_workers": 1}',
        'aws_attributes.availability "SPOT" -> "ON_DEMAND"',
    ]


def test_every_bad_alternative_is_named_before_any_call() -> None:
    with pytest.raises(SpecError) as caught:
        parse_alternatives(
            [{"node_type": "r5.xlarge"}, {"spark_version": "16.4.x-scala2.12"}, "r5.xlarge", {}]
        )
    shown = [str(p) for p in caught.value.problems]
    assert shown[0].startswith("capacity_fallback[0].node_type: got 'r5.xlarge'")
    assert "did you mean 'node_type_id'?" in shown[0]
    assert shown[1].startswith("capacity_fallback[1].spark_version")
    assert shown[2].startswith("capacity_fallback[2]: got 'r5.xlarge'")
    assert shown[3].startswith("capacity_fallback[3]: got {}")
    with pytest.raises(SpecError) as caught:
        alternative_specs(
            SPEC, [{"availability": "SPOTTY"}, {"autoscale": {"min_workers": 3, "max_workers": 2}}]
        )
    fields = [p.field for p in caught.value.problems]
    assert fields == [
        "capacity_fallback[0] -> aws_attributes.availability",
        "capacity_fallback[1] -> autoscale.max_workers",
    ]


def test_an_alternative_that_changes_nothing_is_refused() -> None:
    with pytest.raises(SpecError) as caught:
        alternative_specs(SPEC, [{"node_type_id": "r5d.xlarge", "zone_id": "ap-southeast-1c"}])
    assert "changes nothing" in str(caught.value.problems[0])


@pytest.mark.parametrize("value", [None, "", "None", []])
def test_no_fallback(value: Any) -> None:
    assert parse_alternatives(value) == []


@pytest.mark.parametrize("value", ["not json", {"node_type_id": "x"}, 3])
def test_not_a_list_is_refused(value: Any) -> None:
    with pytest.raises(SpecError) as caught:
        parse_alternatives(value)
    assert caught.value.problems[0].field == "capacity_fallback"


def test_an_alternative_with_both_sizes_is_refused() -> None:
    with pytest.raises(SpecError) as caught:
        parse_alternatives([{"num_workers": 3, "autoscale": {"min_workers": 1, "max_workers": 4}}])
    assert caught.value.problems[0].field == "capacity_fallback[0].num_workers"


def test_a_tag_that_is_not_a_plain_number_names_no_alternative() -> None:
    assert alternative_of({"custom_tags": {TAG_CAPACITY_FALLBACK: "²"}}) is None
    assert alternative_of({"custom_tags": {TAG_CAPACITY_FALLBACK: "12"}}) == 12
