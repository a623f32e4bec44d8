"""What a leak sweep does with one live cluster: terminate it, keep it, or ignore it, and why. Pure.

A cluster made by ``DatabricksCreateClusterOperator`` carries tags naming its task instance (``spec.
task_instance_tags``). When that task dies with no retry left (a SIGKILLed worker with ``retries=0``: the
setup fails, its teardown is upstream_failed and never runs) or its DAG run is deleted, nothing in Airflow
will ever terminate the cluster. ``decide`` reads one cluster (its ``clusters/list`` entry), what Airflow
said of its task instance (``Lookup``), the time and an age floor, and answers a ``Verdict``:

- **ignore**: no task instance tags (not this plugin's), another workspace user's cluster, a DAG outside
  the sweep's ``dag_ids``, or tags that cannot be mapped back to a task instance (below);
- **keep**: younger than the age floor; its task instance still running, deferred, queued, scheduled, up
  for retry or reschedule, restarting, without a state or unknown; a create that succeeded while its DAG
  run still runs (the pipeline is using the cluster; its teardown terminates it); a lookup that failed;
- **terminate**: its task instance failed, upstream_failed, skipped or removed; it succeeded and its DAG
  run has finished (the teardown did not terminate it); or its DAG run no longer exists.

Tag values are what ``cluster_spec.build._tag_value`` made of the ids: an id with characters Databricks
refuses, or longer than 255, is rewritten (``_`` for each such character, cut, and ``-`` with 8 hex digits
of its SHA-256 appended), so it cannot be turned back into the id. A run looked up under a rewritten value is
never found, which must not read as "the run is gone": a value that may be such a rewrite is trusted only
when Airflow found what it names.

No I/O and no Airflow import: the Airflow glue (``sweeper.py``) does the listing, the lookups and the
terminating, and reports what these verdicts say.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.cluster_spec.build import TAG_DAG_ID, TAG_MAP_INDEX, TAG_RUN_ID, TAG_TASK_ID
from airflow_databricks_clusters.errors import SpecProblem

#: The tags that name a task instance, in the order a person reads them.
TASK_INSTANCE_TAGS = (TAG_DAG_ID, TAG_RUN_ID, TAG_TASK_ID, TAG_MAP_INDEX)
#: Task instance states in which the task may still use (or come back to) its cluster.
ACTIVE_TASK_STATES = frozenset(
    {"running", "deferred", "queued", "scheduled", "up_for_retry", "up_for_reschedule", "restarting"}
)
#: Task instance states after which no try of the create task will use its cluster again (short of a
#: person clearing it, and a cleared one is reused by its tags, terminated or not).
ENDED_TASK_STATES = frozenset({"failed", "upstream_failed", "skipped", "removed"})
SUCCESS = "success"
#: DAG run states in which the run's tasks (and the teardown that terminates the cluster) are still to run.
ACTIVE_RUN_STATES = ("queued", "running")

# spec._tag_value's rewrite ends with "-" and the first 8 hex digits of the id's SHA-256.
_REWRITE_SUFFIX = re.compile(r"-[0-9a-f]{8}\Z")


class Action(str, enum.Enum):
    TERMINATE = "terminate"
    KEEP = "keep"
    IGNORE = "ignore"


@dataclass(frozen=True)
class TaskInstanceRef:
    """The task instance a cluster's tags name, as the tags spell it."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int

    @property
    def state_key(self) -> str:
        """The key of this task instance in the Task SDK's ``get_task_states`` answer (per run id)."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}_{self.map_index}"

    def __str__(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}/{self.run_id}/{self.task_id}{mapped}"


class RunStatus(enum.Enum):
    """What is known of the DAG run of a cluster's task instance."""

    ACTIVE = "active"  # queued or running
    FINISHED = "finished"
    GONE = "gone"  # no such run in Airflow's metadata (deleted, or the whole DAG deleted)
    UNKNOWN = "unknown"  # not asked, or the run exists and its state was not needed


