"""The flexible node types (Clusters API, 2025) are checked like any modelled field, in cluster_json only:
``worker_node_type_flexibility`` / ``driver_node_type_flexibility`` are objects of the API's keys, their
``alternate_node_type_ids`` a list of distinct node type ids, none the node type it stands in for. Pure:
whether a workspace offers each alternate, and at the right size, is pre-flight's ``node_types`` check."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.errors import SpecError

BASE: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r5d.xlarge", "num_workers": 2}
WORKER = "worker_node_type_flexibility"
DRIVER = "driver_node_type_flexibility"


def problems(cluster_json: dict[str, Any], **fields: Any) -> dict[str, str]:
    """Each problem's field and what it allows."""
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**{**BASE, **fields}, cluster_json=cluster_json)
    return {problem.field: problem.allowed for problem in caught.value.problems}


def test_alternates_of_the_workers_and_the_driver_are_sent_as_given() -> None:
    given = {
        WORKER: {"alternate_node_type_ids": ["r5.xlarge", "r5a.xlarge", "r5n.xlarge", "r6i.xlarge"]},
        DRIVER: {"alternate_node_type_ids": ["m5d.2xlarge"], "aws_context_id": "ctx-0123"},
    }
    spec = build_cluster_spec(**BASE, driver_node_type_id="m6id.2xlarge", cluster_json=given)
    assert {name: spec[name] for name in given} == given


def test_a_tuple_of_alternates_and_padded_names_come_out_as_the_api_list() -> None:
    spec = build_cluster_spec(**BASE, cluster_json={WORKER: {"alternate_node_type_ids": (" r5.xlarge",)}})
    assert spec[WORKER] == {"alternate_node_type_ids": ["r5.xlarge"]}


def test_an_unknown_key_is_named_with_the_key_it_meant() -> None:
    found = problems({WORKER: {"alternate_node_types": ["r5.xlarge"]}})
    assert found == {
        f"{WORKER}.alternate_node_types": f"a field of {WORKER} in the Clusters API: "
        "did you mean 'alternate_node_type_ids'?"
    }


def test_a_key_like_none_lists_the_keys_there_are() -> None:
    found = problems({DRIVER: {"fallbacks": ["r5.xlarge"]}})
    assert found[f"{DRIVER}.fallbacks"].endswith(": one of alternate_node_type_ids, aws_context_id")


@pytest.mark.parametrize(
    ("value", "field", "allowed"),
    [
        (["r5.xlarge"], WORKER, 'an object such as {"alternate_node_type_ids": ["r5.xlarge", ...]}'),
        ("r5.xlarge", WORKER, 'an object such as {"alternate_node_type_ids": ["r5.xlarge", ...]}'),
        ({"alternate_node_type_ids": "r5.xlarge"}, f"{WORKER}.alternate_node_type_ids",
         "a list of node type ids such as ['r5.xlarge', 'r5a.xlarge']"),
        ({"alternate_node_type_ids": ["r5.xlarge", ""]}, f"{WORKER}.alternate_node_type_ids[1]",
         "a non-empty string"),
        ({"alternate_node_type_ids": [4]}, f"{WORKER}.alternate_node_type_ids[0]", "a non-empty string"),
        ({"alternate_node_type_ids": ["<alternate>"]}, f"{WORKER}.alternate_node_type_ids[0]",
         "a real value: fill in the <...> placeholder"),
        ({"aws_context_id": 7}, f"{WORKER}.aws_context_id", "a non-empty string"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_shape_is_named_by_its_path(value: Any, field: str, allowed: str) -> None:
    assert problems({WORKER: value}) == {field: allowed}


def test_an_alternate_given_twice_is_named_at_its_second_place() -> None:
    found = problems({WORKER: {"alternate_node_type_ids": ["r5.xlarge", "r5a.xlarge", "r5.xlarge"]}})
    assert found == {f"{WORKER}.alternate_node_type_ids[2]": "each node type once (this one is at [0] too)"}


def test_the_workers_node_type_is_no_alternate_of_itself() -> None:
    found = problems({WORKER: {"alternate_node_type_ids": ["r5.xlarge", "r5d.xlarge"]}})
    assert found == {
        f"{WORKER}.alternate_node_type_ids[1]": "a node type other than node_type_id: an alternate stands "
        "in for it"
    }


def test_the_drivers_node_type_is_its_own_or_else_the_workers() -> None:
    # No driver_node_type_id: the driver runs on node_type_id, so that is what its alternates stand in for.
    found = problems({DRIVER: {"alternate_node_type_ids": ["r5d.xlarge"]}})
    assert found == {
        f"{DRIVER}.alternate_node_type_ids[0]": "a node type other than node_type_id (the driver's, as no "
        "driver_node_type_id is given): an alternate stands in for it"
    }
    found = problems({DRIVER: {"alternate_node_type_ids": ["m5d.xlarge"]}}, driver_node_type_id="m5d.xlarge")
    assert found == {
        f"{DRIVER}.alternate_node_type_ids[0]": "a node type other than driver_node_type_id: an alternate "
        "stands in for it"
    }
    # The workers' node type may well be an alternate of a driver of another type.
    spec = build_cluster_spec(
        **BASE,
        driver_node_type_id="r5.xlarge",
        cluster_json={DRIVER: {"alternate_node_type_ids": ["r5d.xlarge"]}},
    )
    assert spec[DRIVER] == {"alternate_node_type_ids": ["r5d.xlarge"]}


def test_every_problem_of_both_objects_is_listed_at_once() -> None:
    found = problems(
        {
            WORKER: {
                "alternate_node_type_ids": ["r5d.xlarge", "r5.xlarge", "r5.xlarge"],
                "aws_contxt_id": "c",
            },
            DRIVER: {"alternate_node_type_ids": [None, "r5d.xlarge"]},
        }
    )
    assert set(found) == {
        f"{WORKER}.alternate_node_type_ids[0]",
        f"{WORKER}.alternate_node_type_ids[2]",
        f"{WORKER}.aws_contxt_id",
        f"{DRIVER}.alternate_node_type_ids[0]",
        f"{DRIVER}.alternate_node_type_ids[1]",
    }


def test_an_empty_object_or_null_alternates_are_taken_as_no_alternates() -> None:
    spec = build_cluster_spec(**BASE, cluster_json={WORKER: {}, DRIVER: {"alternate_node_type_ids": None}})
    assert spec[WORKER] == {} and spec[DRIVER] == {}
