"""The spark_version and runtime_support pre-flight checks' decisions (no I/O): a runtime the workspace
does not offer is named, called retired when it is older than every offered runtime of its variant, and the
offered ones listed; a runtime past its end of support is refused, one within 90 days of it warned about,
each on a day the test gives (never the real date)."""

from __future__ import annotations

from datetime import date

import pytest

from airflow_databricks_clusters.preflight.results import Outcome
from airflow_databricks_clusters.preflight.runtimes import (
    END_OF_SUPPORT,
    is_retired,
    runtime_result,
    runtime_version,
    support_result,
)

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


# -- runtime_support: the end of support, on the day the check runs ---------------------------------------


def test_the_end_of_support_dates_are_the_release_notes_ones() -> None:
    # The facts file's months (18 to 2029-06, 17.3 LTS 2028-10, ...), to the day the release notes give.
    assert {f"{v[0]}.{v[1]}": d.isoformat() for v, d in END_OF_SUPPORT.items() if v >= (13, 3)} == {
        "18.0": "2029-06-10",
        "17.3": "2028-10-22",
        "16.4": "2028-05-09",
        "15.4": "2027-08-19",
        "14.3": "2027-02-01",
        "13.3": "2026-08-22",
    }


@pytest.mark.parametrize(
    ("key", "today", "outcome"),
    [
        ("15.4.x-scala2.12", date(2026, 12, 1), Outcome.PASSED),
        ("15.4.x-scala2.12", date(2027, 5, 20), Outcome.PASSED),  # 91 days before
        ("15.4.x-scala2.12", date(2027, 5, 21), Outcome.WARNING),  # 90 days before
        ("15.4.x-photon-scala2.12", date(2027, 8, 18), Outcome.WARNING),  # the last supported day
        ("15.4.x-cpu-ml-scala2.12", date(2027, 8, 19), Outcome.FAILED),  # the end-of-support day
        ("14.3.x-scala2.12", date(2026, 12, 1), Outcome.WARNING),
        ("13.3.x-scala2.12", date(2026, 12, 1), Outcome.FAILED),
        ("18.x-scala2.13", date(2029, 6, 9), Outcome.WARNING),
        ("18.x-scala2.13", date(2026, 12, 1), Outcome.PASSED),
    ],
)
def test_refused_from_the_end_of_support_warned_90_days_before(
    key: str, today: date, outcome: Outcome
) -> None:
    result = support_result(key, today)
    assert result is not None and result.check == "runtime_support"
    assert result.outcome is outcome


@pytest.mark.parametrize("key", ["19.x-scala2.13", "17.2.x-scala2.13", "7.0.x-scala2.12", "custom-scala2.11"])
def test_a_runtime_without_a_known_end_of_support_says_nothing(key: str) -> None:
    # 19 is not LTS yet; a short-lived release and the retired 7.0 are the spark_version check's to name.
    assert support_result(key, date(2026, 12, 1)) is None


def test_the_warning_names_the_runtime_its_date_the_days_left_and_longer_supported_ones() -> None:
    result = support_result("14.3.x-scala2.12", date(2026, 12, 1))
    assert result is not None
    assert result.detail == (
        "spark_version '14.3.x-scala2.12' (Databricks Runtime 14.3) reaches its end of support on "
        "2027-02-01, in 62 days; from then on a workspace refuses it. Move to one of the runtimes "
        "supported past 2027-03-01: 18 (to 2029-06-10), 17.3 (to 2028-10-22), 16.4 (to 2028-05-09), "
        "15.4 (to 2027-08-19)"
    )


def test_the_refusal_names_the_runtime_its_date_and_what_is_allowed() -> None:
    result = support_result("13.3.x-photon-scala2.12", date(2026, 12, 1))
    assert result is not None
    assert result.detail.startswith(
        "spark_version '13.3.x-photon-scala2.12' (Databricks Runtime 13.3) reached its end of support on "
        "2026-08-22 and a workspace refuses it; allowed: runtimes supported past 2027-03-01: 18 (to "
    )
