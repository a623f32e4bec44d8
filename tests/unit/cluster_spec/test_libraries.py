"""The create operator's ``libraries``: checked before any call, each problem named, no URL password shown."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.libraries import (
    hide_url_secrets,
    label,
    library_key,
    parse_libraries,
    url_secrets,
)
from airflow_databricks_clusters.errors import SpecError

EVERY_KIND = [
    {"jar": "s3://bucket/lib.jar"},
    {"egg": "dbfs:/libs/old.egg"},
    {"whl": "/Volumes/main/default/libs/tool-1.0-py3-none-any.whl"},
    {"requirements": "/Workspace/Shared/requirements.txt"},
    {"pypi": {"package": "requests==2.32.3", "repo": "https://pypi.example.com/simple"}},
    {"maven": {"coordinates": "org.jsoup:jsoup:1.7.2", "exclusions": ["slf4j:slf4j"]}},
    {"cran": {"package": "forecast"}},
]


def fields(value: object) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_libraries(value)
    return [problem.field for problem in caught.value.problems]


def test_every_kind_of_the_api_is_taken_as_given() -> None:
    assert parse_libraries(EVERY_KIND) == EVERY_KIND


@pytest.mark.parametrize("empty", [None, "", "None", "null", []])
def test_nothing_given_is_no_library(empty: object) -> None:
    assert parse_libraries(empty) == []


def test_json_or_python_text_from_a_template_is_read() -> None:
    assert parse_libraries('[{"pypi": {"package": "x"}}]') == [{"pypi": {"package": "x"}}]
    assert parse_libraries("[{'whl': 'dbfs:/a.whl'}]") == [{"whl": "dbfs:/a.whl"}]


def test_an_empty_repo_is_left_out_and_paths_are_stripped() -> None:
    assert parse_libraries([{"pypi": {"package": " x ", "repo": ""}}, {"jar": " s3://b/a.jar"}]) == [
        {"pypi": {"package": "x"}},
        {"jar": "s3://b/a.jar"},
    ]


def test_every_problem_is_named_by_its_place() -> None:
    found = fields(
        [
            {"pipy": {"package": "x"}},
            {"pypi": {"pakage": "x"}},
            {"jar": "a.jar", "whl": "b.whl"},
            {"maven": {"coordinates": 3, "exclusions": "a:b"}},
            {"cran": "forecast"},
            {"whl": ""},
            "requests",
            {},
        ]
    )
    assert found == [
        "libraries[0].pipy",
        "libraries[1].pypi.pakage",
        "libraries[1].pypi.package",
        "libraries[2]",
        "libraries[3].maven.coordinates",
        "libraries[3].maven.exclusions",
        "libraries[4].cran",
        "libraries[5].whl",
        "libraries[6]",
        "libraries[7]",
    ]


def test_a_typo_is_answered_with_the_field_meant() -> None:
    with pytest.raises(SpecError) as caught:
        parse_libraries([{"pypi": {"pakage": "x"}}, {"mavn": {"coordinates": "a:b:1"}}])
    text = str(caught.value)
    assert "did you mean 'package'?" in text and "did you mean 'maven'?" in text


@pytest.mark.parametrize("value", [{"pypi": {"package": "x"}}, 3, "pypi:x"])
def test_anything_but_a_list_is_refused_naming_the_parameter(value: object) -> None:
    assert fields(value) == ["libraries"]


def test_the_same_library_twice_is_refused() -> None:
    with pytest.raises(SpecError, match=r"also at libraries\[0\]"):
        parse_libraries([{"pypi": {"package": "x"}}, {"pypi": {"package": "x", "repo": "https://r"}}])


def test_a_library_is_known_by_its_kind_and_what_it_installs() -> None:
    assert library_key({"maven": {"coordinates": "a:b:1", "repo": "https://r"}}) == ("maven", "a:b:1")
    assert label({"whl": "dbfs:/a.whl"}) == "whl:dbfs:/a.whl"
    assert label({"pypi": {"package": "x==1", "repo": "https://u:pw@r"}}) == "pypi:x==1"


def test_a_password_in_a_url_is_never_shown_and_is_handed_to_the_masker() -> None:
    given = [
        {"pypi": {"package": "x", "repo": "https://user:s3cretpass@pypi.example.com/simple"}},
        {"whl": "https://ghp_tokenvalue@files.example.com/a.whl"},
    ]
    assert sorted(url_secrets(given)) == ["ghp_tokenvalue", "s3cretpass"]
    assert label(given[1]) == "whl:https://***@files.example.com/a.whl"
    assert hide_url_secrets("https://u:pw@h/x") == "https://u:***@h/x"
    with pytest.raises(SpecError) as caught:
        parse_libraries([{"pypi": {"package": "", "repo": "https://user:s3cretpass@h"}}, {"jar": 1}])
    assert "s3cretpass" not in str(caught.value)


def test_libraries_in_cluster_json_are_pointed_to_the_operators_parameter() -> None:
    from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec

    with pytest.raises(SpecError, match="give it as the operator's libraries"):
        build_cluster_spec(
            cluster_json={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1,
                          "libraries": [{"pypi": {"package": "x"}}]},
        )  # fmt: skip


def test_a_repository_password_from_a_template_is_masked_before_the_rendering_is_stored(
    tmp_path: Any,
) -> None:
    import secrets

    from airflow.sdk import DAG
    from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields
    from airflow.sdk.log import redact

    from airflow_databricks_clusters.operators import DatabricksCreateClusterOperator

    password = secrets.token_hex(8)
    with DAG("libraries_masking", schedule=None):
        op = DatabricksCreateClusterOperator(
            task_id="create",
            spark_version="15.4.x-scala2.12",
            node_type_id="i3.xlarge",
            num_workers=1,
            libraries='[{"pypi": {"package": "etl", "repo": "https://ci:{{ pw }}@pypi.example.com/simple"}}]',
        )
    op.render_template_fields({"pw": password})  # type: ignore[arg-type]
    assert password in str(op.libraries)  # the task sends it as given
    assert password not in str(redact(_serialize_rendered_fields(op)))
