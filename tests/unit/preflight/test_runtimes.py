"""The spark_version pre-flight check's decision (no I/O): a runtime the workspace does not offer is named,
called retired when it is older than every offered runtime of its variant, and the offered ones listed."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.preflight.results import Outcome
from airflow_databricks_clusters.preflight.runtimes import is_retired, runtime_result, runtime_version

OFFERED = [
    "14.3.x-scala2.12",
    "14.3.x-photon-scala2.12",
    "17.3.x-scala2.13",
    "18.x-scala2.13",
    "16.4.x-cpu-ml-scala2.12",
    "apache-spark-3.5.x-scala2.12",
]
#: ``OFFERED`` as the failure lists it: newest first, a key with no version last.
LISTING = (
    "offered runtimes: 18.x-scala2.13, 17.3.x-scala2.13, 16.4.x-cpu-ml-scala2.12, 14.3.x-scala2.12, "
    "14.3.x-photon-scala2.12, apache-spark-3.5.x-scala2.12"
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("7.0.x-scala2.12", ((7, 0), "")),
        ("15.4.x-photon-scala2.12", ((15, 4), "photon-")),
        ("15.4.x-cpu-ml-scala2.12", ((15, 4), "cpu-ml-")),
        ("15.4.x-aarch64-photon-scala2.12", ((15, 4), "aarch64-photon-")),
        ("18.x-scala2.13", ((18, 0), "")),  # from 18 on, a runtime is addressed by its major alone
        ("apache-spark-3.5.x-scala2.12", None),
        ("custom-scala2.11", None),
        ("99.x", None),
        ("15.4", None),
    ],
)
def test_a_runtime_key_reads_as_its_version_and_variant(
    key: str, expected: tuple[tuple[int, int], str] | None
) -> None:
    assert runtime_version(key) == expected


@pytest.mark.parametrize(
    ("key", "retired"),
    [
        ("7.0.x-scala2.12", True),  # the source article's runtime
        ("13.3.x-scala2.12", True),  # minor below the oldest offered
        ("12.2.x-photon-scala2.12", True),  # compared with the Photon runtimes offered
        ("10.4.x-cpu-ml-scala2.12", True),
        ("14.3.x-scala2.13", False),  # as new as the oldest offered: a wrong key, not a retired runtime
        ("15.4.x-scala2.13", False),
        ("99.1.x-scala2.13", False),  # newer than anything offered
        ("14.3.x-gpu-ml-scala2.12", False),  # no offered runtime of that variant to compare with
        ("1.0", False),  # not a runtime key at all
    ],
)
def test_retired_means_older_than_every_offered_runtime_of_its_variant(key: str, retired: bool) -> None:
    assert is_retired(key, OFFERED) is retired


def test_an_offered_runtime_passes() -> None:
    result = runtime_result("17.3.x-scala2.13", OFFERED)
    assert result.outcome is Outcome.PASSED


def test_a_retired_runtime_is_named_called_retired_and_the_offered_ones_listed_newest_first() -> None:
    result = runtime_result("7.0.x-scala2.12", OFFERED)
    assert result.outcome is Outcome.FAILED
    assert result.detail == (
        "spark_version '7.0.x-scala2.12' is a retired runtime, older than every runtime of its kind the "
        f"workspace offers (a workspace refuses it at create); {LISTING}"
    )


def test_a_mistyped_runtime_gets_its_close_matches_and_the_offered_list_not_retired() -> None:
    result = runtime_result("17.3.x-scala2.12", OFFERED)
    assert result.outcome is Outcome.FAILED
    assert result.detail.startswith(
        "spark_version '17.3.x-scala2.12' is not offered by the workspace; close matches: 17.3.x-scala2.13"
    )
    assert "retired" not in result.detail
    assert result.detail.endswith(f"; {LISTING}")