@dataclass(frozen=True)
class Lookup:
    """What Airflow said of a cluster's task instance.

    ``task_found``: Airflow has the task instance, and ``task_state`` is its state (None: no state yet).
    ``error``: the lookup failed (the cluster is kept; a sweep never acts on what it could not read).
    """

    task_found: bool = False
    task_state: str | None = None
    run: RunStatus = RunStatus.UNKNOWN
    error: str | None = None

    @classmethod
    def failed(cls, error: str) -> Lookup:
        return cls(error=error)

    @classmethod
    def run_gone(cls) -> Lookup:
        return cls(run=RunStatus.GONE)

    @classmethod
    def of_task(cls, state: str | None, run: RunStatus = RunStatus.UNKNOWN) -> Lookup:
        return cls(task_found=True, task_state=state, run=run)

    @classmethod
    def no_task(cls) -> Lookup:
        """The run exists, the task instance does not (yet: a mapped task not expanded, say)."""
        return cls(run=RunStatus.UNKNOWN)

    def describe(self) -> str | None:
        """The task instance's state as a report shows it."""
        if self.error is not None:
            return "unreadable"
        if self.run is RunStatus.GONE:
            return "dag_run_gone"
        if not self.task_found:
            return "not_found"
        return self.task_state or "none"


@dataclass(frozen=True)
class Verdict:
    """What a sweep does with one cluster, and why, for a person reading the log or the report."""

    action: Action
    reason: str
    cluster_id: str
    cluster_name: str | None = None
    cluster_state: str | None = None
    task_instance: TaskInstanceRef | None = None
    task_state: str | None = None

    def report_entry(self) -> dict[str, Any]:
        """The JSON-able entry of the sweep's report."""
        ref = self.task_instance
        return {
            "cluster_id": self.cluster_id,
            "cluster_name": self.cluster_name,
            "cluster_state": self.cluster_state,
            "dag_id": ref.dag_id if ref else None,
            "run_id": ref.run_id if ref else None,
            "task_id": ref.task_id if ref else None,
            "map_index": ref.map_index if ref else None,
            "state": self.task_state,
            "reason": self.reason,
        }

    def log_line(self, done: str) -> str:
        """One line: the cluster, its task instance and state, what was ``done`` with it, and why."""
        who = f"task instance {self.task_instance} ({self.task_state})" if self.task_instance else "no task"
        name = f" {self.cluster_name!r}" if self.cluster_name else ""
        return f"Cluster {self.cluster_id}{name} [{self.cluster_state}], {who}: {done}: {self.reason}"


def state_name(state: Any) -> str | None:
    """A task instance's or DAG run's state as its plain name: the Task SDK answers strings, the ORM and
    in-process execution answer str enums (read by their value)."""
    value = getattr(state, "value", state)
    return None if value is None else str(value)


def could_be_rewritten(value: str) -> bool:
    """Whether a tag value may be ``cluster_spec.build._tag_value``'s rewrite of an id rather than the id
    itself."""
    return bool(_REWRITE_SUFFIX.search(value))


def _verdict(
    action: Action,
    reason: str,
    cluster: Mapping[str, Any],
    ref: TaskInstanceRef | None = None,
    state: str | None = None,
) -> Verdict:
    return Verdict(
        action=action,
        reason=reason,
        cluster_id=str(cluster.get("cluster_id", "")),
        cluster_name=cluster.get("cluster_name"),
        cluster_state=cluster.get("state"),
        task_instance=ref,
        task_state=state,
    )


def identify(
    cluster: Mapping[str, Any], *, owner: str, dag_ids: Collection[str] | None = None
) -> TaskInstanceRef | Verdict:
    """The task instance a cluster's tags name, or the verdict to ignore it (not the sweep's to judge).

    ``owner``: the workspace user (or service principal) of the sweep's connection; only the clusters it
    created are judged, so a cluster cloned in the UI with its tags, or one another Airflow made with the
    same tags under its own user, is never touched. ``dag_ids``: only the clusters of these DAGs.
    """
    tags = cluster.get("custom_tags")
    tags = tags if isinstance(tags, Mapping) else {}
    present = [name for name in TASK_INSTANCE_TAGS if isinstance(tags.get(name), str) and tags[name]]
    if not present:
        return _verdict(Action.IGNORE, "no task instance tags: not a cluster of this plugin", cluster)
    if len(present) < len(TASK_INSTANCE_TAGS):
        missing = ", ".join(name for name in TASK_INSTANCE_TAGS if name not in present)
        return _verdict(Action.IGNORE, f"task instance tags incomplete (no {missing}): not mapped", cluster)
    map_index = tags[TAG_MAP_INDEX]
    if not re.fullmatch(r"-1|0|[1-9][0-9]*", map_index):
        return _verdict(
            Action.IGNORE, f"{TAG_MAP_INDEX}={map_index!r} is not a map index: not mapped", cluster
        )
    ref = TaskInstanceRef(tags[TAG_DAG_ID], tags[TAG_TASK_ID], tags[TAG_RUN_ID], int(map_index))
    creator = cluster.get("creator_user_name")
    if creator != owner:
        return _verdict(
            Action.IGNORE,
            f"created by {creator or 'an unknown user'}, not by {owner} (this connection's user): "
            "another user's clusters are never swept",
            cluster,
            ref,
        )
    if dag_ids is not None and ref.dag_id not in dag_ids:
        return _verdict(Action.IGNORE, f"DAG {ref.dag_id} is not among the sweep's dag_ids", cluster, ref)
    return ref


