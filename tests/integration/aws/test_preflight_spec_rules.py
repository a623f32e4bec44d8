"""Pre-flight against the emulated workspace: what Databricks Container Services cannot run, init scripts
on DBFS and runtimes at their end of support are refused before any lookup; the flexible node types'
alternates must be offered, and the size of the node type they stand in for."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.preflight.checks import (
    CHECKS,
    Outcome,
    PreflightFailed,
    enforce_preflight,
    run_preflight,
)

IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:2026.11.24"
TODAY = date(2026, 12, 1)
#: The checks that read the spec alone; every other one looks something up.
SPEC_ONLY = ("container_services", "init_scripts", "runtime_support")
WORKER = "worker_node_type_flexibility"
DRIVER = "driver_node_type_flexibility"


def spec(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "cluster_name": "preflight",
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "r4.xlarge",
        "autoscale": (1, 2),
        "zone_id": "ap-southeast-1c",
        "docker_image": IMAGE,
        **overrides,
    }
    return build_cluster_spec(**fields)


def found(results: list[Any], check: str) -> list[tuple[str, str]]:
    return [(r.outcome.value, r.detail) for r in results if r.check == check]


class Lines:
    """A logger that keeps each line with its level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda message, *args: self.lines.append((level, message % args))


def test_the_spec_only_checks_run_first_and_ask_the_workspace_nothing(emu: Emulator) -> None:
    assert tuple(CHECKS)[: len(SPEC_ONLY)] == SPEC_ONLY
    bad = spec(
        data_security_mode="USER_ISOLATION",
        init_scripts=["dbfs:/init/setup.sh"],
        spark_version="13.3.x-scala2.12",
    )
    lookups = [name for name in CHECKS if name not in SPEC_ONLY]
    results = run_preflight(bad, DatabricksClustersHook(), skip=lookups, today=TODAY)
    assert [(r.check, r.outcome.value) for r in results] == [
        ("container_services", "failed"),
        ("init_scripts", "failed"),
        ("runtime_support", "failed"),
    ]
    assert emu.request_log == []


def test_what_container_services_cannot_run_is_refused_in_one_message(emu: Emulator) -> None:
    emu.workspace.catalog.node_types["m6gd.xlarge"] = (16384, 4.0, 1)  # Graviton, not offered by default
    bad = spec(
        data_security_mode="DATA_SECURITY_MODE_STANDARD",
        spark_version="15.4.x-cpu-ml-scala2.12",
        driver_node_type_id="m6gd.xlarge",
    )
    with pytest.raises(PreflightFailed) as caught:
        enforce_preflight(
            bad, DatabricksClustersHook(), aws_conn_id=None, skip=(), logger=Lines(), today=TODAY
        )
    message = str(caught.value)
    assert message.startswith("Pre-flight: 3 checks failed, the cluster was not created:")
    for expected in (
        f"container_services: docker_image {IMAGE} with data_security_mode DATA_SECURITY_MODE_STANDARD: "
        "Databricks Container Services does not run on standard (shared) access mode; allowed with a "
        "docker_image: data_security_mode DATA_SECURITY_MODE_DEDICATED (or SINGLE_USER), or NONE",
        f"container_services: docker_image {IMAGE} with spark_version 15.4.x-cpu-ml-scala2.12: Databricks "
        "Container Services does not run on Machine Learning runtimes; allowed with a docker_image: a "
        "runtime without -ml- (such as 15.4.x-scala2.12)",
        f"container_services: docker_image {IMAGE} with driver_node_type_id m6gd.xlarge: Databricks "
        "Container Services does not run on AWS Graviton instance types",
    ):
        assert expected in message
    # The workspace offers all three: only the container check refuses them.
    assert [r.check for r in caught.value.results if r.outcome is Outcome.FAILED] == [
        "container_services"
    ] * 3


def test_container_services_can_be_switched_off_by_name(emu: Emulator) -> None:
    results = run_preflight(
        spec(data_security_mode="USER_ISOLATION"),
        DatabricksClustersHook(),
        skip=["container_services"],
        today=TODAY,
    )
    assert found(results, "container_services") == []
    assert [r for r in results if r.outcome is Outcome.FAILED] == []


