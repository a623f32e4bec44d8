"""Cluster-scoped init scripts on the emulated driver: which ran and how, what the events say, their logs.

Databricks runs a cluster's init scripts one after the other once the container is up and before Spark
starts; the first that exits non-zero ends the start with ``INIT_SCRIPT_FAILURE``. Each script leaves a
``.stdout.log`` and a ``.stderr.log`` under ``init_scripts/<cluster_id>_<container ip, "." -> "_">/``,
named ``<start, yyyyMMdd_HHmmss UTC>_<position, two digits>_<script file name>``. The emulator runs them
on the driver only, so there is one such folder. Plain data in and out: runs sit in the workspace's
planned steps, which are saved as JSON.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

#: What a failing script writes to stderr unless the ``init_script_failure`` scenario says otherwise.
DEFAULT_FAILURE_STDERR = (
    "+ pip install --quiet --no-cache-dir pyodbc==4.0.39\n"
    "ERROR: Could not find a version that satisfies the requirement pyodbc==4.0.39 (from versions: none)\n"
    "ERROR: No matching distribution found for pyodbc==4.0.39\n"
)
FAILURE_EXIT_STATUS = 1


class ScriptRun(TypedDict):
    """One script's run: the ``init_scripts`` entry, when it started (epoch s), how long, how it ended."""

    script: dict[str, Any]
    started: float
    seconds: float
    status: str  # SUCCEEDED | FAILED_EXECUTION, as InitScriptInfoAndExecutionDetails.status
    stderr: str


def plan_runs(
    scripts: Sequence[Mapping[str, Any]],
    *,
    started: float,
    seconds: float,
    failing: int | None = None,
    failure_stderr: str = DEFAULT_FAILURE_STDERR,
) -> list[ScriptRun]:
    """The runs of ``scripts`` in order, sharing ``seconds`` from ``started``.

    With ``failing`` (a position, clamped to the list) the scripts run up to that one, which fails
    writing ``failure_stderr``; the ones after it never run.
    """
    last = len(scripts) - 1
    failed_at = None if failing is None else min(max(failing, 0), last)
    runs = scripts if failed_at is None else scripts[: failed_at + 1]
    each = seconds / len(runs)
    return [
        ScriptRun(
            script=copy.deepcopy(dict(script)),
            started=started + position * each,
            seconds=each,
            status="FAILED_EXECUTION" if position == failed_at else "SUCCEEDED",
            stderr=failure_stderr if position == failed_at else "",
        )
        for position, script in enumerate(runs)
    ]


def label(script: Mapping[str, Any]) -> str:
    """``kind:destination`` as Databricks names a script in messages, e.g. ``s3:s3://bucket/init.sh``; a
    ``dbfs`` script by its ``dbfs:/`` path alone."""
    ((kind, target),) = script.items()
    destination = str(target["destination"])
    if kind == "dbfs":
        return destination if destination.startswith("dbfs:") else f"dbfs:{destination}"
    return f"{kind}:{destination}"


def file_name(script: Mapping[str, Any]) -> str:
    """The script's file name, the last part of its destination."""
    ((_, target),) = script.items()
    return str(target["destination"]).rstrip("/").rsplit("/", 1)[-1]


def failure_message(run: ScriptRun) -> str:
    """The ``databricks_error_message`` of the INIT_SCRIPT_FAILURE termination this run causes."""
    return f"Cluster scoped init script {label(run['script'])} failed: Script exit status is non-zero"


def missing_file(run: ScriptRun) -> ScriptRun:
    """The run of a script whose file is not there: it fails at once, saying so on stderr."""
    ((_, target),) = run["script"].items()
    path = str(target["destination"]).removeprefix("dbfs:")
    return ScriptRun(
        script=run["script"],
        started=run["started"],
        seconds=0.0,
        status="FAILED_EXECUTION",
        stderr=f"{path}: No such file or directory\n",
    )


def missing_file_message(run: ScriptRun) -> str:
    """The ``databricks_error_message`` of the INIT_SCRIPT_FAILURE a missing script file causes."""
    ((_, target),) = run["script"].items()
    path = str(target["destination"]).removeprefix("dbfs:")
    return f"Cluster scoped init script {label(run['script'])} failed: {path}: No such file or directory"


def started_details(scripts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``details`` of INIT_SCRIPTS_STARTED: the scripts about to run."""
    return {"init_scripts": {"cluster": [copy.deepcopy(dict(script)) for script in scripts]}}


def finished_details(runs: Sequence[ScriptRun], node_ip: str) -> dict[str, Any]:
    """The ``details`` of INIT_SCRIPTS_FINISHED: each script with its status and duration, and the node."""
    cluster = [
        {
            **copy.deepcopy(run["script"]),
            "status": run["status"],
            "execution_duration_seconds": round(run["seconds"]),
        }
        for run in runs
    ]
    return {"init_scripts": {"cluster": cluster, "reported_for_node": node_ip}}


def log_files(cluster_id: str, node_ip: str, runs: Sequence[ScriptRun]) -> dict[str, str]:
    """Each run's stdout and stderr log, by path under ``<destination>/<cluster_id>/``."""
    folder = f"init_scripts/{cluster_id}_{node_ip.replace('.', '_')}"
    files: dict[str, str] = {}
    for position, run in enumerate(runs):
        name = file_name(run["script"])
        stem = f"{folder}/{time.strftime('%Y%m%d_%H%M%S', time.gmtime(run['started']))}_{position:02d}_{name}"
        stdout = f"Running {name} on {node_ip}\n"
        stderr = run["stderr"]
        if run["status"] == "SUCCEEDED":
            stdout += f"{name} finished in {round(run['seconds'])} s\n"
        else:
            if stderr and not stderr.endswith("\n"):
                stderr += "\n"
            stderr += f"Script exit status is non-zero: {FAILURE_EXIT_STATUS}\n"
        files[f"{stem}.stdout.log"] = stdout
        files[f"{stem}.stderr.log"] = stderr
    return files