def _rewritten(ref: TaskInstanceRef, names: Iterable[str]) -> list[str]:
    values = {TAG_DAG_ID: ref.dag_id, TAG_TASK_ID: ref.task_id, TAG_RUN_ID: ref.run_id}
    return [f"{name}={values[name]}" for name in names if could_be_rewritten(values[name])]


def _unmappable(rewritten: list[str], what: str) -> str:
    return (
        f"{what}, and {' and '.join(rewritten)} may be a rewritten tag value (an id with characters "
        "Databricks refuses or over 255 long, hashed), so it cannot be mapped back to its task instance"
    )


def decide(
    cluster: Mapping[str, Any],
    lookup: Lookup | None,
    *,
    now: float,
    min_age_minutes: float,
    owner: str,
    dag_ids: Collection[str] | None = None,
) -> Verdict:
    """Terminate, keep or ignore one live cluster; see the module's docstring.

    :param cluster: its ``clusters/list`` entry (``cluster_id``, ``state``, ``start_time`` in epoch ms,
        ``creator_user_name``, ``custom_tags``).
    :param lookup: what Airflow said of the task instance its tags name (None: not looked up).
    :param now: the time, in epoch seconds.
    :param min_age_minutes: clusters that started less than this long ago are kept whatever else is known;
        0 is no floor, also for a workspace whose clock runs ahead of Airflow's.
    """
    ref = identify(cluster, owner=owner, dag_ids=dag_ids)
    if isinstance(ref, Verdict):
        return ref
    state = lookup.describe() if lookup is not None else None
    start_ms = cluster.get("start_time")
    if not isinstance(start_ms, int | float) or isinstance(start_ms, bool):
        return _verdict(Action.KEEP, "no start_time: its age is unknown", cluster, ref, state)
    age_minutes = (now - start_ms / 1000.0) / 60.0
    if min_age_minutes > 0 and age_minutes < min_age_minutes:
        why = f"started {max(age_minutes, 0.0):.1f} min ago, under the {min_age_minutes:g} min age floor"
        return _verdict(Action.KEEP, why, cluster, ref, state)
    if lookup is None:
        return _verdict(Action.KEEP, "its task instance was not looked up", cluster, ref, state)
    if lookup.error is not None:
        why = f"its task instance could not be read ({lookup.error}): kept until it can be"
        return _verdict(Action.KEEP, why, cluster, ref, state)
    if lookup.run is RunStatus.GONE:
        rewritten = _rewritten(ref, (TAG_DAG_ID, TAG_RUN_ID))
        if rewritten:
            why = _unmappable(rewritten, f"Airflow has no DAG run {ref.dag_id}/{ref.run_id}")
            return _verdict(Action.IGNORE, why, cluster, ref, state)
        why = f"its DAG run {ref.dag_id}/{ref.run_id} no longer exists: none of its tasks will terminate it"
        return _verdict(Action.TERMINATE, why, cluster, ref, state)
    if not lookup.task_found:
        rewritten = _rewritten(ref, (TAG_TASK_ID,))
        what = f"its DAG run exists but has no task instance {ref.task_id} (map index {ref.map_index})"
        if rewritten:
            return _verdict(Action.IGNORE, _unmappable(rewritten, what), cluster, ref, state)
        return _verdict(Action.KEEP, f"{what}: its state is unknown", cluster, ref, state)
    ti_state = lookup.task_state
    if ti_state is None or ti_state in ACTIVE_TASK_STATES:
        shown = f"is {ti_state}" if ti_state else "has no state yet"
        why = f"its task instance {shown}: a try of it may still use it"
        return _verdict(Action.KEEP, why, cluster, ref, state)
    if ti_state in ENDED_TASK_STATES:
        why = (
            f"its task instance ended {ti_state}: nothing will use the cluster, and a setup that did not "
            "succeed never runs its teardown"
        )
        return _verdict(Action.TERMINATE, why, cluster, ref, state)
    if ti_state == SUCCESS:
        if lookup.run is RunStatus.FINISHED:
            why = (
                "its task instance succeeded and its DAG run has finished: the teardown did not terminate it"
            )
            return _verdict(Action.TERMINATE, why, cluster, ref, state)
        if lookup.run is RunStatus.ACTIVE:
            why = "its task instance succeeded and its DAG run is still running: in use until its teardown"
            return _verdict(Action.KEEP, why, cluster, ref, state)
        why = "its task instance succeeded and whether its DAG run still runs is unknown"
        return _verdict(Action.KEEP, why, cluster, ref, state)
    return _verdict(
        Action.KEEP, f"its task instance is in a state unknown to the sweep ({ti_state})", cluster, ref, state
    )


