"""The legacy databricks-cli 0.18 (the Python one the source text drives its cluster with) runs unchanged
against the emulator: its ``clusters`` and ``runs`` commands, each run as a subprocess.

The CLI builds its base URL as ``scheme://hostname/api/`` from ``DATABRICKS_HOST`` and drops any port,
so it can only reach a server on the scheme's default port. The emulator here listens on port 80 of a
second loopback address (a random ``127.x.y.z``: no other server or test session is in the way). The CLI
reads no user configuration: a throw-away ``HOME`` and ``DATABRICKS_CONFIG_FILE``, and the workspace
given only through ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN``.

Emulated time is stopped: nothing happens between two CLI calls unless the test moves the clock, so a
state a test reads never depends on how fast the machine runs the CLI.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_databricks_clusters.emulator import Emulator
from tests.conformance.conftest import on_port_80

#: The CLI's console script, from this interpreter's environment (never one found on PATH).
CLI = Path(sys.executable).parent / "databricks"
#: The source text's cluster file, runtime 7.0 and ``<AWS_Account_ID>`` placeholders as it has them.
SOURCE_FILE = Path(__file__).resolve().parents[2] / "dags" / "clusters" / "dataengineeringe2e.json"
RETIRED_RUNTIME = "7.0.x-scala2.12"
#: A runtime a workspace offers today (an LTS release).
RUNTIME = "15.4.x-scala2.12"

# Emulated durations; SETTLE is longer than any one of them, so one advance finishes any transition
# (and far shorter than the 120 minutes of autotermination of the source file).
START_SECONDS = 2.0
TERMINATE_SECONDS = 0.5
RUN_SECONDS = 1.0
SETTLE = 10.0

SMALL_CLUSTER: dict[str, Any] = {
    "cluster_name": "legacy-cli",
    "spark_version": RUNTIME,
    "node_type_id": "i3.xlarge",
    "num_workers": 1,
}


class LegacyCli:
    """The ``databricks`` command of databricks-cli 0.18, run as a subprocess against one workspace."""

    def __init__(self, home: Path, host: str, token: str) -> None:
        # Nothing of the caller's Databricks setup, proxies or netrc may reach the CLI.
        dropped = ("DATABRICKS_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NETRC")
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
        env.update(
            HOME=str(home),
            DATABRICKS_CONFIG_FILE=str(home / ".databrickscfg"),
            DATABRICKS_HOST=host,
            DATABRICKS_TOKEN=token,
        )
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its standard output."""
        done = self.run(*args)
        assert done.returncode == 0, f"databricks {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        """Run a command that must succeed and print JSON; that JSON."""
        return json.loads(self.ok(*args))

    def error(self, *args: str) -> dict[str, Any]:
        """Run a command the workspace must refuse; the workspace's error body.

        The CLI prints ``Error: b'<the answer's body>'`` (the bytes' repr) and exits 1 for any HTTP error
        but 401 and 403, which it replaces by advice of its own."""
        done = self.run(*args)
        assert done.returncode == 1, f"databricks {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        printed = done.stdout.strip()
        assert printed.startswith("Error: b"), printed
        body: dict[str, Any] = json.loads(ast.literal_eval(printed.removeprefix("Error: ")))
        return body


@pytest.fixture
def emu80() -> Iterator[Emulator]:
    """A workspace on port 80 of a loopback address (``http://127.x.y.z``), its clock stopped."""
    emulator = on_port_80(
        start_seconds=START_SECONDS,
        terminate_seconds=TERMINATE_SECONDS,
        run_seconds=RUN_SECONDS,
        time_scale=0,
    )
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def cli(emu80: Emulator, tmp_path: Path) -> LegacyCli:
    assert CLI.exists(), f"{CLI} is missing: install the project's test extra (databricks-cli 0.18)"
    home = tmp_path / "home"
    home.mkdir()
    return LegacyCli(home, emu80.url, emu80.token)


def source_file_copy(emu: Emulator, directory: Path, **overrides: Any) -> Path:
    """The source text's cluster file, its ``<AWS_Account_ID>`` placeholders filled with the account of
    the instance profile the emulated workspace knows, ``overrides`` applied; written to ``directory``."""
    profile_arn = next(
        arn for arn in emu.workspace.catalog.instance_profiles if arn.endswith("/dataengineeringe2e-role")
    )
    spec = json.loads(SOURCE_FILE.read_text().replace("<AWS_Account_ID>", profile_arn.split(":")[4]))
    assert spec["aws_attributes"]["instance_profile_arn"] == profile_arn
    spec.update(overrides)
    path = directory / "dataengineeringe2e.json"
    path.write_text(json.dumps(spec, indent=2))
    return path


def create(cli: LegacyCli, spec: dict[str, Any] = SMALL_CLUSTER) -> str:
    answer = cli.json("clusters", "create", "--json", json.dumps(spec))
    return str(answer["cluster_id"])


def running_cluster(cli: LegacyCli, emu: Emulator) -> str:
    cluster_id = create(cli)
    emu.advance(SETTLE)
    assert emu.clusters[cluster_id]["state"] == "RUNNING"
    return cluster_id


def get(cli: LegacyCli, cluster_id: str) -> dict[str, Any]:
    cluster: dict[str, Any] = cli.json("clusters", "get", "--cluster-id", cluster_id)
    return cluster


# -- the source text's file ---------------------------------------------------------------------------


def test_source_file_as_written_is_refused_for_its_retired_runtime(
    cli: LegacyCli, emu80: Emulator, tmp_path: Path
) -> None:
    path = source_file_copy(emu80, tmp_path)
    assert json.loads(path.read_text())["spark_version"] == RETIRED_RUNTIME

    error = cli.error("clusters", "create", "--json-file", str(path))

    assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert RETIRED_RUNTIME in error["message"]
    assert emu80.clusters == {}


def test_source_file_with_a_supported_runtime_creates_a_cluster_that_runs(
    cli: LegacyCli, emu80: Emulator, tmp_path: Path
) -> None:
    path = source_file_copy(emu80, tmp_path, spark_version=RUNTIME)
    cluster_id = cli.json("clusters", "create", "--json-file", str(path))["cluster_id"]
    assert get(cli, cluster_id)["state"] == "PENDING"

    emu80.advance(SETTLE)
    # By name, as a user of the source text would look it up.
    cluster = cli.json("clusters", "get", "--cluster-name", "dataengineeringe2e")

    assert cluster["cluster_id"] == cluster_id
    assert cluster["state"] == "RUNNING"
    assert cluster["spark_version"] == RUNTIME
    assert cluster["autoscale"] == {"min_workers": 1, "max_workers": 2}
    assert cluster["spark_conf"]["spark.databricks.cluster.profile"] == "serverless"
    assert cluster["aws_attributes"]["zone_id"] == "ap-southeast-1c"
    assert cluster["aws_attributes"]["spot_bid_price_percent"] == 80
    assert cluster["custom_tags"] == {"ResourceClass": "Serverless"}
    assert cluster["aws_attributes"]["instance_profile_arn"].endswith(
        ":instance-profile/dataengineeringe2e-role"
    )
    assert cluster["docker_image"]["url"].endswith(
        ".dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:latest"
    )


# -- clusters: reading --------------------------------------------------------------------------------


def test_list_as_a_table_and_as_json(cli: LegacyCli, emu80: Emulator) -> None:
    running = running_cluster(cli, emu80)
    pending = create(cli, {**SMALL_CLUSTER, "cluster_name": "legacy-cli-b"})

    rows = {tuple(line.split()) for line in cli.ok("clusters", "list").splitlines() if line.strip()}
    answer = cli.json("clusters", "list", "--output", "JSON")

    assert rows == {(running, "legacy-cli", "RUNNING"), (pending, "legacy-cli-b", "PENDING")}
    assert {c["cluster_id"]: c["state"] for c in answer["clusters"]} == {
        running: "RUNNING",
        pending: "PENDING",
    }


def test_catalog_commands(cli: LegacyCli) -> None:
    versions = {v["key"] for v in cli.json("clusters", "spark-versions")["versions"]}
    node_types = {n["node_type_id"] for n in cli.json("clusters", "list-node-types")["node_types"]}
    zones = cli.json("clusters", "list-zones")

    assert RUNTIME in versions
    assert RETIRED_RUNTIME not in versions
    assert {"r4.xlarge", "i3.xlarge"} <= node_types
    assert "ap-southeast-1c" in zones["zones"]
    assert zones["default_zone"] in zones["zones"]


def test_events_in_every_form_the_cli_asks_for(cli: LegacyCli, emu80: Emulator) -> None:
    cluster_id = running_cluster(cli, emu80)

    newest_first = cli.json("clusters", "events", "--cluster-id", cluster_id, "--output", "JSON")
    # --limit and --order reach the workspace as given (the CLI sends --limit as a JSON string).
    first_page = cli.json(
        "clusters", "events", "--cluster-id", cluster_id, "--order", "ASC", "--limit", "1", "--output", "JSON"
    )
    running_only = cli.json(
        "clusters", "events", "--cluster-id", cluster_id, "--event-type", "RUNNING", "--output", "JSON"
    )
    table = cli.ok("clusters", "events", "--cluster-id", cluster_id)

    types = [e["type"] for e in newest_first["events"]]
    assert types[-1] == "CREATING" and "RUNNING" in types
    assert [e["type"] for e in first_page["events"]] == ["CREATING"]
    assert "next_page" in first_page
    assert [e["type"] for e in running_only["events"]] == ["RUNNING"]
    assert "CREATING" in table and "RUNNING" in table


# -- clusters: changing -------------------------------------------------------------------------------


def test_resize(cli: LegacyCli, emu80: Emulator) -> None:
    cluster_id = running_cluster(cli, emu80)

    cli.ok("clusters", "resize", "--cluster-id", cluster_id, "--num-workers", "3")
    assert get(cli, cluster_id)["state"] == "RESIZING"
    emu80.advance(SETTLE)
    cluster = get(cli, cluster_id)

    assert cluster["state"] == "RUNNING"
    assert cluster["num_workers"] == 3
    # The spec the cluster is now kept to is the resized one (a workspace updates both).
    assert cluster["spec"]["num_workers"] == 3


def test_restart(cli: LegacyCli, emu80: Emulator) -> None:
    cluster_id = running_cluster(cli, emu80)

    cli.ok("clusters", "restart", "--cluster-id", cluster_id)
    assert get(cli, cluster_id)["state"] == "RESTARTING"
    emu80.advance(SETTLE)

    assert get(cli, cluster_id)["state"] == "RUNNING"


def test_edit_of_a_running_cluster_restarts_it_with_the_new_spec(
    cli: LegacyCli, emu80: Emulator, tmp_path: Path
) -> None:
    cluster_id = running_cluster(cli, emu80)
    edit = tmp_path / "edit.json"
    edit.write_text(json.dumps({**SMALL_CLUSTER, "cluster_id": cluster_id, "num_workers": 2}))

    cli.ok("clusters", "edit", "--json-file", str(edit))
    during = get(cli, cluster_id)
    emu80.advance(SETTLE)
    after = get(cli, cluster_id)

    assert during["state"] == "RESTARTING"
    assert after["state"] == "RUNNING"
    assert after["num_workers"] == 2
    assert "EDITED" in [e["type"] for e in emu80.events(cluster_id)]


def test_delete_then_start(cli: LegacyCli, emu80: Emulator) -> None:
    cluster_id = running_cluster(cli, emu80)
    # The CLI's help says a start of a cluster that is not TERMINATED does nothing; a workspace refuses it.
    assert cli.error("clusters", "start", "--cluster-id", cluster_id)["error_code"] == "INVALID_STATE"

    cli.ok("clusters", "delete", "--cluster-id", cluster_id)
    assert get(cli, cluster_id)["state"] == "TERMINATING"
    emu80.advance(SETTLE)
    terminated = get(cli, cluster_id)
    cli.ok("clusters", "start", "--cluster-id", cluster_id)
    starting = get(cli, cluster_id)
    emu80.advance(SETTLE)

    assert terminated["state"] == "TERMINATED"
    assert terminated["termination_reason"]["code"] == "USER_REQUEST"
    assert starting["state"] == "PENDING"
    assert get(cli, cluster_id)["state"] == "RUNNING"


def test_permanent_delete_of_a_terminated_cluster_removes_it(cli: LegacyCli, emu80: Emulator) -> None:
    cluster_id = running_cluster(cli, emu80)
    cli.ok("clusters", "delete", "--cluster-id", cluster_id)
    emu80.advance(SETTLE)

    cli.ok("clusters", "permanent-delete", "--cluster-id", cluster_id)
    error = cli.error("clusters", "get", "--cluster-id", cluster_id)

    assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert cluster_id in error["message"]
    assert cli.json("clusters", "list", "--output", "JSON").get("clusters", []) == []


def test_a_wrong_token_is_refused(cli: LegacyCli) -> None:
    cli.env["DATABRICKS_TOKEN"] = "dapi-not-this-workspaces"

    done = cli.run("clusters", "list")

    # The CLI replaces a 403's body by its own advice.
    assert done.returncode == 1
    assert "Authorization failed" in done.stdout


# -- runs, in the Jobs API version the CLI uses by default (2.0) and in 2.1 ---------------------------

#: (the CLI's ``--version`` arguments, the API version it must then call)
JOBS_API = [
    pytest.param((), "2.0", id="jobs-2.0-default"),
    pytest.param(("--version", "2.1"), "2.1", id="jobs-2.1"),
]


def submit(cli: LegacyCli, tmp_path: Path, version_args: tuple[str, ...], cluster_id: str) -> int:
    """``runs submit --json-file`` of one Python task on ``cluster_id``, in the shape of the version:
    2.0 has the task's fields at the top level, 2.1 a ``tasks`` list."""
    task = {"existing_cluster_id": cluster_id, "spark_python_task": {"python_file": "dbfs:/etl.py"}}
    if version_args:
        body: dict[str, Any] = {"run_name": "legacy-cli-etl", "tasks": [{"task_key": "etl", **task}]}
    else:
        body = {"run_name": "legacy-cli-etl", **task}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(body))
    return int(cli.json("runs", "submit", "--json-file", str(path), *version_args)["run_id"])


