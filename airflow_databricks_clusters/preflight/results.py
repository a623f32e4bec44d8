"""What a pre-flight check found, and how every finding is reported. Pure: no I/O, no Airflow import.

Apart from the checks themselves (``checks.py``, which look things up in the workspace and, through
``aws.py``, in AWS), so that ``aws.py`` can report results without importing the checks, and a DAG file can
name checks to skip (``CHECK_NAMES``) without loading them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airflow_databricks_clusters.errors import DatabricksClustersError

#: The name of every check, as ``skip_preflight_checks`` takes them: first those that read the spec alone
#: (and the date), then those that look things up in the workspace and AWS.
CHECK_NAMES: tuple[str, ...] = (
    "container_services",
    "init_scripts",
    "runtime_support",
    "spark_version",
    "node_types",
    "zone",
    "instance_profile",
    "instance_pool",
    "policy",
    "ecr_image",
    "s3_log_bucket",
)


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    #: The check found something to act on soon (a runtime near its end of support), not a reason to fail.
    WARNING = "warning"


@dataclass(frozen=True)
class CheckResult:
    """What one check found: its name, the outcome and a sentence a person can act on."""

    check: str
    outcome: Outcome
    detail: str

    @classmethod
    def passed(cls, check: str, detail: str) -> CheckResult:
        return cls(check, Outcome.PASSED, detail)

    @classmethod
    def failed(cls, check: str, detail: str) -> CheckResult:
        return cls(check, Outcome.FAILED, detail)

    @classmethod
    def skipped(cls, check: str, detail: str) -> CheckResult:
        return cls(check, Outcome.SKIPPED, detail)

    @classmethod
    def warning(cls, check: str, detail: str) -> CheckResult:
        return cls(check, Outcome.WARNING, detail)

    def __str__(self) -> str:
        return f"{self.check} {self.outcome.value}: {self.detail}"


class PreflightFailed(DatabricksClustersError):
    """One or more pre-flight checks failed. Lists every failure, then the checks that were skipped, then
    the warnings."""

    def __init__(self, results: Sequence[CheckResult]) -> None:
        self.results = tuple(results)
        failures = [r for r in self.results if r.outcome is Outcome.FAILED]
        noun = "check" if len(failures) == 1 else "checks"
        lines = [f"Pre-flight: {len(failures)} {noun} failed, the cluster was not created:"]
        lines += [f"  - {r.check}: {r.detail}" for r in failures]
        for outcome, heading in ((Outcome.SKIPPED, "Skipped (not checked):"), (Outcome.WARNING, "Warnings:")):
            found = [r for r in self.results if r.outcome is outcome]
            if found:
                lines.append(heading)
                lines += [f"  - {r.check}: {r.detail}" for r in found]
        super().__init__("\n".join(lines))


def report_lines(results: Sequence[CheckResult]) -> list[tuple[Outcome, str]]:
    """What the task log says about the checks, each line with the outcome it reports (its log level).

    One line names every check that passed in full; then one line for each part that failed, could not
    run, or warns. A check of several parts (the instance profile: registered in the workspace, and in
    IAM) that passed in part is not named as passed: what did pass is said at the end of its first other
    line.
    """
    # Each check's parts that passed, in the order they ran.
    passed_parts: dict[str, list[str]] = {}
    for result in results:
        if result.outcome is Outcome.PASSED:
            passed_parts.setdefault(result.check, []).append(result.detail)
    not_in_full = {r.check for r in results if r.outcome is not Outcome.PASSED}
    in_full = sorted(set(passed_parts) - not_in_full)
    lines = [(Outcome.PASSED, f"Pre-flight checks passed: {', '.join(in_full) or 'none'}")]
    for result in results:
        if result.outcome is Outcome.PASSED:
            continue
        line = f"Pre-flight {result}"
        also = passed_parts.pop(result.check, None)
        if also:
            line += f" (passed: {'; '.join(also)})"
        lines.append((result.outcome, line))
    return lines


def validate_check_names(names: Iterable[str], field: str = "skip_preflight_checks") -> tuple[str, ...]:
    """Refuse names that are not checks, naming the field and the allowed values."""
    given = (names,) if isinstance(names, str) else tuple(names)
    unknown = [name for name in given if name not in CHECK_NAMES]
    if unknown:
        raise ValueError(f"{field}: got {unknown!r}; allowed: any of {', '.join(CHECK_NAMES)}")
    return given


def raise_on_failure(results: Sequence[CheckResult]) -> None:
    """``PreflightFailed`` listing every failure (and what was skipped), if any check failed."""
    if any(r.outcome is Outcome.FAILED for r in results):
        raise PreflightFailed(results)
