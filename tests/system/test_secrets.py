"""No secret anywhere a real Airflow keeps things: one run of ``secrets_everywhere`` (tests/system/dags/)
on PostgreSQL, with the PAT of ``databricks_default``, an OAuth service principal's client secret (and the
tokens minted for it), and a docker registry password in every form a user can give one. Then every task
log file and component log, every XCom (REST API), ``rendered_task_instance_fields``, ``xcom``, the
``trigger`` rows seen while the run went (decrypted) and every other table's data, and the exception text
of the refused task, are searched for each clear secret.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from typing import Any

import pytest
from local_airflow import AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator

pytestmark = pytest.mark.system
DAG_ID = "secrets_everywhere"
CREATED = ("create_dict", "create_json_text", "create_json_file", "create_json_file_absolute",
           "create_docker_json_text", "create_oauth_spark_env")  # fmt: skip
REFUSED = ("create_mistyped",)
OAUTH_CONNECTION = "secrets_oauth"


def psql(airflow: AirflowDeployment, sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", airflow.database, "-At", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def every_table(airflow: AirflowDeployment) -> str:
    """The data of every table but those holding the secrets on purpose (encrypted, at that)."""
    return subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", "--exclude-table-data=variable",
         "--exclude-table-data=connection", airflow.database],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def decrypted(airflow: AirflowDeployment, encrypted: set[str]) -> str:
    """Trigger kwargs as the triggerer reads them (encrypted with the deployment's Fernet key)."""
    script = (
        "import json, sys\n"
        "from airflow.models.trigger import Trigger\n"
        "for kwargs in json.load(sys.stdin):\n"
        "    print(Trigger._decrypt_kwargs(kwargs))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(sorted(encrypted)),
        env=airflow.env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def wait_watching_triggers(
    airflow: AirflowDeployment, run_id: str, timeout: float = 300
) -> tuple[str, set[str]]:
    """Wait for the run, collecting every trigger row's kwargs while they exist (they go when done)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen |= {line for line in psql(airflow, "SELECT kwargs FROM trigger").splitlines() if line}
        state = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        if state in ("success", "failed"):
            return str(state), seen
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish within {timeout:.0f} s")


def xcoms(airflow: AirflowDeployment, run_id: str) -> list[Any]:
    entries = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/~/xcomEntries")
    return [airflow.xcom(DAG_ID, run_id, entry["task_id"], entry["key"]) for entry in entries["xcom_entries"]]


def test_no_secret_reaches_a_log_an_xcom_a_table_or_an_error(
    airflow: AirflowDeployment, emulator: Emulator
) -> None:
    airflow.wait_for_dag(DAG_ID)
    client_id, client_secret = f"sp-{secrets.token_hex(4)}", f"oauth-{secrets.token_hex(12)}"
    emulator.add_oauth_client(client_id, client_secret)
    airflow.api("POST", "/connections", {
        "connection_id": OAUTH_CONNECTION, "conn_type": "databricks", "host": emulator.host,
        "port": emulator.port, "schema": "http", "login": client_id, "password": client_secret,
        "extra": json.dumps({"service_principal_oauth": True}),
    })  # fmt: skip
    # One password per task, in a Variable whose name no masker takes for a secret's.
    passwords = {task: f"{task}-pw-{secrets.token_hex(6)}" for task in (*CREATED, *REFUSED)}
    for task, password in passwords.items():
        airflow.api("POST", "/variables", {"key": f"regpw_{task}", "value": password})
    minted_before = set(emulator.auth._minted)

    run_id = airflow.trigger(DAG_ID, {})
    state, trigger_rows = wait_watching_triggers(airflow, run_id)

    # The run did what it should: every valid form made its cluster and terminated it; the refused one
    # failed in its first try, with no create call.
    ti_states = airflow.task_states(DAG_ID, run_id)
    assert state == "failed", ti_states
    assert {t: ti_states[t] for t in REFUSED} == dict.fromkeys(REFUSED, "failed"), ti_states
    assert {t: ti_states[t] for t in CREATED} == dict.fromkeys(CREATED, "success"), ti_states
    instances = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
    tries = {ti["task_id"]: ti["try_number"] for ti in instances}
    assert all(tries[t] == 1 for t in REFUSED), tries
    clusters = [c for c in emulator.clusters.values() if c["custom_tags"].get("airflow_run_id") == run_id]
    assert sorted(c["custom_tags"]["airflow_task_id"] for c in clusters) == sorted(CREATED)
    assert all(c["state"] == "TERMINATED" for c in clusters), [c["state"] for c in clusters]
    minted = set(emulator.auth._minted) - minted_before
    assert minted, "the OAuth connection minted no token"

    # Where to look: every log, every XCom, the tables, the triggers seen, the refused task's error.
    task_ids = list(ti_states)
    logs = {
        f"{task}/{name}": text
        for task in task_ids
        for name, text in airflow.task_log_files(DAG_ID, run_id, task).items()
    }
    for component in ("scheduler", "triggerer", "dag-processor", "api-server"):
        logs[component] = airflow.log(component)
    refused_log = "".join(text for name, text in logs.items() if name.startswith("create_mistyped/"))
    # Each mistyped key is named by its path; the one that meant a password shows no value.
    assert "docker_image.URL: got " in refused_log
    assert "docker_image.basic_auth.Password: got '***'" in refused_log
    assert any(".trigger." in name for name in logs), "no task deferred"
    places = {
        **logs,
        "xcom (REST API)": json.dumps(xcoms(airflow, run_id)),
        "rendered_task_instance_fields": psql(airflow, "SELECT * FROM rendered_task_instance_fields"),
        "xcom": psql(airflow, "SELECT * FROM xcom"),
        "trigger (now)": psql(airflow, "SELECT * FROM trigger"),
        "trigger (seen, decrypted)": decrypted(airflow, trigger_rows),
        "every table": every_table(airflow),
    }
    # Every task's rendering is there (the search finds what there is), with its secrets masked.
    assert places["rendered_task_instance_fields"].count(run_id) == len(task_ids)
    assert "***" in places["rendered_task_instance_fields"]
    clear = {
        "PAT": emulator.token,
        "OAuth client secret": client_secret,
        **{f"OAuth token {i}": token for i, token in enumerate(sorted(minted))},
        **{f"password of {task}": password for task, password in passwords.items()},
    }
    leaks = [
        (what, where) for what, secret in clear.items() for where, text in places.items() if secret in text
    ]
    assert leaks == []