def output_run_id(run: dict[str, Any]) -> int:
    """The id whose output ``runs get-output`` gives: the run's own in 2.0, its task's in 2.1 (a workspace
    refuses the output of a 2.1 run as a whole)."""
    return int(run["tasks"][0]["run_id"]) if "tasks" in run else int(run["run_id"])


def jobs_paths(emu: Emulator) -> set[str]:
    return {r["path"] for r in emu.request_log if "/jobs/" in r["path"]}


@pytest.mark.parametrize(("version_args", "api"), JOBS_API)
def test_submit_get_get_output_and_list(
    cli: LegacyCli, emu80: Emulator, tmp_path: Path, version_args: tuple[str, ...], api: str
) -> None:
    cluster_id = running_cluster(cli, emu80)
    run_id = submit(cli, tmp_path, version_args, cluster_id)

    emu80.advance(SETTLE)
    run = cli.json("runs", "get", "--run-id", str(run_id), *version_args)
    output = cli.json("runs", "get-output", "--run-id", str(output_run_id(run)), *version_args)
    listed = cli.json("runs", "list", "--output", "JSON", *version_args)

    assert run["state"]["life_cycle_state"] == "TERMINATED"
    assert run["state"]["result_state"] == "SUCCESS"
    if api == "2.0":
        # The 2.0 shape of a single-task run: the task and its cluster at the top, no tasks list.
        assert "tasks" not in run
        assert run["task"]["spark_python_task"] == {"python_file": "dbfs:/etl.py"}
        assert run["cluster_spec"]["existing_cluster_id"] == cluster_id
        assert run["cluster_instance"]["cluster_id"] == cluster_id
    else:
        assert [t["existing_cluster_id"] for t in run["tasks"]] == [cluster_id]
        # The run's own id, as a user would first try it: 2.1 refuses it even for one task.
        refused = cli.error("runs", "get-output", "--run-id", str(run_id), *version_args)
        assert refused["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "multiple tasks" in refused["message"]
    url = urlsplit(run["run_page_url"])
    assert (url.hostname, url.port) == (emu80.host, None)
    assert output["metadata"]["state"]["result_state"] == "SUCCESS"
    assert "error" not in output
    assert run_id in [r["run_id"] for r in listed["runs"]]
    assert {p.split("/")[2] for p in jobs_paths(emu80)} == {api}


@pytest.mark.parametrize(("version_args", "api"), JOBS_API)
def test_get_output_of_a_failed_run_carries_its_error(
    cli: LegacyCli, emu80: Emulator, tmp_path: Path, version_args: tuple[str, ...], api: str
) -> None:
    cluster_id = running_cluster(cli, emu80)
    emu80.set_scenario("run_failure", cluster_id=cluster_id, message="ZeroDivisionError: division by zero")
    run_id = submit(cli, tmp_path, version_args, cluster_id)

    emu80.advance(SETTLE)
    run = cli.json("runs", "get", "--run-id", str(run_id), *version_args)
    output = cli.json("runs", "get-output", "--run-id", str(output_run_id(run)), *version_args)

    assert run["state"]["result_state"] == "FAILED"
    assert "ZeroDivisionError" in output["error"]
    assert {p.split("/")[2] for p in jobs_paths(emu80)} == {api}


@pytest.mark.parametrize(("version_args", "api"), JOBS_API)
def test_cancel_of_a_run_waiting_for_its_cluster(
    cli: LegacyCli, emu80: Emulator, tmp_path: Path, version_args: tuple[str, ...], api: str
) -> None:
    cluster_id = create(cli)  # PENDING while the clock stands still: the run waits for it
    run_id = submit(cli, tmp_path, version_args, cluster_id)

    cli.ok("runs", "cancel", "--run-id", str(run_id), *version_args)
    emu80.advance(SETTLE)
    table = cli.ok("runs", "list", *version_args)

    row = next(line.split() for line in table.splitlines() if line.split()[:1] == [str(run_id)])
    assert row[1:4] == ["legacy-cli-etl", "TERMINATED", "CANCELED"]
    assert {p.split("/")[2] for p in jobs_paths(emu80)} == {api}
