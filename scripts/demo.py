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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_databricks_clusters.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "databricks_spot_cluster_pipeline"
CONF = {"min_workers": 1, "max_workers": 3, "spot_bid_price_percent": 70, "image_tag": "2026.11.24"}
# A task log line: `<time> [<level>] <message> [<logger>] loc=...`. Shown live: the plugin's own account
# of the cluster, and the downstream runs the official provider submits.
LOG_LINE = re.compile(r"^(?P<time>\S+)\s+\[(?P<level>\w+)\s*\]\s+(?P<message>.*?)\s+\[(?P<logger>[\w.]+)\]")
SHOWN_LOGGERS = ("airflow_databricks_clusters", "DatabricksSubmitRunOperator")


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
        log_path = Path(home) / "dags-test.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "-c", json.dumps(CONF)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                match = LOG_LINE.match(line)
                if match and any(name in match["logger"] for name in SHOWN_LOGGERS):
                    task = match["logger"].rsplit(".", 1)[-1].replace("Databricks", "")
                    print(f"  {match['time'][11:19]} {task:<28} {match['message'][:150]}", flush=True)
            code = proc.wait()
        ok = report(emu)
        elapsed = time.monotonic() - started
        if code == 0 and ok:
            print(
                f"\nRESULT: OK: {DAG_ID} succeeded; its one cluster ran the Spark jobs and is TERMINATED "
                f"({elapsed:.0f} s)"
            )
            return 0
        print(
            f"\nRESULT: FAILED: airflow dags test exited {code}; cluster check {'ok' if ok else 'failed'}. "
            f"Full log: see below"
        )
        print(log_path.read_text()[-6000:])
        return 1


if __name__ == "__main__":
    sys.exit(main())