def test_an_init_script_on_dbfs_is_refused_by_its_place(emu: Emulator) -> None:
    scripts = ["s3://team/init/a.sh", {"dbfs": {"destination": "dbfs:/init/b.sh"}}]
    results = run_preflight(spec(init_scripts=scripts), DatabricksClustersHook(), today=TODAY)
    ((outcome, detail),) = found(results, "init_scripts")
    assert outcome == "failed"
    assert detail.startswith("init_scripts[1] dbfs:/init/b.sh: init scripts on DBFS are end of life")
    assert detail.endswith(
        "allowed: workspace files (/Workspace/...), Unity Catalog volumes (/Volumes/...) or S3 (s3://...)"
    )


def test_a_runtime_near_its_end_of_support_is_a_warning_in_the_task_log(emu: Emulator) -> None:
    logger = Lines()
    enforce_preflight(
        spec(spark_version="14.3.x-scala2.12"),
        DatabricksClustersHook(),
        aws_conn_id=None,
        skip=(),
        logger=logger,
        today=TODAY,
    )
    (warning,) = [line for level, line in logger.lines if "runtime_support" in line]
    assert ("warning", warning) in logger.lines
    assert warning.startswith(
        "Pre-flight runtime_support warning: spark_version '14.3.x-scala2.12' (Databricks Runtime 14.3) "
        "reaches its end of support on 2027-02-01, in 62 days"
    )
    (passed,) = [line for level, line in logger.lines if line.startswith("Pre-flight checks passed:")]
    assert "runtime_support" not in passed


def test_a_runtime_past_its_end_of_support_is_refused_on_that_day(emu: Emulator) -> None:
    the_day = date(2027, 8, 19)
    with pytest.raises(PreflightFailed) as caught:
        enforce_preflight(
            spec(), DatabricksClustersHook(), aws_conn_id=None, skip=(), logger=Lines(), today=the_day
        )
    (failed,) = [r for r in caught.value.results if r.outcome is Outcome.FAILED]
    assert failed.check == "runtime_support"
    assert failed.detail.startswith(
        "spark_version '15.4.x-scala2.12' (Databricks Runtime 15.4) reached its "
        "end of support on 2027-08-19 and a workspace refuses it"
    )
    # The workspace (emulated as of 2026) still lists it: only the date refuses it, and it can be skipped.
    results = run_preflight(spec(), DatabricksClustersHook(), skip=["runtime_support"], today=the_day)
    assert [r for r in results if r.outcome is Outcome.FAILED] == []


# -- flexible node types -----------------------------------------------------------------------------------


def test_offered_alternates_of_the_same_size_pass(emu: Emulator) -> None:
    # r4.xlarge: 4 vCPUs, 31232 MB. i3.xlarge the same; r5d.xlarge 32768 MB (105%).
    flexible = {
        WORKER: {"alternate_node_type_ids": ["i3.xlarge", "r5d.xlarge"]},
        DRIVER: {"alternate_node_type_ids": ["i3.2xlarge"]},
    }
    results = run_preflight(
        spec(driver_node_type_id="r4.2xlarge", cluster_json=flexible), DatabricksClustersHook(), today=TODAY
    )
    assert found(results, "node_types") == [
        ("passed", "node_type_id r4.xlarge is offered by the workspace"),
        ("passed", "driver_node_type_id r4.2xlarge is offered by the workspace"),
        ("passed", f"{WORKER}.alternate_node_type_ids[0] i3.xlarge is offered by the workspace"),
        ("passed", f"{WORKER}.alternate_node_type_ids[1] r5d.xlarge is offered by the workspace"),
        ("passed", f"{DRIVER}.alternate_node_type_ids[0] i3.2xlarge is offered by the workspace"),
        (
            "passed",
            "3 alternate node types have the vCPUs and 100-110% of the memory of the node type it "
            "stands in for",
        ),
    ]


