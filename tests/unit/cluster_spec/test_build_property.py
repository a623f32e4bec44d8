"""Specs the builder accepts (within what the workspace offers), the emulated workspace accepts too, unless
the pre-flight checks that read the spec alone refuse them first (as they do an init script on DBFS, which
a workspace refuses since its end of life, before any call).

Runtimes, node types, zones and instance profiles are drawn from the emulator's catalog: which of them a
workspace offers is the workspace's knowledge, not a client's.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.catalog import Catalog
from airflow_databricks_clusters.emulator.validation import validate_create
from airflow_databricks_clusters.preflight.results import Outcome
from airflow_databricks_clusters.preflight.spec_rules import init_scripts_results

CATALOG = Catalog()
text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20)


@st.composite
def cluster_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "spark_version": draw(st.sampled_from(sorted(CATALOG.spark_version_keys()))),
        "node_type_id": draw(st.sampled_from(sorted(CATALOG.node_types))),
        "cluster_name": draw(text),
    }
    if draw(st.booleans()):
        low = draw(st.integers(0, 10))
        size: Any = (low, draw(st.integers(low + 1, 20)))
        fields["autoscale"] = draw(st.sampled_from([size, list(size), f"{size[0]},{size[1]}"]))
    else:
        fields["num_workers"] = draw(st.one_of(st.integers(0, 50), st.integers(0, 50).map(str)))
    optional = {
        "availability": st.sampled_from(["SPOT", "ON_DEMAND", "SPOT_WITH_FALLBACK", "spot_with_fallback"]),
        "first_on_demand": st.integers(0, 5),
        "spot_bid_price_percent": st.one_of(st.integers(1, 10000), st.integers(1, 100).map(str)),
        "zone_id": st.sampled_from([*CATALOG.zones, "auto"]),
        "instance_profile_arn": st.sampled_from(CATALOG.instance_profiles),
        "autotermination_minutes": st.one_of(st.just(0), st.integers(10, 10000)),
        "enable_elastic_disk": st.sampled_from([True, False, "true", "false"]),
        "custom_tags": st.dictionaries(text, text, max_size=10),
        "spark_conf": st.dictionaries(text, st.one_of(text, st.integers(), st.booleans()), max_size=5),
        "spark_env_vars": st.dictionaries(text.map(str.upper), text, max_size=5),
        "docker_image": st.sampled_from(
            [
                "repo/image:1",
                "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/team/etl:2026.11.24",
                {
                    "url": "ghcr.io/org/img@sha256:" + "a" * 64,
                    "basic_auth": {"username": "u", "password": "p"},
                },
            ]
        ),
        "init_scripts": st.lists(
            st.sampled_from(["s3://b/i.sh", "dbfs:/i.sh", "/Workspace/i.sh"]), max_size=3
        ),
        "runtime_engine": st.sampled_from(["NULL", "STANDARD", "PHOTON"]),
        "data_security_mode": st.sampled_from(["SINGLE_USER", "USER_ISOLATION", "NONE"]),
        "ssh_public_keys": st.lists(st.just("ssh-ed25519 AAAA"), max_size=10),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            fields[name] = draw(strategy)
    if draw(st.booleans()):
        fields["ebs_volume_type"] = draw(st.sampled_from(["GENERAL_PURPOSE_SSD", "THROUGHPUT_OPTIMIZED_HDD"]))
        fields["ebs_volume_count"] = draw(st.integers(1, 10))
        fields["ebs_volume_size"] = draw(st.integers(500, 4096))
    if draw(st.booleans()):
        fields["cluster_log_conf"] = draw(
            st.sampled_from(["dbfs:/logs", {"s3": {"destination": "s3://l", "region": "us-east-1"}}])
        )
    return fields


@settings(max_examples=300, deadline=None)
@given(cluster_fields(), st.booleans())
def test_specs_the_builder_accepts_the_workspace_accepts(fields: dict[str, Any], single_node: bool) -> None:
    if single_node:
        fields.pop("autoscale", None)
        fields.pop("num_workers", None)
    spec = build_cluster_spec(single_node=single_node, tags={"airflow_dag_id": "d"}, **fields)
    refused_first = [r for r in init_scripts_results(spec) if r.outcome is Outcome.FAILED]
    try:
        assert validate_create(spec, CATALOG)
    except ApiError as err:
        assert refused_first, f"the workspace refuses a spec the builder and pre-flight pass: {err}"
        assert err.error_code == "FEATURE_DISABLED" and "DBFS" in err.message
