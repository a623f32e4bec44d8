"""What a Databricks Runtime key says, and the decisions of the spark_version and runtime_support
pre-flight checks (pure).

A key such as ``15.4.x-photon-scala2.12`` names a version (15.4) and a variant (Photon). A runtime older
than every offered runtime of its variant is one the workspace stopped offering (retired), not a mistyped
one: the check says which, and lists what the workspace offers. A version's end of support is the same for
all its variants (Photon, ML): past it a workspace refuses the runtime, and within ``SUPPORT_WARNING_DAYS``
of it the task log says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

from airflow_databricks_clusters.preflight.results import CheckResult

# A runtime key: "15.4.x-photon-scala2.12"; from 18 on a runtime is addressed by its major alone
# ("18.x-scala2.13"). Between the version and the Scala version, the variant: "" (plain), "photon-",
# "cpu-ml-", "gpu-ml-", "aarch64-"... Keys of other shapes ("apache-spark-3.5.x-scala2.12") have no version.
_RUNTIME_KEY = re.compile(
    r"^(?P<major>\d+)\.(?:(?P<minor>\d+)\.)?x-(?P<variant>(?:[a-z0-9]+-)*?)scala\d+\.\d+$"
)


def runtime_version(key: str) -> tuple[tuple[int, int], str] | None:
    """The (major, minor) version and the variant of a runtime key, or None for a key of another shape:
    ``15.4.x-photon-scala2.12`` is ((15, 4), "photon-"), ``18.x-scala2.13`` ((18, 0), "")."""
    found = _RUNTIME_KEY.match(key)
    if found is None:
        return None
    return (int(found["major"]), int(found["minor"] or 0)), found["variant"]


def _version_of(key: str) -> tuple[int, int]:
    found = runtime_version(key)
    return found[0] if found else (-1, -1)  # a key with no version sorts as the oldest


def is_retired(key: str, offered: Iterable[str]) -> bool:
    """Whether ``key`` is a runtime older than every offered runtime of its variant (a plain runtime is
    compared with the plain ones, a Photon one with the Photon ones): one the workspace stopped offering,
    not a mistyped one. False when that cannot be told: a key of another shape, or no offered runtime of
    its variant."""
    given = runtime_version(key)
    if given is None:
        return False
    version, variant = given
    same_variant = [found[0] for found in map(runtime_version, offered) if found and found[1] == variant]
    return bool(same_variant) and version < min(same_variant)


def runtime_result(given: str, offered: Iterable[str]) -> CheckResult:
    """The spark_version check's finding: passed when the workspace offers ``given``; otherwise failed,
    naming it, saying whether it is retired (``is_retired``) or else what it is close to, and listing every
    runtime the workspace offers, newest first."""
    # Imported here: only a runtime that is not offered needs it (this module loads with preflight/checks.py
    # when a create runs, not at DAG parse time).
    import difflib

    offered = list(offered)
    if given in offered:
        return CheckResult.passed("spark_version", f"spark_version {given} is offered by the workspace")
    listing = f"offered runtimes: {', '.join(sorted(offered, key=_version_of, reverse=True))}"
    if is_retired(given, offered):
        return CheckResult.failed(
            "spark_version",
            f"spark_version {given!r} is a retired runtime, older than every runtime of its kind the "
            f"workspace offers (a workspace refuses it at create); {listing}",
        )
    close = difflib.get_close_matches(given, offered, n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return CheckResult.failed(
        "spark_version", f"spark_version {given!r} is not offered by the workspace{hint}; {listing}"
    )


#: Each Databricks Runtime version's end-of-support date, from the Databricks Runtime release notes'
#: "versions and compatibility" page (its table of supported releases, 2026; the LTS releases before 13.3
#: from its earlier editions). A version not here (19, not LTS yet; a short-lived non-LTS release) has no
#: date this plugin knows: the check says nothing of it. Refresh with each LTS release.
END_OF_SUPPORT: dict[tuple[int, int], date] = {
    (18, 0): date(2029, 6, 10),
    (17, 3): date(2028, 10, 22),
    (16, 4): date(2028, 5, 9),
    (15, 4): date(2027, 8, 19),
    (14, 3): date(2027, 2, 1),
    (13, 3): date(2026, 8, 22),
    (12, 2): date(2026, 3, 1),
    (11, 3): date(2025, 10, 19),
    (10, 4): date(2025, 3, 18),
    (9, 1): date(2024, 9, 23),
}
#: How many days before a runtime's end of support the check warns: a quarter, time to move a DAG on.
SUPPORT_WARNING_DAYS = 90


def _label(version: tuple[int, int]) -> str:
    return f"{version[0]}" if version[0] >= 18 and version[1] == 0 else f"{version[0]}.{version[1]}"


def support_result(key: str, today: date) -> CheckResult | None:
    """The runtime_support check's finding on ``today``: failed from the runtime's end-of-support day on,
    a warning within ``SUPPORT_WARNING_DAYS`` before it, passed before that; None for a runtime whose
    end of support is not known. A failure or a warning names the runtimes supported for longer."""
    found = runtime_version(key)
    ends = END_OF_SUPPORT.get(found[0]) if found else None
    if found is None or ends is None:
        return None
    label = f"spark_version {key!r} (Databricks Runtime {_label(found[0])})"
    horizon = today + timedelta(days=SUPPORT_WARNING_DAYS)
    lasting = [
        f"{_label(v)} (to {d.isoformat()})"
        for v, d in sorted(END_OF_SUPPORT.items(), reverse=True)
        if d > horizon
    ]
    newer = f"runtimes supported past {horizon.isoformat()}: {', '.join(lasting) or 'none this plugin knows'}"
    if today >= ends:
        return CheckResult.failed(
            "runtime_support",
            f"{label} reached its end of support on "
            f"{ends.isoformat()} and a workspace refuses it; allowed: {newer}",
        )
    if ends <= horizon:
        days = (ends - today).days
        return CheckResult.warning(
            "runtime_support",
            f"{label} reaches its end of support on "
            f"{ends.isoformat()}, in {days} days; from then on a workspace refuses "
            f"it. Move to one of the {newer}",
        )
    return CheckResult.passed("runtime_support", f"spark_version {key} is supported until {ends.isoformat()}")
