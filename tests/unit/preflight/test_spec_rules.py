"""The pre-flight rules read from the spec alone (no I/O): what Databricks Container Services cannot run
(standard access mode, Machine Learning runtimes, AWS Graviton instance types), init scripts on DBFS, and
the flexible node types' size rule, over real AWS instance type names."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.preflight.results import Outcome
from airflow_databricks_clusters.preflight.spec_rules import (
    alternate_sizes,
    container_services_results,
    fits,
    init_scripts_results,
    is_gpu,
    is_graviton,
    is_ml_runtime,
)

IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1"
BASE: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r5d.xlarge", "num_workers": 2}

GRAVITON = [
    "m6g.xlarge",
    "m6gd.xlarge",
    "m7g.2xlarge",
    "m7gd.large",
    "m8g.xlarge",
    "r6g.xlarge",
    "r6gd.2xlarge",
    "r7g.xlarge",
    "r7gd.4xlarge",
    "r8g.xlarge",
    "c6g.xlarge",
    "c6gd.xlarge",
    "c6gn.2xlarge",
    "c7g.xlarge",
    "c7gd.xlarge",
    "c7gn.xlarge",
    "i4g.2xlarge",
    "im4gn.xlarge",
    "is4gen.xlarge",
    "x2gd.xlarge",
    "t4g.medium",
    "g5g.xlarge",
    "hpc7g.16xlarge",
    "a1.xlarge",
    "M6GD.XLARGE",
]
NOT_GRAVITON = [
    "m5d.xlarge",
    "m5.xlarge",
    "m5a.xlarge",
    "m5n.xlarge",
    "m5zn.xlarge",
    "m6i.xlarge",
    "m6id.xlarge",
    "m7i-flex.xlarge",
    "r5d.xlarge",
    "r5dn.xlarge",
    "r6id.xlarge",
    "r7iz.xlarge",
    "c5d.xlarge",
    "i3.xlarge",
    "i3en.xlarge",
    "i4i.xlarge",
    "x2idn.16xlarge",
    "x2iedn.xlarge",
    "z1d.xlarge",
    "d3en.xlarge",
    "g4dn.xlarge",
    "g4ad.xlarge",
    "g5.xlarge",
    "g6.xlarge",
    "g6e.xlarge",
    "gr6.4xlarge",
    "p3.2xlarge",
    "p4d.24xlarge",
    "p5.48xlarge",
    "u7i-12tb.224xlarge",
    "md-fleet.xlarge",
    "r-fleet.xlarge",
    "",
]


@pytest.mark.parametrize("node_type", GRAVITON)
def test_graviton_families_have_a_g_after_the_generation_digit(node_type: str) -> None:
    assert is_graviton(node_type)


@pytest.mark.parametrize("node_type", NOT_GRAVITON)
def test_x86_families_are_not_graviton_the_gpu_series_g_included(node_type: str) -> None:
    assert not is_graviton(node_type)


@pytest.mark.parametrize(
    ("node_type", "gpu"),
    [
        ("g4dn.xlarge", True),
        ("g5.xlarge", True),
        ("g5g.xlarge", True),
        ("g6e.xlarge", True),
        ("gr6.4xlarge", True),
        ("p3.2xlarge", True),
        ("p4d.24xlarge", True),
        ("p5.48xlarge", True),
        ("m6gd.xlarge", False),
        ("i3.xlarge", False),
        ("r5d.xlarge", False),
        ("md-fleet.xlarge", False),
    ],
)
def test_gpu_instance_types(node_type: str, gpu: bool) -> None:
    assert is_gpu(node_type) is gpu


@pytest.mark.parametrize(
    ("key", "ml"),
    [
        ("15.4.x-cpu-ml-scala2.12", True),
        ("16.4.x-gpu-ml-scala2.12", True),
        ("18.x-cpu-ml-scala2.13", True),
        ("15.4.x-scala2.12", False),
        ("15.4.x-photon-scala2.12", False),
        ("17.3.x-aarch64-scala2.13", False),
    ],
)
def test_ml_runtimes_are_the_keys_with_ml(key: str, ml: bool) -> None:
    assert is_ml_runtime(key) is ml


def container(**fields: Any) -> list[tuple[str, str]]:
    """The container_services findings for a built spec with an image: (outcome, detail)."""
    spec = build_cluster_spec(**{**BASE, "docker_image": IMAGE, **fields})
    return [(r.outcome.value, r.detail) for r in container_services_results(spec)]


def test_no_image_no_finding() -> None:
    assert container_services_results(build_cluster_spec(**BASE, data_security_mode="USER_ISOLATION")) == []


def test_an_image_on_dedicated_mode_a_plain_runtime_and_x86_passes() -> None:
    for mode in (None, "SINGLE_USER", "DATA_SECURITY_MODE_DEDICATED", "NONE"):
        assert container(data_security_mode=mode) == [
            ("passed", f"docker_image {IMAGE} can run on this access mode, runtime and these node types")
        ]


@pytest.mark.parametrize("mode", ["USER_ISOLATION", "DATA_SECURITY_MODE_STANDARD", "user_isolation"])
def test_standard_access_mode_is_refused_naming_both_fields_and_what_is_allowed(mode: str) -> None:
    assert container(data_security_mode=mode) == [
        (
            "failed",
            f"docker_image {IMAGE} with data_security_mode {mode.upper()}: Databricks Container "
            "Services does not run on standard (shared) access mode; allowed with a docker_image: "
            "data_security_mode DATA_SECURITY_MODE_DEDICATED (or SINGLE_USER), or NONE",
        )
    ]


def test_auto_access_mode_warns_where_the_docs_say_it_picks_standard() -> None:
    (found,) = container(data_security_mode="DATA_SECURITY_MODE_AUTO")
    assert found[0] == "warning"
    assert found[1].startswith(
        f"docker_image {IMAGE} with data_security_mode DATA_SECURITY_MODE_AUTO: for "
        "spark_version 15.4.x-scala2.12 on non-GPU node types AUTO picks standard"
    )
    assert found[1].endswith("give data_security_mode DATA_SECURITY_MODE_DEDICATED (or SINGLE_USER), or NONE")
    # Where AUTO picks dedicated (a GPU node type, a runtime before 14.3), there is nothing to say.
    assert container(data_security_mode="DATA_SECURITY_MODE_AUTO", node_type_id="g5.xlarge")[0][0] == "passed"
    assert container(data_security_mode="DATA_SECURITY_MODE_AUTO", spark_version="13.3.x-scala2.12")[0][
        0
    ] == ("passed")


@pytest.mark.parametrize(
    ("key", "plain"),
    [("15.4.x-cpu-ml-scala2.12", "15.4.x-scala2.12"), ("16.4.x-gpu-ml-scala2.12", "16.4.x-scala2.12")],
)
def test_a_machine_learning_runtime_is_refused_with_its_plain_counterpart(key: str, plain: str) -> None:
    assert container(spark_version=key) == [
        (
            "failed",
            f"docker_image {IMAGE} with spark_version {key}: Databricks Container Services does not "
            f"run on Machine Learning runtimes; allowed with a docker_image: a runtime without -ml- (such as "
            f"{plain})",
        )
    ]


@pytest.mark.parametrize("value", [True, "true", "True"])
def test_use_ml_runtime_is_refused(value: Any) -> None:
    (found,) = container(cluster_json={"use_ml_runtime": value})
    assert found[0] == "failed"
    assert found[1].startswith(f"docker_image {IMAGE} with use_ml_runtime {value}: ")
    assert found[1].endswith("allowed with a docker_image: use_ml_runtime false, or none")
    assert container(cluster_json={"use_ml_runtime": False})[0][0] == "passed"


def test_every_graviton_node_type_is_named_by_its_field() -> None:
    found = container(
        node_type_id="r6gd.xlarge",
        driver_node_type_id="m6gd.xlarge",
        cluster_json={
            "worker_node_type_flexibility": {"alternate_node_type_ids": ["r5.xlarge", "r7gd.xlarge"]},
            "driver_node_type_flexibility": {"alternate_node_type_ids": ["m7g.xlarge"]},
        },
    )
    named = [detail.split(": ")[0] for _, detail in found]
    assert named == [
        f"docker_image {IMAGE} with node_type_id r6gd.xlarge",
        f"docker_image {IMAGE} with driver_node_type_id m6gd.xlarge",
        f"docker_image {IMAGE} with worker_node_type_flexibility.alternate_node_type_ids[1] r7gd.xlarge",
        f"docker_image {IMAGE} with driver_node_type_flexibility.alternate_node_type_ids[0] m7g.xlarge",
    ]
    assert all(outcome == "failed" for outcome, _ in found)
    assert found[0][1].endswith(
        "Databricks Container Services does not run on AWS Graviton instance types; allowed with a "
        "docker_image: an x86 (Intel or AMD) type, no 'g' after the generation digit: m6id, not m6gd"
    )


def test_every_problem_is_one_finding() -> None:
    found = container(
        data_security_mode="USER_ISOLATION",
        spark_version="15.4.x-cpu-ml-scala2.12",
        node_type_id="m6gd.xlarge",
    )
    assert [outcome for outcome, _ in found] == ["failed", "failed", "failed"]


# -- init_scripts --------------------------------------------------------------------------------------------


def test_init_scripts_on_dbfs_are_refused_naming_their_place_and_what_is_allowed() -> None:
    spec = build_cluster_spec(
        **BASE,
        init_scripts=[
            "s3://team/init/a.sh",
            "dbfs:/init/b.sh",
            {"dbfs": {"destination": "dbfs:/init/c.sh"}},
            "/Workspace/Shared/d.sh",
            "/Volumes/main/default/init/e.sh",
        ],
    )
    found = [(r.outcome, r.detail) for r in init_scripts_results(spec)]
    allowed = (
        "init scripts on DBFS are end of life and a workspace refuses them; allowed: workspace files "
        "(/Workspace/...), Unity Catalog volumes (/Volumes/...) or S3 (s3://...)"
    )
    assert found == [
        (Outcome.FAILED, f"init_scripts[1] dbfs:/init/b.sh: {allowed}"),
        (Outcome.FAILED, f"init_scripts[2] dbfs:/init/c.sh: {allowed}"),
    ]


def test_init_scripts_elsewhere_pass_and_none_say_nothing() -> None:
    spec = build_cluster_spec(**BASE, init_scripts=["s3://team/init/a.sh", "/Workspace/Shared/d.sh"])
    assert [r.outcome for r in init_scripts_results(spec)] == [Outcome.PASSED]
    assert init_scripts_results(build_cluster_spec(**BASE)) == []
    assert init_scripts_results(build_cluster_spec(**BASE, init_scripts=[])) == []


# -- the alternates' sizes ---------------------------------------------------------------------------------

#: (num_cores, memory_mb) as clusters/list-node-types gives them for these AWS instance types.
SIZES: dict[str, tuple[float, int]] = {
    "r5d.xlarge": (4.0, 32768),
    "r5.xlarge": (4.0, 32768),
    "r5a.xlarge": (4.0, 32768),
    "r5n.xlarge": (4.0, 32768),
    "r6i.xlarge": (4.0, 32768),
    "r4.xlarge": (4.0, 31232),
    "i3.xlarge": (4.0, 31232),
    "m5d.xlarge": (4.0, 16384),
    "r5d.2xlarge": (8.0, 65536),
    "x1e.xlarge": (4.0, 124928),
}
NODE_TYPES = {name: {"node_type_id": name, "num_cores": c, "memory_mb": m} for name, (c, m) in SIZES.items()}


@pytest.mark.parametrize(
    ("alternate", "primary", "fit"),
    [
        ((4.0, 32768), (4.0, 32768), True),
        ((4.0, 32768), (4.0, 31232), True),
        ((4.0, 34355), (4.0, 31232), True),
        ((4.0, 34356), (4.0, 31232), False),
        ((4.0, 31232), (4.0, 32768), False),
        ((8.0, 32768), (4.0, 32768), False),
        ((4.0, 16384), (4.0, 31232), False),
    ],
)
def test_an_alternate_fits_with_the_same_vcpus_and_100_to_110_percent_of_the_memory(
    alternate: tuple[float, int], primary: tuple[float, int], fit: bool
) -> None:
    assert fits(alternate, primary) is fit


def flexible(worker: list[str], driver: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    cluster_json: dict[str, Any] = {"worker_node_type_flexibility": {"alternate_node_type_ids": worker}}
    if driver is not None:
        cluster_json["driver_node_type_flexibility"] = {"alternate_node_type_ids": driver}
    return build_cluster_spec(**{**BASE, **fields}, cluster_json=cluster_json)


def test_same_size_alternates_pass_in_one_line() -> None:
    spec = flexible(["r5.xlarge", "r5a.xlarge", "r5n.xlarge", "r6i.xlarge"])
    assert [(r.outcome, r.detail) for r in alternate_sizes(spec, NODE_TYPES)] == [
        (
            Outcome.PASSED,
            "4 alternate node types have the vCPUs and 100-110% of the memory of the node type "
            "it stands in for",
        )
    ]


def test_an_alternate_of_other_cores_or_memory_is_refused_naming_both_and_their_sizes() -> None:
    spec = flexible(["r5.xlarge", "r4.xlarge", "r5d.2xlarge", "x1e.xlarge"])
    found = [(r.outcome, r.detail) for r in alternate_sizes(spec, NODE_TYPES)]
    allowed = "allowed: an alternate with 4 vCPUs and 32768 to 36044 MB of memory (100-110%)"
    path = "worker_node_type_flexibility.alternate_node_type_ids"
    assert found == [
        (
            Outcome.FAILED,
            f"{path}[1] r4.xlarge (4 vCPUs, 31232 MB) cannot stand in for node_type_id "
            f"r5d.xlarge (4 vCPUs, 32768 MB); {allowed}",
        ),
        (
            Outcome.FAILED,
            f"{path}[2] r5d.2xlarge (8 vCPUs, 65536 MB) cannot stand in for node_type_id "
            f"r5d.xlarge (4 vCPUs, 32768 MB); {allowed}",
        ),
        (
            Outcome.FAILED,
            f"{path}[3] x1e.xlarge (4 vCPUs, 124928 MB) cannot stand in for node_type_id "
            f"r5d.xlarge (4 vCPUs, 32768 MB); {allowed}",
        ),
        (
            Outcome.PASSED,
            "1 alternate node type has the vCPUs and 100-110% of the memory of the node type "
            "it stands in for",
        ),
    ]


def test_the_drivers_alternates_are_measured_against_its_own_node_type_or_else_the_workers() -> None:
    own = flexible([], ["r5d.xlarge"], driver_node_type_id="r5d.2xlarge")
    (found,) = alternate_sizes(own, NODE_TYPES)
    assert found.outcome is Outcome.FAILED
    assert "cannot stand in for driver_node_type_id r5d.2xlarge (8 vCPUs, 65536 MB)" in found.detail
    workers = flexible([], ["m5d.xlarge"])
    (found,) = alternate_sizes(workers, NODE_TYPES)
    assert "cannot stand in for node_type_id (the driver's, as no driver_node_type_id is given) " in (
        found.detail
    )


def test_what_the_workspace_does_not_list_is_left_to_the_offer_check() -> None:
    assert alternate_sizes(flexible(["r5.xlarge"], node_type_id="r5dn.xlarge"), NODE_TYPES) == []
    assert alternate_sizes(flexible(["r7i.xlarge"]), NODE_TYPES) == []
    assert alternate_sizes(build_cluster_spec(**BASE), NODE_TYPES) == []


def test_a_node_type_listed_without_its_size_skips_the_comparison() -> None:
    unsized = {**NODE_TYPES, "r5.xlarge": {"node_type_id": "r5.xlarge", "num_cores": 4.0}}
    (found,) = alternate_sizes(flexible(["r5.xlarge"]), unsized)
    assert found.outcome is Outcome.SKIPPED
    assert found.detail == (
        "worker_node_type_flexibility.alternate_node_type_ids[0] r5.xlarge not compared with node_type_id "
        "r5d.xlarge: clusters/list-node-types gives no num_cores and memory_mb for r5.xlarge"
    )
