"""`make demo`: the example pipeline end to end against the embedded emulator, told as it happens.

Starts an emulated Databricks workspace, a throw-away Airflow home (SQLite), runs
`airflow dags test databricks_spot_cluster_pipeline` with a trigger-form conf, then shows what a person
wants to see: the cluster spec the workspace received, its state changes with times, the downstream Spark
runs, the termination, and a one-line result. Exits non-zero when anything failed; leaves no process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from airflow_databricks_clusters.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "databricks_spot_cluster_pipeline"
CONF = {"min_workers": 1, "max_workers": 3, "spot_bid_price_percent": 70, "image_tag": "2026.11.24"}
# A task log record: `<time> [<level>] <message> [<logger>] loc=...`, its message on one line or several
# (the logger tag then ends the last one). Shown live: the plugin's own account of the cluster, and the
# downstream runs the official provider submits.
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\dT\S+\s+\[\w+\s*\]")
LOG_RECORD = re.compile(
    r"^(?P<time>\S+)\s+\[(?P<level>\w+)\s*\]\s+(?P<message>.*?)\s+\[(?P<logger>[\w.]+)\](?=\s+loc=|\s*$)",
    re.DOTALL,
)
SHOWN_LOGGERS = ("airflow_databricks_clusters", "DatabricksSubmitRunOperator")
#: The columns before a shown message: two spaces, the time, the task and a space each.
TASK_WIDTH = 28
MESSAGE_INDENT = " " * (2 + 8 + 1 + TASK_WIDTH + 1)
#: How many characters of the log a failed run prints (the whole log is kept in a file).
FAILED_LOG_TAIL = 6000


def log_records(lines: Iterable[str]) -> Iterator[str]:
    """The log's records, each with the lines that continue it (a message of several lines, a traceback)."""
    record: list[str] = []
    for line in lines:
        if RECORD_START.match(line) and record:
            yield "".join(record)
            record = []
        record.append(line)
    if record:
        yield "".join(record)


def shown_lines(time_of_day: str, task: str, message: str, width: int) -> list[str]:
    """A message as the demo shows it: time and task in their columns, then the whole message, wrapped at
    ``width`` columns under its own column (a long word split), never cut."""
    room = max(width - len(MESSAGE_INDENT), 40)
    pieces: list[str] = []
    for line in message.splitlines() or [""]:
        pieces += textwrap.wrap(line, room, break_on_hyphens=False) or [""]
    first = f"  {time_of_day:<8} {task:<{TASK_WIDTH}} {pieces[0]}"
    return [first.rstrip()] + [f"{MESSAGE_INDENT}{piece}".rstrip() for piece in pieces[1:]]


def shown_record(record: str, width: int) -> list[str]:
    """The lines the demo prints for a log record: none for a logger it does not follow."""
    match = LOG_RECORD.match(record)
    if not match or not any(name in match["logger"] for name in SHOWN_LOGGERS):
        return []
    task = match["logger"].rsplit(".", 1)[-1].replace("Databricks", "")
    return shown_lines(match["time"][11:19], task, match["message"], width)


def log_tail(text: str, limit: int) -> str:
    """The end of a log, from the start of a line, at most ``limit`` characters, saying how much of the whole
    it is when it is not all of it."""
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    tail = tail[tail.find("\n") + 1 :]
    return f"Its last {len(tail)} of {len(text)} characters:\n{tail}"


def airflow_env(home: str, emu: Emulator) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "DATABRICKS_CLUSTER_POLL_SECONDS": "1",
            "AIRFLOW_CONN_DATABRICKS_DEFAULT": emu.connection_env(),
        }
    )
    return env


def ms(value: int | None, since: int) -> str:
    return f"+{(value - since) / 1000:6.1f} s" if value else "        "


def report(emu: Emulator) -> bool:
    clusters = list(emu.clusters.values())
    ok = True
    for cluster in clusters:
        cid = cluster["cluster_id"]
        print(f"\n== Cluster {cid} ({cluster.get('cluster_name')})")
        print("Spec the workspace received:")
        print(json.dumps(cluster.get("spec", {}), indent=2, sort_keys=True))
        events = emu.workspace.clusters_events({"cluster_id": cid, "order": "ASC", "limit": 500})["events"]
        start = events[0]["timestamp"] if events else 0
        print("State changes and events:")
        for event in events:
            details = event.get("details") or {}
            # The spec was printed above: an event's copy of it (attributes) would only repeat it.
            hidden = ("user", "attributes", "previous_attributes")
            shown = ", ".join(f"{k}={v}" for k, v in sorted(details.items()) if k not in hidden)
            print(f"  {ms(event['timestamp'], start)}  {event['type']:<22} {shown}")
        reason = cluster.get("termination_reason") or {}
        print(f"Final state: {cluster['state']} ({reason.get('code', 'no reason')})")
        ok = ok and cluster["state"] == "TERMINATED"
    print("\n== Spark runs on the cluster")
    for run in emu.runs.all_runs():
        state = run["state"]
        on = ", ".join(sorted({str(t.get("existing_cluster_id")) for t in run.get("tasks", [])}))
        print(
            f"  run {run['run_id']} {run.get('run_name', '')!r} on {on}: "
            f"{state.get('life_cycle_state')} {state.get('result_state', '')}"
        )
    return ok and len(clusters) == 1


def main() -> int:
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="adc-demo-") as home,
        Emulator(start_seconds=4.0, terminate_seconds=1.0) as emu,
    ):
        env = airflow_env(home, emu)
        print(f"Emulated Databricks workspace at {emu.url}; Airflow home {home}")
        print("Preparing the Airflow metadata database ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"Running {DAG_ID} with conf {json.dumps(CONF)}\n", flush=True)
        # Outside the Airflow home, which is deleted at the end: a failed run's log stays to be read.
        log_fd, log_name = tempfile.mkstemp(prefix="adc-demo-", suffix=".log")
        os.close(log_fd)
        log_path = Path(log_name)
        width = shutil.get_terminal_size((120, 24)).columns
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "-c", json.dumps(CONF)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None

            def logged(lines: Iterable[str]) -> Iterator[str]:
                for line in lines:
                    log.write(line)
                    yield line

            for record in log_records(logged(proc.stdout)):
                for shown in shown_record(record, width):
                    print(shown, flush=True)
            code = proc.wait()
        ok = report(emu)
        elapsed = time.monotonic() - started
        if code == 0 and ok:
            log_path.unlink()
            print(
                f"\nRESULT: OK: {DAG_ID} succeeded; its one cluster ran the Spark jobs and is TERMINATED "
                f"({elapsed:.0f} s)"
            )
            return 0
        print(
            f"\nRESULT: FAILED: airflow dags test exited {code}; cluster check {'ok' if ok else 'failed'}. "
            f"Full log: {log_path}"
        )
        print(log_tail(log_path.read_text(), FAILED_LOG_TAIL))
        return 1


if __name__ == "__main__":
    sys.exit(main())
