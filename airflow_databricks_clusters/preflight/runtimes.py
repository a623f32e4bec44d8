"""What a Databricks Runtime key says, and the spark_version pre-flight check's decision (pure).

A key such as ``15.4.x-photon-scala2.12`` names a version (15.4) and a variant (Photon). A runtime older
than every offered runtime of its variant is one the workspace stopped offering (retired), not a mistyped
one: the check says which, and lists what the workspace offers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