def test_an_alternate_not_offered_or_of_another_size_is_refused(emu: Emulator) -> None:
    flexible = {
        WORKER: {"alternate_node_type_ids": ["r5n.xlarge", "m5d.xlarge", "r4.xlarge"]},
        DRIVER: {"alternate_node_type_ids": ["m5d.2xlarge"]},
    }
    bad = spec(node_type_id="r5d.xlarge", driver_node_type_id="i3.2xlarge", cluster_json=flexible)
    with pytest.raises(PreflightFailed) as caught:
        enforce_preflight(
            bad, DatabricksClustersHook(), aws_conn_id=None, skip=(), logger=Lines(), today=TODAY
        )
    failures = [r.detail for r in caught.value.results if r.outcome is Outcome.FAILED]
    assert all(r.check == "node_types" for r in caught.value.results if r.outcome is Outcome.FAILED)
    r5d = "r5d.xlarge (4 vCPUs, 32768 MB); allowed: an alternate with 4 vCPUs and 32768 to 36044 MB of memory"
    i3 = "i3.2xlarge (8 vCPUs, 62464 MB); allowed: an alternate with 8 vCPUs and 62464 to 68710 MB of memory"
    assert failures == [
        f"{WORKER}.alternate_node_type_ids[0] 'r5n.xlarge' is not offered by the workspace; close matches: "
        "r5.xlarge, r5d.xlarge, r5a.xlarge",
        f"{WORKER}.alternate_node_type_ids[1] m5d.xlarge (4 vCPUs, 16384 MB) cannot stand in for "
        f"node_type_id {r5d} (100-110%)",
        f"{WORKER}.alternate_node_type_ids[2] r4.xlarge (4 vCPUs, 31232 MB) cannot stand in for node_type_id "
        f"{r5d} (100-110%)",
        f"{DRIVER}.alternate_node_type_ids[0] m5d.2xlarge (8 vCPUs, 32768 MB) cannot stand in for "
        f"driver_node_type_id {i3} (100-110%)",
    ]


def test_the_r5d_family_alternates_pass_where_the_workspace_offers_them(emu: Emulator) -> None:
    # The emulated workspace's default offer has some of these: this one offers all of them as AWS sizes them.
    for name in ("r5.xlarge", "r5a.xlarge", "r5n.xlarge", "r6i.xlarge"):
        emu.workspace.catalog.node_types[name] = (32768, 4.0, 0)
    alternates = {
        WORKER: {"alternate_node_type_ids": ["r5.xlarge", "r5a.xlarge", "r5n.xlarge", "r6i.xlarge"]}
    }
    results = run_preflight(
        spec(node_type_id="r5d.xlarge", cluster_json=alternates), DatabricksClustersHook(), today=TODAY
    )
    assert {r.outcome for r in results if r.check == "node_types"} == {Outcome.PASSED}
    assert found(results, "node_types")[-1][1].startswith("4 alternate node types have the vCPUs")


def test_node_types_listed_without_their_sizes_skip_the_comparison_only(emu: Emulator) -> None:
    body = (
        '{"node_types": [{"node_type_id": "r4.xlarge"}, {"node_type_id": "i3.xlarge", "num_cores": 4.0, '
        '"memory_mb": 31232}]}'
    )
    emu.add_fault("malformed", path="clusters/list-node-types", body=body)
    flexible = {WORKER: {"alternate_node_type_ids": ["i3.xlarge"]}}
    results = run_preflight(spec(cluster_json=flexible), DatabricksClustersHook(), today=TODAY)
    assert found(results, "node_types") == [
        ("passed", "node_type_id r4.xlarge is offered by the workspace"),
        ("passed", f"{WORKER}.alternate_node_type_ids[0] i3.xlarge is offered by the workspace"),
        (
            "skipped",
            f"{WORKER}.alternate_node_type_ids[0] i3.xlarge not compared with node_type_id r4.xlarge: "
            "clusters/list-node-types gives no num_cores and memory_mb for r4.xlarge",
        ),
    ]