# -- the sweep's parameters and its report -----------------------------------------------------------------


@dataclass(frozen=True)
class SweepSettings:
    min_age_minutes: float
    dry_run: bool
    dag_ids: frozenset[str] | None


def parse_settings(min_age_minutes: Any, dry_run: Any, dag_ids: Any) -> SweepSettings:
    """The sweep's parameters as they arrive rendered (a trigger form's values may be text); raise
    ``ValueError`` naming every bad one and what it allows."""
    problems: list[SpecProblem] = []
    age = _number(min_age_minutes)
    if age is None or not math.isfinite(age) or age < 0:
        problems.append(SpecProblem("min_age_minutes", min_age_minutes, "a number of minutes >= 0"))
    dry = _boolean(dry_run)
    if dry is None:
        problems.append(SpecProblem("dry_run", dry_run, "true or false"))
    ids: frozenset[str] | None = None
    try:
        ids = _names(dag_ids)
    except ValueError:
        problems.append(SpecProblem("dag_ids", dag_ids, "a list of DAG ids, or a comma-separated text"))
    if problems:
        raise ValueError("Invalid sweep parameters:\n" + "\n".join(f"  - {p}" for p in problems))
    assert age is not None and dry is not None
    return SweepSettings(age, dry, ids)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in ("true", "1", "yes") else False if text in ("false", "0", "no") else None


def _names(value: Any) -> frozenset[str] | None:
    """DAG ids from None, a list, JSON list text or comma-separated text; None: every DAG.

    Raises ``ValueError`` for anything else."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None", "null", "[]")):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as err:
                raise ValueError(text) from err
        else:
            value = text.split(",")
    if not isinstance(value, Sequence | set | frozenset) or not all(isinstance(v, str) for v in value):
        raise ValueError(value)
    names = frozenset(v.strip() for v in value if v.strip())
    return names or None


#: Report lists, in the order a person reads them.
REPORT_LISTS = ("terminated", "would_terminate", "not_terminated", "kept", "ignored")


def sweep_report(
    verdicts: Iterable[Verdict], settings: SweepSettings, terminated: Collection[str], *, seconds: float
) -> dict[str, Any]:
    """The sweep's report (its XCom): which clusters it terminated, would terminate (dry run), could not
    terminate (the call was refused), kept and ignored, each with its task instance and why, and how many
    ``seconds`` the sweep took."""
    report: dict[str, Any] = {
        "seconds": round(seconds, 1),
        "dry_run": settings.dry_run,
        "min_age_minutes": settings.min_age_minutes,
        "dag_ids": sorted(settings.dag_ids) if settings.dag_ids is not None else None,
        **{name: [] for name in REPORT_LISTS},
    }
    for verdict in verdicts:
        report[report_list(verdict, settings.dry_run, terminated)].append(verdict.report_entry())
    return report


def report_list(verdict: Verdict, dry_run: bool, terminated: Collection[str]) -> str:
    """Which list of the report a verdict goes to, once the terminate calls (if any) were made."""
    if verdict.action is Action.KEEP:
        return "kept"
    if verdict.action is Action.IGNORE:
        return "ignored"
    if dry_run:
        return "would_terminate"
    return "terminated" if verdict.cluster_id in terminated else "not_terminated"


def summary(report: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{len(report[name])} {name.replace('_', ' ')}" for name in REPORT_LISTS)
    dry = " (dry run)" if report["dry_run"] else ""
    return f"Leak sweep{dry} in {report['seconds']:.1f} s: {counts}"
