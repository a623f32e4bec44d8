"""The leak sweep's decision for one cluster: terminate, keep or ignore, and why (no I/O)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from airflow_databricks_clusters.cluster_spec.build import _tag_value, task_instance_tags
from airflow_databricks_clusters.fleet.sweep_policy import (
    ACTIVE_TASK_STATES,
    ENDED_TASK_STATES,
    REPORT_LISTS,
    Action,
    Lookup,
    RunStatus,
    SweepSettings,
    TaskInstanceRef,
    Verdict,
    could_be_rewritten,
    decide,
    identify,
    parse_settings,
    summary,
    sweep_report,
)

OWNER = "airflow-sp@example.com"
NOW = 1_800_000_000.0  # epoch seconds
HOUR_AGO_MS = int((NOW - 3600) * 1000)
RUN_ID = "manual__2026-11-24T10:00:00+00:00"


def cluster(tags: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "cluster_id": "1124-100000-abcdefgh",
        "cluster_name": "etl",
        "state": "PENDING",
        "start_time": HOUR_AGO_MS,
        "creator_user_name": OWNER,
        "custom_tags": task_instance_tags("etl", "create_cluster", RUN_ID) if tags is None else tags,
        **fields,
    }


def verdict(lookup: Lookup | None, *, min_age: float = 30, **fields: Any) -> Verdict:
    return decide(cluster(**fields), lookup, now=NOW, min_age_minutes=min_age, owner=OWNER)


# -- the task instance's state -----------------------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(ENDED_TASK_STATES))
def test_a_task_instance_that_ended_without_success_gets_its_cluster_terminated(state: str) -> None:
    found = verdict(Lookup.of_task(state))
    assert found.action is Action.TERMINATE
    assert found.task_state == state
    assert f"ended {state}" in found.reason and "never runs its teardown" in found.reason


@pytest.mark.parametrize("state", sorted(ACTIVE_TASK_STATES))
def test_a_task_instance_that_may_still_use_its_cluster_keeps_it(state: str) -> None:
    found = verdict(Lookup.of_task(state, RunStatus.ACTIVE))
    assert found.action is Action.KEEP
    assert f"is {state}" in found.reason


def test_the_states_the_sweep_must_never_act_on_are_all_kept() -> None:
    # The brief's "never": running, deferred, queued, up for retry. Also for any run status.
    for state in ("running", "deferred", "queued", "up_for_retry"):
        for run in RunStatus:
            if run is not RunStatus.GONE:
                assert verdict(Lookup.of_task(state, run)).action is Action.KEEP, (state, run)


def test_a_task_instance_without_a_state_yet_keeps_its_cluster() -> None:
    found = verdict(Lookup.of_task(None))
    assert (found.action, found.task_state) == (Action.KEEP, "none")
    assert "has no state yet" in found.reason


def test_a_success_while_the_run_still_runs_is_a_pipeline_using_its_cluster() -> None:
    found = verdict(Lookup.of_task("success", RunStatus.ACTIVE))
    assert found.action is Action.KEEP
    assert "still running" in found.reason and "teardown" in found.reason


def test_a_success_whose_run_finished_is_a_leak_the_teardown_left() -> None:
    found = verdict(Lookup.of_task("success", RunStatus.FINISHED))
    assert found.action is Action.TERMINATE
    assert "the teardown did not terminate it" in found.reason


def test_a_success_whose_run_state_is_unknown_is_kept() -> None:
    assert verdict(Lookup.of_task("success", RunStatus.UNKNOWN)).action is Action.KEEP


def test_a_state_the_sweep_does_not_know_is_kept() -> None:
    found = verdict(Lookup.of_task("shutdown"))
    assert found.action is Action.KEEP and "unknown to the sweep (shutdown)" in found.reason


# -- the DAG run, the lookup -------------------------------------------------------------------------------


def test_a_cluster_whose_dag_run_is_gone_is_terminated() -> None:
    found = verdict(Lookup.run_gone())
    assert (found.action, found.task_state) == (Action.TERMINATE, "dag_run_gone")
    assert f"its DAG run etl/{RUN_ID} no longer exists" in found.reason


def test_a_run_that_exists_without_the_task_instance_is_kept() -> None:
    found = verdict(Lookup.no_task())
    assert (found.action, found.task_state) == (Action.KEEP, "not_found")
    assert "has no task instance create_cluster (map index -1)" in found.reason


def test_a_failed_lookup_keeps_the_cluster_and_says_why() -> None:
    found = verdict(Lookup.failed("AirflowRuntimeError: API_SERVER_ERROR"))
    assert (found.action, found.task_state) == (Action.KEEP, "unreadable")
    assert "could not be read (AirflowRuntimeError: API_SERVER_ERROR)" in found.reason


def test_a_cluster_not_looked_up_is_kept() -> None:
    assert verdict(None).action is Action.KEEP


# -- the age floor -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("lookup", [Lookup.of_task("failed"), Lookup.run_gone()])
def test_a_cluster_younger_than_the_age_floor_is_kept_whatever_its_task_says(lookup: Lookup) -> None:
    found = verdict(lookup, min_age=61)
    assert found.action is Action.KEEP
    assert found.reason == "started 60.0 min ago, under the 61 min age floor"
    assert verdict(lookup, min_age=60).action is Action.TERMINATE  # exactly as old as the floor


def test_a_cluster_started_in_the_future_of_our_clock_is_young() -> None:
    found = verdict(Lookup.of_task("failed"), min_age=0.5, start_time=int((NOW + 120) * 1000))
    assert found.action is Action.KEEP and "started 0.0 min ago" in found.reason


def test_a_floor_of_zero_judges_every_cluster_at_once() -> None:
    assert verdict(Lookup.of_task("failed"), min_age=0, start_time=int(NOW * 1000)).action is Action.TERMINATE
    # Also one whose workspace clock runs ahead of ours (the chaos soak's emulator runs 20x real time).
    ahead = int((NOW + 120) * 1000)
    assert verdict(Lookup.of_task("failed"), min_age=0, start_time=ahead).action is Action.TERMINATE


def test_a_cluster_without_a_start_time_is_kept() -> None:
    found = decide(
        {**cluster(), "start_time": None}, Lookup.run_gone(), now=NOW, min_age_minutes=0, owner=OWNER
    )
    assert found.action is Action.KEEP and "age is unknown" in found.reason


# -- what is not the sweep's to judge ----------------------------------------------------------------------


def test_a_cluster_without_tags_is_ignored() -> None:
    for tags in ({}, {"team": "data"}):
        found = verdict(Lookup.run_gone(), tags=tags)
        assert found.action is Action.IGNORE and found.task_instance is None
        assert "no task instance tags" in found.reason
    no_tags = {k: v for k, v in cluster().items() if k != "custom_tags"}
    assert decide(no_tags, None, now=NOW, min_age_minutes=0, owner=OWNER).action is Action.IGNORE


def test_a_cluster_with_some_of_the_tags_is_ignored() -> None:
    tags = task_instance_tags("etl", "create_cluster", RUN_ID)
    del tags["airflow_run_id"]
    found = verdict(Lookup.run_gone(), tags=tags)
    assert found.action is Action.IGNORE and "incomplete (no airflow_run_id)" in found.reason


def test_a_map_index_that_is_not_one_is_ignored() -> None:
    tags = {**task_instance_tags("etl", "create_cluster", RUN_ID), "airflow_map_index": "x1"}
    assert verdict(Lookup.run_gone(), tags=tags).action is Action.IGNORE


def test_another_users_cluster_is_ignored_whatever_its_tags_say() -> None:
    found = verdict(Lookup.of_task("failed"), creator_user_name="someone@example.com")
    assert found.action is Action.IGNORE
    assert "created by someone@example.com, not by airflow-sp@example.com" in found.reason
    gone = {**cluster(), "creator_user_name": None}
    assert decide(gone, Lookup.run_gone(), now=NOW, min_age_minutes=0, owner=OWNER).action is Action.IGNORE


def test_a_dag_outside_the_sweeps_dag_ids_is_ignored() -> None:
    found = decide(
        cluster(), Lookup.of_task("failed"), now=NOW, min_age_minutes=0, owner=OWNER, dag_ids={"other"}
    )
    assert found.action is Action.IGNORE and "not among the sweep's dag_ids" in found.reason
    kept = decide(
        cluster(), Lookup.of_task("failed"), now=NOW, min_age_minutes=0, owner=OWNER, dag_ids={"etl"}
    )
    assert kept.action is Action.TERMINATE


def test_identify_reads_the_task_instance_from_the_tags() -> None:
    tags = task_instance_tags("etl", "group.create", RUN_ID, 3)
    ref = identify(cluster(tags=tags), owner=OWNER)
    assert ref == TaskInstanceRef("etl", "group.create", RUN_ID, 3)
    assert isinstance(ref, TaskInstanceRef) and ref.state_key == "group.create_3"
    assert TaskInstanceRef("etl", "create", RUN_ID, -1).state_key == "create"


# -- tags spec._tag_value rewrote --------------------------------------------------------------------------

#: Ids the tag rewriting changes (characters Databricks refuses, too long) and ids it keeps as they are.
REWRITTEN_IDS = ["étl_ünïcode", "run#1", "a" * 300, "manual__2026-11-24T10:00:00+00:00~retry"]
VERBATIM_IDS = ["etl", RUN_ID, "scheduled__2026-11-24T00:00:00+00:00", "group.task-1", "d" * 255]


@pytest.mark.parametrize("original", REWRITTEN_IDS)
def test_every_value_the_tags_rewrite_is_recognised_as_a_possible_rewrite(original: str) -> None:
    rewritten = _tag_value(original)
    assert rewritten != original
    assert could_be_rewritten(rewritten)


@pytest.mark.parametrize("original", VERBATIM_IDS)
def test_ids_kept_as_they_are_are_not_mistaken_for_rewrites(original: str) -> None:
    assert _tag_value(original) == original
    assert not could_be_rewritten(original)


@pytest.mark.parametrize("field", ["dag_id", "run_id"])
def test_a_run_not_found_under_a_rewritten_value_is_ignored_not_terminated(field: str) -> None:
    ids = {"dag_id": "etl", "task_id": "create_cluster", "run_id": RUN_ID, field: "étl/run#1"}
    tags = task_instance_tags(ids["dag_id"], ids["task_id"], ids["run_id"])
    found = verdict(Lookup.run_gone(), tags=tags)
    assert found.action is Action.IGNORE
    assert f"airflow_{field}={_tag_value('étl/run#1')} may be a rewritten tag value" in found.reason
    assert "cannot be mapped back to its task instance" in found.reason


def test_a_task_instance_not_found_under_a_rewritten_task_id_is_ignored() -> None:
    tags = task_instance_tags("etl", "créer", RUN_ID)
    found = verdict(Lookup.no_task(), tags=tags)
    assert found.action is Action.IGNORE and "airflow_task_id=" in found.reason


def test_a_value_that_looks_rewritten_is_trusted_once_airflow_found_what_it_names() -> None:
    # "nightly-0badcafe" looks like a rewrite, but Airflow has that run: it is the id itself.
    tags = task_instance_tags("etl", "create_cluster", "nightly-0badcafe")
    assert verdict(Lookup.of_task("failed"), tags=tags).action is Action.TERMINATE
    assert verdict(Lookup.of_task("running"), tags=tags).action is Action.KEEP


# -- parameters, report ------------------------------------------------------------------------------------


def test_templated_parameters_are_read_from_their_text() -> None:
    assert parse_settings("0", "True", "etl, nightly") == SweepSettings(
        0.0, True, frozenset({"etl", "nightly"})
    )
    assert parse_settings(30, False, None) == SweepSettings(30.0, False, None)
    assert parse_settings("12.5", "false", '["etl"]') == SweepSettings(12.5, False, frozenset({"etl"}))
    assert parse_settings(1, "no", ["etl"]).dag_ids == frozenset({"etl"})
    assert parse_settings(1, "no", "").dag_ids is None
    assert parse_settings(1, "no", "[]").dag_ids is None


def test_bad_parameters_are_all_named() -> None:
    with pytest.raises(ValueError) as caught:
        parse_settings("-1", "maybe", "[broken")
    text = str(caught.value)
    assert "min_age_minutes: got '-1'; allowed: a number of minutes >= 0" in text
    assert "dry_run: got 'maybe'; allowed: true or false" in text
    assert "dag_ids: got '[broken'" in text
    for bad in ("nan", "inf", True, "soon"):
        with pytest.raises(ValueError):
            parse_settings(bad, False, None)
    with pytest.raises(ValueError):
        parse_settings(1, False, [1, 2])


def test_the_report_sorts_verdicts_by_what_was_done() -> None:
    terminate = verdict(Lookup.of_task("failed"))
    refused = Verdict(Action.TERMINATE, "gone", "c-refused")
    keep = verdict(Lookup.of_task("running"))
    ignore = verdict(None, tags={})
    settings = SweepSettings(30.0, False, None)
    report = sweep_report([terminate, refused, keep, ignore], settings, [terminate.cluster_id], seconds=2.04)
    assert [len(report[name]) for name in REPORT_LISTS] == [1, 0, 1, 1, 1]
    assert report["terminated"][0] == {
        "cluster_id": "1124-100000-abcdefgh",
        "cluster_name": "etl",
        "cluster_state": "PENDING",
        "dag_id": "etl",
        "run_id": RUN_ID,
        "task_id": "create_cluster",
        "map_index": -1,
        "state": "failed",
        "reason": terminate.reason,
    }
    assert report["ignored"][0]["dag_id"] is None
    assert (
        summary(report)
        == "Leak sweep in 2.0 s: 1 terminated, 0 would terminate, 1 not terminated, 1 kept, 1 ignored"
    )
    dry = sweep_report([terminate, keep], SweepSettings(0.0, True, frozenset({"b", "a"})), [], seconds=0)
    assert [len(dry[name]) for name in REPORT_LISTS] == [0, 1, 0, 1, 0]
    assert (dry["dry_run"], dry["dag_ids"]) == (True, ["a", "b"])
    assert summary(dry).startswith("Leak sweep (dry run) in 0.0 s: ")


def test_a_log_line_names_the_cluster_its_task_instance_what_was_done_and_why() -> None:
    line = verdict(Lookup.of_task("failed")).log_line("terminated")
    assert line.startswith(
        f"Cluster 1124-100000-abcdefgh 'etl' [PENDING], task instance etl/{RUN_ID}/create_cluster (failed): "
        "terminated: its task instance ended failed"
    )


def test_the_policy_imports_no_airflow() -> None:
    probe = (
        "import sys, airflow_databricks_clusters.fleet.sweep_policy\n"
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
