"""The spec builder: merge, conveniences, coercion, every refusal, tags, redaction, the seed's file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import (
    build_cluster_spec,
    load_cluster_json,
    redact_spec,
    task_instance_tags,
    validate_cluster_spec,
)
from airflow_databricks_clusters.errors import SpecError

SEED = Path(__file__).resolve().parents[3] / "dags" / "clusters" / "dataengineeringe2e.json"
BASE: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
ACCOUNT = "123456789012"


def problems(**fields: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**fields)
    return [(p.field, p.allowed) for p in caught.value.problems]


def test_the_seed_file_is_the_article_json_unchanged_and_refused_only_for_its_placeholders() -> None:
    seed = json.loads(SEED.read_text())
    assert seed["num_workers"] is None and seed["autoscale"] == {"min_workers": 1, "max_workers": 2}
    found = problems(cluster_json=str(SEED))
    assert [field for field, _ in found] == ["aws_attributes.instance_profile_arn", "docker_image.url"]
    assert all("placeholder" in allowed for _, allowed in found)


def test_the_seed_file_with_the_account_filled_in_builds() -> None:
    spec = build_cluster_spec(
        cluster_json=str(SEED),
        instance_profile_arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/dataengineeringe2e-role",
        docker_image=f"{ACCOUNT}.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest",
    )
    assert "num_workers" not in spec
    assert spec["autoscale"] == {"min_workers": 1, "max_workers": 2}
    assert spec["aws_attributes"]["spot_bid_price_percent"] == 80
    assert spec["aws_attributes"]["zone_id"] == "ap-southeast-1c"
    assert spec["custom_tags"] == {"ResourceClass": "Serverless"}
    assert spec["spark_conf"]["spark.databricks.cluster.profile"] == "serverless"
    assert spec["docker_image"] == {
        "url": f"{ACCOUNT}.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest"
    }


def test_named_fields_override_and_dicts_merge_key_by_key() -> None:
    base = {
        **BASE,
        "spark_conf": {"a": "1", "b": "2"},
        "aws_attributes": {"availability": "SPOT", "zone_id": "auto"},
    }
    spec = build_cluster_spec(
        cluster_json=base,
        spark_conf={"b": "3"},
        availability="ON_DEMAND",
        num_workers=4,
        custom_tags={"team": "data"},
        tags={"airflow_dag_id": "d"},
    )
    assert spec["spark_conf"] == {"a": "1", "b": "3"}
    assert spec["aws_attributes"] == {"availability": "ON_DEMAND", "zone_id": "auto"}
    assert spec["num_workers"] == 4
    assert spec["custom_tags"] == {"team": "data", "airflow_dag_id": "d"}


def test_cluster_json_as_text_and_bad_json() -> None:
    assert build_cluster_spec(cluster_json=json.dumps(BASE))["num_workers"] == 1
    with pytest.raises(SpecError, match=r"cluster_json.*valid JSON"):
        load_cluster_json("{not json")
    with pytest.raises(SpecError, match=r"cluster_json: got '/no/such/file.json'; allowed: .*path of a JSON"):
        load_cluster_json("/no/such/file.json")


def test_conveniences_become_api_objects() -> None:
    spec = build_cluster_spec(
        **BASE,
        docker_image="repo/image:1.2",
        init_scripts=[
            "s3://b/i.sh",
            "dbfs:/i.sh",
            "/Volumes/c/s/v/i.sh",
            "/Workspace/i.sh",
            {"file": {"destination": "file:/i.sh"}},
        ],
        cluster_log_conf="s3://logs/clusters",
        zone_id="ap-southeast-1a",
    )
    assert spec["docker_image"] == {"url": "repo/image:1.2"}
    assert [next(iter(s)) for s in spec["init_scripts"]] == ["s3", "dbfs", "volumes", "workspace", "file"]
    assert spec["cluster_log_conf"] == {
        "s3": {"destination": "s3://logs/clusters", "region": "ap-southeast-1"}
    }
    assert build_cluster_spec(**BASE, cluster_log_conf="dbfs:/logs")["cluster_log_conf"] == {
        "dbfs": {"destination": "dbfs:/logs"}
    }


@pytest.mark.parametrize("autoscale", [(1, 3), [1, 3], "1,3", "1..3", {"min_workers": "1", "max_workers": 3}])
def test_autoscale_forms(autoscale: Any) -> None:
    fields = {**BASE, "num_workers": None}
    assert build_cluster_spec(**fields, autoscale=autoscale)["autoscale"] == {
        "min_workers": 1,
        "max_workers": 3,
    }


def test_templated_strings_are_coerced() -> None:
    spec = build_cluster_spec(
        **{**BASE, "num_workers": "2"},
        spot_bid_price_percent="80",
        first_on_demand="1",
        enable_elastic_disk="true",
        autotermination_minutes="120",
        spark_conf='{"spark.speculation": true, "spark.x": 5}',
    )
    assert spec["num_workers"] == 2
    assert spec["aws_attributes"] == {"spot_bid_price_percent": 80, "first_on_demand": 1}
    assert spec["enable_elastic_disk"] is True
    assert spec["autotermination_minutes"] == 120
    assert spec["spark_conf"] == {"spark.speculation": "true", "spark.x": "5"}


def test_single_node() -> None:
    spec = build_cluster_spec(spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", single_node=True)
    assert spec["num_workers"] == 0
    assert spec["spark_conf"]["spark.databricks.cluster.profile"] == "singleNode"
    assert spec["spark_conf"]["spark.master"] == "local[*]"
    assert spec["custom_tags"]["ResourceClass"] == "SingleNode"
    assert ("autoscale", "nothing: single_node has no workers") in problems(
        spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", autoscale=(1, 2), single_node=True
    )


@pytest.mark.parametrize(
    ("fields", "field", "allowed"),
    [
        ({"num_workers": "two"}, "num_workers", "an integer"),
        ({"spark_version": None}, "spark_version", "required"),
        ({"num_workers": None}, "num_workers", "required"),
        ({"autoscale": (1, 2)}, "num_workers", "not both"),
        ({"num_workers": None, "autoscale": (3, 2)}, "autoscale.max_workers", "greater than min_workers"),
        ({"node_type_id": None}, "node_type_id", "instance_pool_id"),
        ({"instance_pool_id": "pool"}, "node_type_id", "nothing when instance_pool_id"),
        ({"availability": "CHEAP"}, "aws_attributes.availability", "SPOT, ON_DEMAND, SPOT_WITH_FALLBACK"),
        ({"spot_bid_price_percent": 0}, "aws_attributes.spot_bid_price_percent", "from 1 to 10000"),
        ({"first_on_demand": -1}, "aws_attributes.first_on_demand", "from 0"),
        ({"zone_id": "moon-1"}, "aws_attributes.zone_id", "availability zone"),
        ({"instance_profile_arn": "my-role"}, "aws_attributes.instance_profile_arn", "an ARN"),
        ({"ebs_volume_type": "GOLD"}, "aws_attributes.ebs_volume_type", "GENERAL_PURPOSE_SSD"),
        ({"ebs_volume_count": 11}, "aws_attributes.ebs_volume_count", "to 10"),
        ({"ebs_volume_count": 1, "ebs_volume_size": 50}, "aws_attributes.ebs_volume_size", "100 to 4096"),
        ({"docker_image": "Not An Image!"}, "docker_image.url", "image reference"),
        (
            {"docker_image": {"url": "r/i", "basic_auth": {"username": "u"}}},
            "docker_image.basic_auth",
            "password",
        ),
        ({"autotermination_minutes": 5}, "autotermination_minutes", "10 to 10000"),
        ({"init_scripts": ["http://x/i.sh"]}, "init_scripts[0]", "s3://"),
        ({"cluster_log_conf": "http://x"}, "cluster_log_conf", "s3://"),
        ({"cluster_log_conf": "s3://b/l"}, "cluster_log_conf.s3.region", "region"),
        ({"runtime_engine": "TURBO"}, "runtime_engine", "STANDARD, PHOTON"),
        ({"data_security_mode": "OPEN"}, "data_security_mode", "SINGLE_USER"),
        ({"ssh_public_keys": ["k"] * 11}, "ssh_public_keys", "at most 10"),
        ({"custom_tags": {"bad#key": "v"}}, "custom_tags.bad#key", "tag key"),
        (
            {
                "custom_tags": {f"k{i}": "v" for i in range(42)},
                "tags": {"a": "1", "b": "2", "c": "3", "d": "4"},
            },
            "custom_tags",
            "at most 45",
        ),
        ({"enable_elastic_disk": "maybe"}, "enable_elastic_disk", "true or false"),
        ({"spark_conf": {"a": ["x"]}}, "spark_conf.a", "a string"),
        ({"clustr_name": "typo"}, "clustr_name", "a Clusters API create field"),
    ],
)
def test_refusals_name_the_field_and_what_is_allowed(
    fields: dict[str, Any], field: str, allowed: str
) -> None:
    found = problems(**{**BASE, **fields})
    assert any(f == field and allowed in a for f, a in found), found


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(spark_version="15.4.x-scala2.12", num_workers="x", availability="NO", zone_id="z")
    message = str(caught.value)
    assert "4 problems" in message
    for field in ("num_workers", "aws_attributes.availability", "aws_attributes.zone_id", "node_type_id"):
        assert field in message


def test_task_instance_tags_are_deterministic_safe_and_distinct() -> None:
    tags = task_instance_tags("etl", "create", "manual__2026-11-24T04:17:04.123456+00:00", 3)
    assert tags == task_instance_tags("etl", "create", "manual__2026-11-24T04:17:04.123456+00:00", 3)
    assert tags["airflow_run_id"] == "manual__2026-11-24T04:17:04.123456+00:00"
    assert tags["airflow_map_index"] == "3"
    odd = task_instance_tags("d", "t", "run#1", -1)["airflow_run_id"]
    assert odd != task_instance_tags("d", "t", "run_1", -1)["airflow_run_id"]
    assert "#" not in odd
    long = task_instance_tags("d", "t", "r" * 400)["airflow_run_id"]
    assert len(long) <= 255 and long != task_instance_tags("d", "t", "r" * 401)["airflow_run_id"]
    validate_cluster_spec({**BASE, "custom_tags": tags})


def test_redact_spec_hides_the_registry_password() -> None:
    spec = build_cluster_spec(
        **BASE, docker_image={"url": "r/i:1", "basic_auth": {"username": "AWS", "password": "s3cr3t"}}
    )
    assert spec["docker_image"]["basic_auth"]["password"] == "s3cr3t"
    assert "s3cr3t" not in json.dumps(redact_spec(spec))
    assert redact_spec(spec)["docker_image"]["basic_auth"] == {"username": "AWS", "password": "***"}


# -- no secret in a spec error, whatever form it came in -------------------------------------------------

PW = "s3cr3t-docker-pw"
IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1"


def spec_error(**fields: Any) -> str:
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**fields)
    text = str(caught.value) + "".join(repr(p) for p in caught.value.problems)
    assert PW not in text, text
    return text


@pytest.mark.parametrize(
    "docker_image",
    [
        {"URL": IMAGE, "basic_auth": {"username": "AWS", "password": PW}},
        {"url": IMAGE, "basic_auth": {"Username": "AWS", "Password": PW}},
        {"url": "Not An Image!", "basic_auth": {"username": "AWS", "password": PW}},
        json.dumps({"URL": IMAGE, "basic_auth": {"username": "AWS", "password": PW}}),
        str({"URL": IMAGE, "basic_auth": {"username": "AWS", "password": PW}}),
        {"url": IMAGE, "basic_auth": PW},
    ],
    ids=["mistyped-url", "wrong-case-auth", "bad-url", "json-text", "python-text", "auth-a-string"],
)
def test_a_refused_docker_image_shows_no_password(docker_image: Any) -> None:
    text = spec_error(**BASE, docker_image=docker_image)
    assert "docker_image" in text
    assert "***" in text or "basic_auth" not in text  # a refused url alone shows no auth at all


def test_secrets_under_any_secret_named_key_are_hidden_in_every_problem() -> None:
    text = spec_error(
        **BASE,
        spark_env_vars={"DB_PASSWORD": [PW]},
        spark_conf={"spark.hadoop.fs.s3a.secret.key": {"v": PW}},
        custom_tags={"api_token": PW + "#"},
        client_secret=PW,
    )
    for field in ("spark_env_vars.DB_PASSWORD", "spark_conf.spark.hadoop.fs.s3a.secret.key",
                  "custom_tags.api_token", "client_secret"):  # fmt: skip
        assert f"{field}: got '***'" in text


def test_a_bad_cluster_json_text_shows_no_password() -> None:
    text = spec_error(cluster_json='{"docker_image": {"basic_auth": {"password": "' + PW + '"}}, oops')
    assert "cluster_json" in text and "valid JSON" in text


def test_redact_spec_hides_secrets_at_any_depth() -> None:
    spec = {**BASE, "spark_env_vars": {"DB_PASSWORD": PW}, "docker_image": {"url": "r/i", "basic_auth": {
        "username": "AWS", "Password": PW}}}  # fmt: skip
    assert PW not in json.dumps(redact_spec(spec))
    assert redact_spec(spec)["spark_env_vars"] == {"DB_PASSWORD": "***"}


def test_runtime_engine_null_is_one_of_the_apis_values() -> None:
    # The Clusters API's RuntimeEngine enum is NULL, STANDARD, PHOTON; a workspace (and the emulator) takes
    # NULL, so a spec naming it is not refused here.
    spec = build_cluster_spec(**BASE, runtime_engine="NULL")
    assert spec["runtime_engine"] == "NULL"
