"""Hostile specs against the spec builder and validator (pure, no I/O): every field of the one table gets
values as templating and careless hands produce them — wrong types, "None", lists and numbers as text,
10 KB values, unicode, newlines and NUL bytes — and each is either read as the user meant or refused with
a problem naming the field and what it allows, in a message that stays short and shows no secret.

``test_build.py`` holds the builder's ordinary refusals; this is the hostile matrix.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec, task_instance_tags
from airflow_databricks_clusters.cluster_spec.fields import (
    AWS_FIELDS,
    CREATE_FIELDS,
    OPERATOR_FIELDS,
    Kind,
    names,
)
from airflow_databricks_clusters.errors import SpecError

BASE: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
KB10 = 10 * 1024
BIG = "x" * KB10
DIGITS = "1" * KB10
IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1"
ARN = "arn:aws:iam::123456789012:instance-profile/etl"
MAX_MESSAGE = 3000  # a 10 KB value is shown cut short


def aws_field(name: str) -> str:
    return f"aws_attributes.{name}" if name in AWS_FIELDS else name


def rows_for_kinds() -> list[Any]:
    """What every field of a kind must refuse, generated from the one table."""
    rows: list[Any] = []
    for name in names(CREATE_FIELDS, Kind.STRING):
        rows += [
            pytest.param({name: "15.4.x\n-scala2.12"}, name, "control characters", id=f"{name}-newline"),
            pytest.param({name: "pool\x00id"}, name, "control characters", id=f"{name}-nul"),
            pytest.param({name: 3}, name, "a non-empty string", id=f"{name}-int"),
            pytest.param({name: "[1, 2]"}, name, "a non-empty string", id=f"{name}-list-text"),
            pytest.param({name: "   "}, name, "a non-empty string", id=f"{name}-blank"),
        ]
    for name in (*names(CREATE_FIELDS, Kind.INT), *names(AWS_FIELDS, Kind.INT)):
        field = aws_field(name)
        rows += [
            pytest.param({name: "three"}, field, "an integer", id=f"{name}-word"),
            pytest.param({name: "3.5"}, field, "an integer", id=f"{name}-fraction-text"),
            pytest.param({name: DIGITS}, field, "an integer", id=f"{name}-10KB-digits"),
            pytest.param({name: True}, field, "an integer", id=f"{name}-bool"),
            pytest.param({name: "[1, 2]"}, field, "an integer", id=f"{name}-list-text"),
            pytest.param({name: "-1"}, field, "an integer from", id=f"{name}-negative-text"),
        ]
    for name in names(CREATE_FIELDS, Kind.BOOL):
        rows += [
            pytest.param({name: "maybe"}, name, "true or false", id=f"{name}-word"),
            pytest.param({name: 2}, name, "true or false", id=f"{name}-two"),
            pytest.param({name: "[1, 2]"}, name, "true or false", id=f"{name}-list-text"),
        ]
    for name in (*names(CREATE_FIELDS, Kind.ENUM), *names(AWS_FIELDS, Kind.ENUM)):
        field = aws_field(name)
        rows += [
            pytest.param({name: "PHO\nTON"}, field, "one of", id=f"{name}-newline"),
            pytest.param({name: 3}, field, "one of", id=f"{name}-int"),
            pytest.param({name: BIG}, field, "one of", id=f"{name}-10KB"),
            pytest.param({name: "[1, 2]"}, field, "one of", id=f"{name}-list-text"),
        ]
    for name in names(CREATE_FIELDS, Kind.MAP):
        rows += [
            pytest.param({name: "not an object"}, name, "an object", id=f"{name}-text"),
            pytest.param({name: "[1, 2]"}, name, "an object", id=f"{name}-list-text"),
            pytest.param({name: 3}, name, "an object", id=f"{name}-int"),
        ]
    return rows


ROWS: list[Any] = [
    *rows_for_kinds(),
    # Maps: what may be inside them.
    pytest.param({"spark_conf": {"k": ["x"]}}, "spark_conf.k", "a string", id="spark_conf-list-value"),
    pytest.param({"spark_conf": {"k\x00": "v"}}, "spark_conf.k\x00", "without NUL", id="spark_conf-nul-key"),
    pytest.param({"spark_env_vars": {"A": "v\x00"}}, "spark_env_vars.A", "without NUL", id="env-nul-value"),
    pytest.param({"spark_env_vars": {"A": {"n": 1}}}, "spark_env_vars.A", "a string", id="env-object-value"),
    pytest.param({"custom_tags": {"team": "da\nta"}}, "custom_tags.team", "tag value", id="tag-newline"),
    pytest.param({"custom_tags": {"team": BIG}}, "custom_tags.team", "tag value of 0..255", id="tag-10KB"),
    pytest.param({"custom_tags": {"ключ": "v"}}, "custom_tags.ключ", "tag key", id="tag-unicode-key"),
    pytest.param({"custom_tags": {"k" * 128: "v"}}, "custom_tags." + "k" * 128, "1..127", id="tag-long-key"),
    # Zone and instance profile: strings with a shape.
    pytest.param({"zone_id": "ap-southeast-1a\x00"}, "aws_attributes.zone_id", "zone", id="zone-nul"),
    pytest.param({"zone_id": BIG}, "aws_attributes.zone_id", "zone", id="zone-10KB"),
    pytest.param({"zone_id": "ап-southeast-1a"}, "aws_attributes.zone_id", "zone", id="zone-unicode"),
    pytest.param(
        {"instance_profile_arn": ARN + "\n/x"},
        "aws_attributes.instance_profile_arn",
        "an ARN",
        id="arn-newline",
    ),
    pytest.param(
        {"instance_profile_arn": BIG}, "aws_attributes.instance_profile_arn", "an ARN", id="arn-10KB"
    ),
    pytest.param({"instance_profile_arn": 3}, "aws_attributes.instance_profile_arn", "an ARN", id="arn-int"),
    pytest.param({"aws_attributes": {"zone_id": ["auto"]}}, "aws_attributes.zone_id", "zone", id="zone-list"),
    # autoscale: every form it is read from, broken.
    pytest.param({"num_workers": None, "autoscale": "1"}, "autoscale", "min_workers", id="autoscale-one"),
    pytest.param(
        {"num_workers": None, "autoscale": "[1, 2, 3]"}, "autoscale", "(a, b)", id="autoscale-three"
    ),
    pytest.param(
        {"num_workers": None, "autoscale": {"min": 1, "max": 2}},
        "autoscale.min",
        "did you mean 'min_workers'?",
        id="autoscale-wrong-keys",
    ),
    pytest.param(
        {"num_workers": None, "autoscale": ("x", 2)},
        "autoscale.min_workers",
        "an integer",
        id="autoscale-word",
    ),
    pytest.param(
        {"num_workers": None, "autoscale": (1, DIGITS)},
        "autoscale.max_workers",
        "an integer",
        id="autoscale-10KB-digits",
    ),
    pytest.param({"num_workers": None, "autoscale": BIG}, "autoscale", "min_workers", id="autoscale-10KB"),
    pytest.param({"num_workers": None, "autoscale": 3}, "autoscale", "min_workers", id="autoscale-int"),
    # docker_image: every way to get it wrong.
    pytest.param({"docker_image": 3}, "docker_image", "an image URL", id="docker-int"),
    pytest.param(
        {"docker_image": {"URL": IMAGE}}, "docker_image.URL", "did you mean 'url'?", id="docker-upper-url-key"
    ),
    pytest.param({"docker_image": {"url": 3}}, "docker_image", "an image URL", id="docker-int-url"),
    pytest.param(
        {"docker_image": {"url": IMAGE, "tag": "1"}},
        "docker_image.tag",
        "a field of docker_image in the Clusters API: one of url, basic_auth",
        id="docker-extra-key",
    ),
    pytest.param({"docker_image": "r/" + "a" * KB10}, "docker_image.url", "at most 255", id="docker-10KB"),
    pytest.param(
        {"docker_image": "répo/image:1"}, "docker_image.url", "image reference", id="docker-unicode"
    ),
    pytest.param(
        {"docker_image": "repo/im\nage:1"}, "docker_image.url", "image reference", id="docker-newline"
    ),
    pytest.param(
        {"docker_image": "repo/image:1\x00"}, "docker_image.url", "a tag (after the ':')", id="docker-nul"
    ),
    pytest.param({"docker_image": "[1, 2]"}, "docker_image", "an image URL", id="docker-list-text"),
    pytest.param(
        {"docker_image": {"url": IMAGE, "basic_auth": {"username": "u"}}},
        "docker_image.basic_auth",
        "username and password",
        id="docker-no-password",
    ),
    pytest.param(
        {"docker_image": {"url": IMAGE, "basic_auth": "u:p4ssw0rd"}},
        "docker_image.basic_auth",
        "username and password",
        id="docker-auth-text",
    ),
    # init_scripts and cluster_log_conf.
    pytest.param({"init_scripts": 3}, "init_scripts", "a list", id="init-int"),
    pytest.param(
        {"init_scripts": {"s3": {"destination": "s3://b/i.sh"}}},
        "init_scripts",
        "a list",
        id="init-object-not-list",
    ),
    pytest.param({"init_scripts": [3]}, "init_scripts[0]", "a path, or one of", id="init-int-item"),
    pytest.param({"init_scripts": ["http://x/i.sh"]}, "init_scripts[0]", "s3://", id="init-http"),
    pytest.param({"init_scripts": [BIG]}, "init_scripts[0]", "s3://", id="init-10KB"),
    pytest.param({"init_scripts": [{"s3": {}}]}, "init_scripts[0]", "destination", id="init-no-destination"),
    pytest.param(
        {"init_scripts": [{"ftp": {"destination": "x"}}]},
        "init_scripts[0].ftp",
        "a field of init_scripts[0] in the Clusters API: one of workspace",
        id="init-kind",
    ),
    pytest.param({"cluster_log_conf": 3}, "cluster_log_conf", "s3://", id="logs-int"),
    pytest.param({"cluster_log_conf": "ftp://x"}, "cluster_log_conf", "s3://", id="logs-ftp"),
    pytest.param(
        {
            "cluster_log_conf": {
                "s3": {"destination": "s3://b", "region": "r"},
                "dbfs": {"destination": "dbfs:/l"},
            }
        },
        "cluster_log_conf",
        "exactly one",
        id="logs-two",
    ),
    pytest.param(
        {"cluster_log_conf": {"s3": "s3://b"}}, "cluster_log_conf", "destination", id="logs-s3-text"
    ),
    # ssh_public_keys.
    pytest.param({"ssh_public_keys": "ssh-ed25519 AAAA"}, "ssh_public_keys", "a list", id="ssh-text"),
    pytest.param(
        {"ssh_public_keys": [1, 2]}, "ssh_public_keys", "a list of public key strings", id="ssh-ints"
    ),
    pytest.param({"ssh_public_keys": "[1, 2]"}, "ssh_public_keys", "public key strings", id="ssh-list-text"),
    pytest.param({"ssh_public_keys": ["k"] * 11}, "ssh_public_keys", "at most 10", id="ssh-eleven"),
    # cluster_json: text, paths and what templating makes of them.
    pytest.param({"cluster_json": "{not json"}, "cluster_json", "valid JSON", id="json-broken"),
    pytest.param({"cluster_json": "[1, 2]"}, "cluster_json", "a JSON object", id="json-list"),
    pytest.param(
        {"cluster_json": "/no/such/cluster.json"}, "cluster_json", "No such file", id="json-missing"
    ),
    pytest.param(
        {"cluster_json": "no/such/cluster.json"}, "cluster_json", "No such file", id="json-relative"
    ),
    pytest.param({"cluster_json": "/"}, "cluster_json", "Is a directory", id="json-directory"),
    pytest.param({"cluster_json": BIG}, "cluster_json", "cannot be read", id="json-10KB-path"),
    pytest.param({"cluster_json": "a\x00b.json"}, "cluster_json", "cannot be read", id="json-nul-path"),
    pytest.param({"cluster_json": "{" + BIG}, "cluster_json", "valid JSON", id="json-10KB-text"),
    # The whole spec: what must be there, and what must not be there together.
    pytest.param({"spark_version": "None"}, "spark_version", "required", id="spark_version-rendered-none"),
    pytest.param({"num_workers": "None"}, "num_workers", "required", id="num_workers-rendered-none"),
    pytest.param({"autoscale": "[1, 2]"}, "num_workers", "not both", id="workers-and-autoscale-text"),
    pytest.param({"instance_pool_id": "pool-1"}, "node_type_id", "nothing when instance_pool_id", id="pool"),
    pytest.param({"node_type_id": "null"}, "node_type_id", "an instance type", id="node_type-rendered-null"),
    pytest.param({"single_node": "true", "num_workers": "2"}, "num_workers", "single_node", id="single-2"),
    pytest.param(
        {"single_node": "true", "num_workers": None, "autoscale": "[1, 2]"},
        "autoscale",
        "single_node",
        id="single-autoscale",
    ),
    pytest.param(
        {"single_node": True, "spark_conf": "[1, 2]"}, "spark_conf", "an object", id="single-bad-conf"
    ),
    pytest.param({"single_node": True, "custom_tags": "x"}, "custom_tags", "an object", id="single-bad-tags"),
    pytest.param(
        {"aws_attributes": "not an object", "availability": "SPOT"},
        "aws_attributes",
        "an object of AWS attributes",
        id="aws-text-and-flat-field",
    ),
    pytest.param({"cluster_log_conf": "s3://b/l"}, "cluster_log_conf.s3.region", "region", id="logs-region"),
    pytest.param(
        {"custom_tags": {f"k{i}": "v" for i in range(46)}}, "custom_tags", "at most 45", id="tags-46"
    ),
    pytest.param({"num_workerz": 3}, "num_workerz", "a Clusters API create field", id="unknown-field"),
    pytest.param({"password": "p4ssw0rd-x"}, "password", "a Clusters API create field", id="unknown-secret"),
]


def build(fields: dict[str, Any], tags: dict[str, str] | None = None) -> dict[str, Any]:
    return build_cluster_spec(**{**BASE, **fields}, tags=tags)


@pytest.mark.parametrize(("fields", "field", "allowed"), ROWS)
def test_a_hostile_spec_is_refused_naming_the_field_in_a_short_message(
    fields: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(SpecError) as caught:
        # With the task instance's tags, as the operator builds it: adding them hides no bad custom_tags.
        build(fields, tags=task_instance_tags("dag", "task", "run"))
    found = [(problem.field, problem.allowed) for problem in caught.value.problems]
    assert any(f == field and allowed in a for f, a in found), found
    message = str(caught.value)
    assert f"  - {field}: got " in message
    assert len(message) < MAX_MESSAGE + len(field) * 2, message[:500]
    assert "p4ssw0rd" not in message


def test_the_matrix_covers_every_field_of_the_one_table() -> None:
    fields = [str(row.values[1]) for row in ROWS]
    refused = {field.split(".")[0].split("[")[0] for field in fields}
    refused |= {field.split(".")[1] for field in fields if field.startswith("aws_attributes.")}
    missing = [name for name in (*OPERATOR_FIELDS, "cluster_json") if name not in refused]
    assert missing == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"num_workers": " 3 "}, {"num_workers": 3}, id="number-text"),
        pytest.param({"num_workers": 3.0}, {"num_workers": 3}, id="integral-float"),
        pytest.param(
            {"num_workers": "None", "autoscale": "[1, 2]"},
            {"autoscale": {"min_workers": 1, "max_workers": 2}},
            id="none-and-list-text",
        ),
        pytest.param(
            {"num_workers": "null", "autoscale": "(1, 2)"},
            {"autoscale": {"min_workers": 1, "max_workers": 2}},
            id="null-and-tuple-text",
        ),
        pytest.param({"enable_elastic_disk": "True"}, {"enable_elastic_disk": True}, id="bool-text"),
        pytest.param(
            {"spark_conf": '{"a": 1, "b": true}'}, {"spark_conf": {"a": "1", "b": "true"}}, id="map-json-text"
        ),
        pytest.param(
            {"custom_tags": "{'team': 'data'}"}, {"custom_tags": {"team": "data"}}, id="map-python-text"
        ),
        pytest.param(
            {"init_scripts": "['s3://b/i.sh']"},
            {"init_scripts": [{"s3": {"destination": "s3://b/i.sh"}}]},
            id="list-python-text",
        ),
        pytest.param(
            {"ssh_public_keys": '["ssh-ed25519 AAAA"]'},
            {"ssh_public_keys": ["ssh-ed25519 AAAA"]},
            id="keys-json-text",
        ),
        pytest.param(
            {"docker_image": '{"url": "repo/image:1"}'},
            {"docker_image": {"url": "repo/image:1"}},
            id="docker-json-text",
        ),
        pytest.param(
            {"availability": " spot_with_fallback\n"},
            {"aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}},
            id="enum-case-and-newline",
        ),
        pytest.param(
            {"zone_id": "None", "first_on_demand": "1"},
            {"aws_attributes": {"first_on_demand": 1}},
            id="aws-none-and-number-text",
        ),
        pytest.param(
            {"cluster_name": "ETL ✓ クラスタ"}, {"cluster_name": "ETL ✓ クラスタ"}, id="unicode-name"
        ),
        # The API documents no limit on a name: a long one goes to the workspace as it is.
        pytest.param({"cluster_name": BIG}, {"cluster_name": BIG}, id="10KB-name"),
        pytest.param(
            {"spark_conf": {"spark.driver.extraJavaOptions": "-Da=1\n-Db=2"}},
            {"spark_conf": {"spark.driver.extraJavaOptions": "-Da=1\n-Db=2"}},
            id="conf-newline",
        ),
        pytest.param({"cluster_json": "None"}, {"num_workers": 1}, id="cluster_json-rendered-none"),
        pytest.param({"cluster_json": ""}, {"num_workers": 1}, id="cluster_json-empty"),
        pytest.param(
            {"cluster_json": str({"num_workers": 2})}, {"num_workers": 1}, id="cluster_json-python-text"
        ),
    ],
)
def test_what_templating_makes_of_a_value_is_read_as_meant(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    spec = build(fields)
    assert {key: spec.get(key) for key in expected} == expected
    if "autoscale" in expected:
        assert "num_workers" not in spec
