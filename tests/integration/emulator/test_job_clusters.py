"""One-time runs on job clusters: ``new_cluster`` and ``job_clusters`` with ``job_cluster_key``, each task on
its own compute, ``depends_on``, and what the Clusters API lets a client do to a job cluster. Stopped clock:
emulated time moves only by ``emu.advance``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_databricks_clusters.emulator import Emulator
from tests.integration.emulator.conftest import SPEC, Api

TASK = {"spark_python_task": {"python_file": "s3://b/job.py"}}
NEW_CLUSTER = {k: v for k, v in SPEC.items() if k != "cluster_name"}


def submit(api: Api, body: dict[str, Any], version: str = "2.2") -> int:
    status, answer = api.call("POST", f"/api/{version}/jobs/runs/submit", body)
    assert status == 200, answer
    return int(answer["run_id"])


def get_run(api: Api, run_id: int, version: str = "2.1") -> dict[str, Any]:
    status, run = api.call("GET", f"/api/{version}/jobs/runs/get", run_id=run_id)
    assert status == 200, run
    return dict(run)


def refused(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = api.call("POST", "/api/2.2/jobs/runs/submit", body)
    assert status == 400, answer
    return dict(answer)


def test_a_new_cluster_run_runs_on_its_own_job_cluster_which_ends_with_it(emu: Emulator, api: Api) -> None:
    # The named defect: this run used to end INTERNAL_ERROR "Cluster None does not exist".
    run_id = submit(api, {"run_name": "nc", "tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
    run = get_run(api, run_id)
    task = run["tasks"][0]
    cluster_id = task["cluster_instance"]["cluster_id"]
    assert run["state"]["life_cycle_state"] == "PENDING" and cluster_id
    cluster = api.get(cluster_id)
    assert cluster["cluster_source"] == "JOB" and cluster["state"] == "PENDING"
    assert cluster["cluster_name"] == f"job-{run['job_id']}-run-{task['run_id']}"
    emu.advance(0.5)  # started (0.4 s), running
    running = get_run(api, run_id)
    assert running["state"]["life_cycle_state"] == "RUNNING"
    assert running["tasks"][0]["cluster_instance"]["spark_context_id"].isdigit()
    emu.advance(0.5)  # ran (0.3 s); its cluster terminates (0.2 s)
    ended = get_run(api, run_id)
    assert ended["state"]["result_state"] == "SUCCESS", ended["state"]
    assert ended["tasks"][0]["state"]["result_state"] == "SUCCESS"
    cluster = api.get(cluster_id)
    assert cluster["state"] == "TERMINATED"
    assert cluster["termination_reason"] == {"code": "JOB_FINISHED", "type": "SUCCESS", "parameters": {}}
    assert api.event_types(cluster_id)[:1] == ["CREATING"] and "RUNNING" in api.event_types(cluster_id)
    terminating = [e for e in emu.events(cluster_id) if e["type"] == "TERMINATING"]
    assert terminating[0]["timestamp"] == ended["end_time"]  # when its run ended, however late it is read
    # Jobs 2.0 shows the task's cluster beside it.
    old = get_run(api, run_id, "2.0")
    assert old["cluster_spec"] == {"new_cluster": NEW_CLUSTER}
    assert old["cluster_instance"]["cluster_id"] == cluster_id


def test_tasks_sharing_a_job_cluster_key_share_one_cluster_and_run_in_dependency_order(
    emu: Emulator, api: Api
) -> None:
    body = {
        "run_name": "shared",
        "job_clusters": [
            {"job_cluster_key": "big", "new_cluster": NEW_CLUSTER},
            {"job_cluster_key": "small", "new_cluster": {**NEW_CLUSTER, "num_workers": 1}},
        ],
        "tasks": [
            {"task_key": "a", "job_cluster_key": "big", **TASK},
            {"task_key": "b", "job_cluster_key": "big", "depends_on": [{"task_key": "a"}], **TASK},
            {"task_key": "c", "job_cluster_key": "small", **TASK},
        ],
    }
    before = emu.workspace.cluster_count()
    run_id = submit(api, body)
    assert emu.workspace.cluster_count() == before + 2
    run = get_run(api, run_id)
    assert [j["job_cluster_key"] for j in run["job_clusters"]] == ["big", "small"]
    a, b, c = (t["cluster_instance"]["cluster_id"] for t in run["tasks"])
    assert a == b != c
    emu.advance(0.5)  # both clusters RUNNING: a and c run, b waits for a
    states = [t["state"]["life_cycle_state"] for t in get_run(api, run_id)["tasks"]]
    assert states == ["RUNNING", "PENDING", "RUNNING"]
    emu.advance(0.4)  # a and c done; c's cluster, alone in its tasks, ends; b runs on a's
    run = get_run(api, run_id)
    assert [t["state"]["life_cycle_state"] for t in run["tasks"]] == ["TERMINATED", "RUNNING", "TERMINATED"]
    assert api.get(c)["state"] in ("TERMINATING", "TERMINATED") and api.get(a)["state"] == "RUNNING"
    emu.advance(1)
    run = get_run(api, run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    ta, tb, _ = run["tasks"]
    assert abs(tb["end_time"] - ta["end_time"] - 300) <= 1  # b began when a ended, ran 0.3 s (in ms)
    assert api.get(a)["termination_reason"]["code"] == "JOB_FINISHED"


def test_a_failed_task_fails_the_run_and_skips_what_depends_on_it(emu: Emulator, api: Api) -> None:
    existing = api.create(num_workers=1)
    api.wait_for(existing, "RUNNING")
    emu.set_scenario("run_failure", times=1, message="ZeroDivisionError: division by zero")
    body = {
        "tasks": [
            {"task_key": "a", "new_cluster": NEW_CLUSTER, **TASK},
            {"task_key": "b", "existing_cluster_id": existing, "depends_on": [{"task_key": "a"}], **TASK},
            {"task_key": "c", "existing_cluster_id": existing, **TASK},
        ]
    }
    run_id = submit(api, body)
    emu.advance(2)
    run = get_run(api, run_id)
    a, b, c = (t["state"] for t in run["tasks"])
    assert (a["life_cycle_state"], a["result_state"]) == ("TERMINATED", "FAILED")
    assert (b["life_cycle_state"], b["result_state"]) == ("SKIPPED", "UPSTREAM_FAILED")
    assert c["result_state"] == "SUCCESS"
    assert run["state"]["result_state"] == "FAILED"
    assert run["state"]["state_message"].startswith("Task a failed with message: ZeroDivisionError")
    status, output = api.call("GET", "/api/2.1/jobs/runs/get-output", run_id=run["tasks"][0]["run_id"])
    assert status == 200 and output["error"] == "ZeroDivisionError: division by zero"
    assert api.get(existing)["state"] == "RUNNING"  # an all-purpose cluster outlives the run


def test_a_bad_cluster_spec_is_refused_as_clusters_create_refuses_it_and_nothing_is_made(
    emu: Emulator, api: Api
) -> None:
    bad = {**NEW_CLUSTER, "spark_version": "1.0.x-scala2.10"}
    status, expected = api.call("POST", "/api/2.1/clusters/create", bad)
    assert status == 400
    before = emu.workspace.cluster_count()
    answer = refused(
        api,
        {
            "tasks": [
                {"task_key": "ok", "new_cluster": NEW_CLUSTER, **TASK},
                {"task_key": "bad", "new_cluster": bad, **TASK},
            ]
        },
    )
    assert answer == expected
    answer = refused(
        api,
        {
            "job_clusters": [{"job_cluster_key": "k", "new_cluster": {**NEW_CLUSTER, "num_workers": None}}],
            "tasks": [{"task_key": "t", "job_cluster_key": "k", **TASK}],
        },
    )
    assert answer["message"] == "Missing required field: size"
    assert emu.workspace.cluster_count() == before
    assert emu.runs.count() == 0


def test_tasks_without_compute_or_with_an_unknown_key_are_refused(api: Api) -> None:
    answer = refused(api, {"tasks": [{"task_key": "t", **TASK}]})
    assert answer == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Either new_cluster or existing_cluster_id must be specified.",
    }
    answer = refused(
        api,
        {
            "job_clusters": [{"job_cluster_key": "main", "new_cluster": NEW_CLUSTER}],
            "tasks": [{"task_key": "t", "job_cluster_key": "other", **TASK}],
        },
    )
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "job_cluster_key 'other'" in answer["message"] and "main" in answer["message"]
    answer = refused(
        api, {"tasks": [{"task_key": "t", "existing_cluster_id": "x", "new_cluster": NEW_CLUSTER, **TASK}]}
    )
    assert "existing_cluster_id and new_cluster" in answer["message"]
    answer = refused(
        api,
        {
            "tasks": [
                {"task_key": "t", "new_cluster": NEW_CLUSTER, "depends_on": [{"task_key": "u"}], **TASK},
            ]
        },
    )
    assert "depends on 'u'" in answer["message"]
    loop = [
        {"task_key": "a", "new_cluster": NEW_CLUSTER, "depends_on": [{"task_key": "b"}], **TASK},
        {"task_key": "b", "new_cluster": NEW_CLUSTER, "depends_on": [{"task_key": "a"}], **TASK},
    ]
    assert "cycle" in refused(api, {"tasks": loop})["message"]
    twice = [{"task_key": "a", "new_cluster": NEW_CLUSTER, **TASK}] * 2
    assert "Duplicate task_key 'a'" in refused(api, {"tasks": twice})["message"]
    assert api.emu.workspace.cluster_count() == 0


def test_the_clusters_api_reads_and_deletes_a_job_cluster_but_does_not_change_it(
    emu: Emulator, api: Api
) -> None:
    run_id = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
    cluster_id = get_run(api, run_id)["tasks"][0]["cluster_instance"]["cluster_id"]
    emu.advance(0.5)
    for action, extra in (
        ("start", {}),
        ("restart", {}),
        ("resize", {"num_workers": 4}),
        ("edit", NEW_CLUSTER),
    ):
        status, answer = api.call("POST", f"/api/2.1/clusters/{action}", {"cluster_id": cluster_id, **extra})
        assert status == 400, (action, answer)
        assert answer == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": f"Cannot {action} cluster {cluster_id} created by JobLauncher",
        }
    # Nor can another run borrow it as an all-purpose cluster.
    answer = refused(api, {"tasks": [{"task_key": "t", "existing_cluster_id": cluster_id, **TASK}]})
    assert answer["message"] == "existing_cluster_id only supports all-purpose cluster IDs"
    # Deleting it mid-run ends its task as any termination mid-run does.
    status, _ = api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})
    assert status == 200
    emu.advance(1)
    run = get_run(api, run_id)
    assert run["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    assert run["state"]["state_message"] == (
        f"Cluster {cluster_id} was terminated during the run. Reason: USER_REQUEST."
    )
    assert api.get(cluster_id)["termination_reason"]["code"] == "USER_REQUEST"


def test_a_job_cluster_without_capacity_fails_its_task_as_a_workspace_reports_it(
    emu: Emulator, api: Api
) -> None:
    emu.set_capacity([{"node_type_id": "i3.xlarge"}])
    run_id = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
    emu.advance(2)
    run = get_run(api, run_id)
    cluster_id = run["tasks"][0]["cluster_instance"]["cluster_id"]
    code = api.get(cluster_id)["termination_reason"]["code"]
    assert code == "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE"
    assert (run["state"]["life_cycle_state"], run["state"]["result_state"]) == ("INTERNAL_ERROR", "FAILED")
    assert run["state"]["state_message"] == (
        f"Unexpected failure while waiting for the cluster ({cluster_id}) to be ready: "
        f"Cluster {cluster_id} is in unexpected state Terminated: {code}."
    )


def test_a_scenario_may_name_a_job_cluster_by_its_name(emu: Emulator, api: Api) -> None:
    emu.set_scenario("stuck_pending", cluster_name="job-101001-run-1002")
    run_id = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
    assert run_id == 1001
    assert emu.runs.settles_at(run_id) is None  # held PENDING for good: nothing planned
    emu.advance(5)
    assert get_run(api, run_id)["state"]["life_cycle_state"] == "PENDING"
    status, _ = api.call("POST", "/api/2.1/jobs/runs/cancel", {"run_id": run_id})
    assert status == 200
    run = get_run(api, run_id)
    assert run["state"]["result_state"] == "CANCELED" and run["state"]["user_cancelled_or_timedout"]
    cluster = api.get(run["tasks"][0]["cluster_instance"]["cluster_id"])
    assert cluster["state"] == "TERMINATING" and cluster["termination_reason"]["code"] == "JOB_FINISHED"


def test_fast_forward_reads_a_job_cluster_run_ended(emu: Emulator, api: Api) -> None:
    emu.fast_forward = True
    run_id = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
    assert emu.runs.settles_at(run_id) is not None
    assert get_run(api, run_id)["state"]["result_state"] == "SUCCESS"


def test_the_state_file_keeps_runs_on_job_clusters_and_older_files_load(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    settings: dict[str, Any] = {"time_scale": 0, "start_seconds": 0.4, "run_seconds": 0.3}
    with Emulator(state_file=state, **settings) as emu:
        api = Api(emu)
        existing = api.create()
        api.wait_for(existing, "RUNNING")
        old_run = submit(api, {"tasks": [{"task_key": "t", "existing_cluster_id": existing, **TASK}]})
        emu.advance(0.5)
        run_id = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
        emu.advance(0.1)
        assert get_run(api, run_id)["state"]["life_cycle_state"] == "PENDING"
        emu.save()
    saved = json.loads(state.read_text())
    saved["runs"] = saved["runs"]["runs"]  # a file from before the run ids and tokens were kept beside them
    # The run as a file from before tasks had their own compute and state holds it.
    old = saved["runs"][str(old_run)]
    task = old["tasks"][0]
    old["_ran_since"], old["_fail"] = task.pop("_ran_since"), task.pop("_fail")
    del task["_cluster_id"], task["state"]
    state.write_text(json.dumps(saved))
    with Emulator(state_file=state, **settings) as emu:
        api = Api(emu)
        assert get_run(api, old_run)["tasks"][0]["state"]["result_state"] == "SUCCESS"
        emu.advance(2)
        run = get_run(api, run_id)
        assert run["state"]["result_state"] == "SUCCESS", run["state"]
        assert api.get(run["tasks"][0]["cluster_instance"]["cluster_id"])["state"] == "TERMINATED"


def make_policy(api: Api, rules: dict[str, Any]) -> str:
    body = {"name": f"jc-policy-{len(rules)}", "definition": json.dumps(rules)}
    status, answer = api.call("POST", "/api/2.0/policies/clusters/create", body)
    assert status == 200, answer
    return str(answer["policy_id"])


def test_a_job_cluster_its_policy_refuses_is_refused_before_any_cluster_is_made(
    emu: Emulator, api: Api
) -> None:
    # The defect: the first task's cluster was made, the second's policy refused it, and the first stayed.
    policy_id = make_policy(api, {"node_type_id": {"type": "allowlist", "values": ["i3.2xlarge"]}})
    outside = {**NEW_CLUSTER, "policy_id": policy_id}
    status, expected = api.call("POST", "/api/2.1/clusters/create", {**outside, "cluster_name": "x"})
    assert status == 400, expected
    for body in (
        {"tasks": [{"task_key": "ok", "new_cluster": NEW_CLUSTER, **TASK},
                   {"task_key": "bad", "new_cluster": outside, **TASK}]},
        {"job_clusters": [{"job_cluster_key": "ok", "new_cluster": NEW_CLUSTER},
                          {"job_cluster_key": "bad", "new_cluster": outside}],
         "tasks": [{"task_key": "a", "job_cluster_key": "ok", **TASK},
                   {"task_key": "b", "job_cluster_key": "bad", **TASK}]},
    ):  # fmt: skip
        assert refused(api, body) == expected
    assert emu.workspace.cluster_count() == 0
    assert emu.runs.count() == 0


def test_a_job_cluster_may_leave_to_its_policy_what_the_policy_fixes(emu: Emulator, api: Api) -> None:
    policy_id = make_policy(api, {"spark_version": {"type": "fixed", "value": NEW_CLUSTER["spark_version"]}})
    spec = {k: v for k, v in NEW_CLUSTER.items() if k != "spark_version"}
    run_id = submit(
        api, {"tasks": [{"task_key": "t", "new_cluster": {**spec, "policy_id": policy_id}, **TASK}]}
    )
    cluster = api.get(get_run(api, run_id)["tasks"][0]["cluster_instance"]["cluster_id"])
    assert cluster["spark_version"] == NEW_CLUSTER["spark_version"]
    assert cluster["policy_id"] == policy_id


def test_a_run_is_saved_with_the_job_cluster_it_made_and_its_id_never_reused(tmp_path: Path) -> None:
    """The state file holds a submitted run as soon as its job cluster (it used to hold only the cluster, and
    lose the run that would end it); after a restart, a new run never takes a deleted run's id, which an
    idempotency token still names."""
    state = tmp_path / "state.json"
    settings: dict[str, Any] = {"time_scale": 0, "start_seconds": 0.4, "run_seconds": 0.3}
    with Emulator(state_file=state, **settings) as emu:
        api = Api(emu)
        kept = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
        body = {
            "idempotency_token": "nightly",
            "tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}],
        }
        once = submit(api, body)
        assert submit(api, body) == once  # the same token: the same run, no second cluster
        assert emu.workspace.cluster_count() == 2
        emu.advance(2)
        assert api.call("POST", "/api/2.1/jobs/runs/delete", {"run_id": once}) == (200, {})
    with Emulator(state_file=state, **settings) as emu:  # no save() beyond the emulator's own
        api = Api(emu)
        assert get_run(api, kept)["state"]["result_state"] == "SUCCESS"
        assert submit(api, body) == once
        fresh = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
        assert fresh > once
        emu.advance(2)
        assert get_run(api, fresh)["state"]["result_state"] == "SUCCESS"
        assert {c["state"] for c in emu.clusters.values()} == {"TERMINATED"}


def test_a_job_cluster_whose_run_ended_reads_so_though_the_run_is_never_read(emu: Emulator, api: Api) -> None:
    """A client that submits without waiting (or a Clusters page) reads only the cluster: it ends with its
    run all the same."""
    run_id = submit(api, {"tasks": [{"task_key": "t", "new_cluster": NEW_CLUSTER, **TASK}]})
    cluster_id = emu.runs.all_runs()[0]["tasks"][0]["cluster_instance"]["cluster_id"]
    emu.advance(1.0)  # started (0.4 s), ran (0.3 s), terminated (0.2 s)
    status, listed = api.call("GET", "/api/2.1/clusters/list")
    assert status == 200 and [c["state"] for c in listed["clusters"]] == ["TERMINATED"], listed
    cluster = api.get(cluster_id)
    assert cluster["termination_reason"]["code"] == "JOB_FINISHED"
    assert get_run(api, run_id)["state"]["result_state"] == "SUCCESS"
