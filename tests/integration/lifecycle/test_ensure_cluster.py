"""ensure_cluster against the emulator, with no Airflow around it: never two clusters, never a leaked one.

Every fault here is one the issue tracker reproduced against the create operator (issue 9): a create
whose answer is lost or unreadable, a tag lookup that cannot be read, surplus tagged clusters.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_databricks_clusters.client.retry import RetryPolicy
from airflow_databricks_clusters.cluster_spec.build import (
    build_cluster_spec,
    idempotency_token,
    task_instance_tags,
)
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.errors import InvalidParameter, MalformedAnswer, SpecError, UnknownOutcome
from airflow_databricks_clusters.hooks import DatabricksClustersHook
from airflow_databricks_clusters.wait.ensure import Action, ensure_cluster
from tests.integration.lifecycle.pipelines import (
    CLUSTER,
    UNREADABLE_LOOKUPS,
    lost_create_then_unreadable_lookup,
)

TAGS = task_instance_tags("ensure", "create_cluster", "manual__1", -1)
LIVE = {"PENDING", "RUNNING", "RESTARTING", "RESIZING"}
#: How long a wait inside ensure_cluster may take: a bound for a loaded machine, not an expectation.
TIMEOUT = 120


def hook() -> DatabricksClustersHook:
    # Quick retries: a test's faults are short, and the retry policy has its own tests. The deadline is
    # generous: the attempts a test counts must not be cut short by a slow machine.
    return DatabricksClustersHook(retry_policy=RetryPolicy(deadline_seconds=60, base_delay=0.05))


def ensure(**fields: Any) -> Any:
    spec = build_cluster_spec(**{**CLUSTER, **fields}, tags=TAGS)
    return ensure_cluster(hook(), spec, TAGS, polling_interval=0.1, timeout_seconds=TIMEOUT)


def tagged(emu: Emulator) -> list[dict[str, Any]]:
    return [c for c in emu.clusters.values() if all(c["custom_tags"].get(k) == v for k, v in TAGS.items())]


def live(emu: Emulator) -> list[dict[str, Any]]:
    return [c for c in emu.clusters.values() if c["state"] in LIVE]


def test_creates_once_then_reuses(emulator: Emulator) -> None:
    first = ensure()
    assert first.action is Action.CREATED
    again = ensure()
    assert (again.cluster_id, again.action) == (first.cluster_id, Action.REUSED)
    assert [c["cluster_id"] for c in emulator.clusters.values()] == [first.cluster_id]


def test_a_terminated_cluster_is_edited_to_this_spec_and_started(emulator: Emulator) -> None:
    first = ensure()
    hook().terminate_cluster(first.cluster_id)
    image = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/dataengineeringe2e:fixed"
    again = ensure(docker_image=image)
    assert (again.cluster_id, again.action) == (first.cluster_id, Action.STARTED)
    cluster = emulator.clusters[first.cluster_id]
    assert cluster["docker_image"]["url"] == image and cluster["state"] in LIVE


def test_the_recorded_id_is_used_when_no_tag_names_it(emulator: Emulator) -> None:
    # An id recorded by an earlier try (task_state_store) whose cluster no longer carries the tags.
    other = hook().create_cluster(build_cluster_spec(**CLUSTER))
    spec = build_cluster_spec(**CLUSTER, tags=TAGS)
    found = ensure_cluster(
        hook(), spec, TAGS, recorded_id=other, polling_interval=0.1, timeout_seconds=TIMEOUT
    )
    assert (found.cluster_id, found.action) == (other, Action.REUSED)
    assert len(emulator.clusters) == 1


def test_surplus_tagged_clusters_are_terminated_and_the_newest_live_one_kept(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    spec = build_cluster_spec(**CLUSTER, tags=TAGS)
    older, newer = hook().create_cluster(spec), hook().create_cluster(spec)
    emulator.workspace._clusters[newer]["start_time"] += 1000  # created later, as far as the list says
    with caplog.at_level(logging.INFO):
        found = ensure()
    assert (found.cluster_id, found.action, found.surplus_terminated) == (newer, Action.REUSED, (older,))
    assert emulator.clusters[older]["state"] in {"TERMINATING", "TERMINATED"}
    assert f"Terminating cluster {older}" in caplog.text


def test_a_lost_create_answer_is_resolved_by_the_tags(emulator: Emulator) -> None:
    emulator.add_fault("drop_after", path="clusters/create", times=1)
    found = ensure()
    assert found.action is Action.FOUND
    assert [c["cluster_id"] for c in tagged(emulator)] == [found.cluster_id]


def test_a_refused_create_then_a_lost_one_makes_one_cluster(emulator: Emulator) -> None:
    # Issue 9, repro 1: a 500 (nothing made), then the retried create is made but its answer lost.
    emulator.add_fault("status", path="clusters/create", status=500, times=1)
    emulator.add_fault("drop_after", path="clusters/create", times=1)
    found = ensure()
    assert found.action is Action.FOUND
    assert [c["cluster_id"] for c in tagged(emulator)] == [found.cluster_id]


@pytest.mark.parametrize("body", ["{}", '{"cluster_id": "0123-4567', "<html>502 Bad Gateway</html>", "[]"])
def test_an_unreadable_create_answer_is_resolved_by_the_tags(emulator: Emulator, body: str) -> None:
    # Issue 9, repro 2: the workspace made the cluster and answered 200 with something unreadable.
    emulator.add_fault("malformed", path="clusters/create", body=body, times=1)
    found = ensure()
    assert found.action is Action.FOUND
    assert [c["cluster_id"] for c in tagged(emulator)] == [found.cluster_id]


@pytest.mark.parametrize("lookup", UNREADABLE_LOOKUPS)
def test_a_lookup_that_cannot_be_read_is_an_error_and_leaves_nothing_running(
    emulator: Emulator, lookup: str
) -> None:
    lost_create_then_unreadable_lookup(emulator, lookup)
    expected = InvalidParameter if lookup == "400" else MalformedAnswer
    with pytest.raises(expected, match="clusters/list"):
        ensure()
    made = tagged(emulator)
    assert len(made) == 1, "exactly one create took effect"
    assert made[0]["state"] in {"TERMINATING", "TERMINATED"}, "and it was terminated, not leaked"


def test_creates_that_never_take_effect_give_up_after_the_attempts(emulator: Emulator) -> None:
    emulator.add_fault("status", path="clusters/create", status=500, times=3)
    with pytest.raises(UnknownOutcome):
        ensure()
    assert emulator.clusters == {}
    assert [r["status"] for r in emulator.request_log if r["path"].endswith("clusters/create")] == [500] * 3


def test_a_refused_create_looks_nothing_up_afterwards(emulator: Emulator) -> None:
    with pytest.raises(InvalidParameter, match="spark version"):
        ensure(spark_version="1.0.x-scala2.10")
    paths = [r["path"] for r in emulator.request_log]
    assert paths[-1].endswith("clusters/create") and emulator.clusters == {}


class RecordingHook(DatabricksClustersHook):
    """The hook, recording each create's token and what came of it (the answer, or the error's type)."""

    def __init__(self) -> None:
        super().__init__(retry_policy=RetryPolicy(deadline_seconds=60, base_delay=0.05))
        self.creates: list[tuple[str, str]] = []

    def create_cluster(self, spec: Any) -> str:
        try:
            cluster_id = super().create_cluster(spec)
        except Exception as err:
            self.creates.append((spec["idempotency_token"], type(err).__name__))
            raise
        self.creates.append((spec["idempotency_token"], cluster_id))
        return cluster_id


def test_a_create_whose_answer_was_lost_is_sent_again_with_its_token_and_answered_with_its_cluster(
    emulator: Emulator,
) -> None:
    emulator.add_fault("drop_after", path="clusters/create", times=1)
    recording = RecordingHook()
    spec = build_cluster_spec(**CLUSTER, tags=TAGS)
    made = ensure_cluster(recording, spec, TAGS, polling_interval=0.1, timeout_seconds=TIMEOUT)
    token = idempotency_token(TAGS)
    assert recording.creates == [(token, "UnknownOutcome"), (token, made.cluster_id)]
    # The request log: the first create was handled and its answer dropped (no status sent), the second
    # was answered.
    creates = [r for r in emulator.request_log if r["path"].endswith("clusters/create")]
    assert [(r["fault"] is not None, r["status"]) for r in creates] == [(True, None), (False, 200)]
    # The tags, looked up after, found nothing to fix.
    assert made.action is Action.FOUND and made.surplus_terminated == ()
    assert [c["cluster_id"] for c in tagged(emulator)] == [made.cluster_id]


def test_a_tagged_cluster_the_first_lookup_missed_is_terminated_after_a_lost_create(
    emulator: Emulator,
) -> None:
    # The second line behind the token: a live cluster of this task instance that the lookup before the
    # create did not list (a workspace listing late) is found by the lookup after a lost answer.
    earlier = hook().create_cluster(build_cluster_spec(**CLUSTER, tags=TAGS))
    emulator.add_fault(
        "malformed", path="clusters/list", body='{"clusters": [], "next_page_token": ""}', nth=1
    )
    emulator.add_fault("drop_after", path="clusters/create", times=1)
    made = ensure()
    assert made.action is Action.FOUND and made.surplus_terminated == (earlier,)
    assert [c["cluster_id"] for c in live(emulator)] == [made.cluster_id]


def test_every_create_carries_the_task_instances_token_and_a_given_one_is_refused() -> None:
    token = idempotency_token(TAGS)
    assert token == idempotency_token(dict(TAGS)) and len(token) <= 64
    other = task_instance_tags("ensure", "create_cluster", "manual__1", 0)
    assert idempotency_token(other) != token
    with pytest.raises(SpecError) as caught:
        build_cluster_spec(**CLUSTER, cluster_json={"idempotency_token": "mine"}, tags=TAGS)
    assert caught.value.problems[0].field == "idempotency_token"
    assert "one per task instance" in caught.value.problems[0].allowed
