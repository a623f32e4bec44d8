"""The due schedule: a request touches only the clusters with something due, and the workspace answers
exactly as it did when every request walked every cluster.

The reference is the workspace with its old ``_advance`` (every cluster, in creation order); both are
driven by the same seeded sequence of API calls, job runs, scenarios, clock moves and state-file round
trips on a hand-moved clock, and must agree on every answer, every error and every saved record.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.jobs import Runs
from airflow_databricks_clusters.emulator.lifecycle import Lifecycle
from airflow_databricks_clusters.emulator.schedule import DueSchedule
from airflow_databricks_clusters.emulator.workspace import Workspace

SPEC: dict[str, Any] = {
    "cluster_name": "a",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 2,
    "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
}
OPTIONS: dict[str, Any] = {
    "start_seconds": 2.0,
    "terminate_seconds": 0.5,
    "autotermination_scale": 1.0,  # 10 minutes of autotermination are 10 emulated seconds
    "seed": 7,
}
T0 = 1_800_000_000.0


class WalkingWorkspace(Workspace):
    """The workspace as it was: every request brings every cluster up to date, in creation order."""

    def _advance(self) -> None:
        now = self.now()
        for cluster in self._clusters.values():
            self.lifecycle.advance(cluster, now)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Pair:
    """The same workspace twice, the scheduled one and the walking one, on one clock."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.new: Workspace = Workspace(clock=self.clock, **OPTIONS)
        self.old: Workspace = WalkingWorkspace(clock=self.clock, **OPTIONS)
        self.runs = {
            id(self.new): Runs(self.new, run_seconds=2.0),
            id(self.old): Runs(self.old, run_seconds=2.0),
        }

    def both(self, call: Callable[[Workspace, Runs], Any]) -> Any:
        """Call on each; the answers (or errors) must be equal."""
        answers = [_outcome(call, ws, self.runs[id(ws)]) for ws in (self.new, self.old)]
        assert answers[0] == answers[1]
        return answers[0]

    def assert_same_records(self) -> None:
        """Everything a state file would hold is equal."""
        assert self.new.to_json() == self.old.to_json()
        assert self.runs[id(self.new)].to_json() == self.runs[id(self.old)].to_json()

    def reload(self) -> None:
        """Both saved and loaded again, as a restarted emulator does with its state file."""
        reloaded = []
        for ws in (self.new, self.old):
            fresh = type(ws).from_json(ws.to_json(), clock=self.clock, **OPTIONS)
            runs = Runs(fresh, run_seconds=2.0)
            runs.load_json(self.runs[id(ws)].to_json())
            reloaded.append((fresh, runs))
        (self.new, new_runs), (self.old, old_runs) = reloaded
        self.runs = {id(self.new): new_runs, id(self.old): old_runs}


def _outcome(call: Callable[[Workspace, Runs], Any], ws: Workspace, runs: Runs) -> Any:
    try:
        return ("answer", call(ws, runs))
    except ApiError as err:
        return ("error", err.status, err.body())


def _ids(pair: Pair) -> list[str]:
    return sorted(pair.new.to_json()["clusters"])


def _random_spec(rng: random.Random) -> dict[str, Any]:
    spec = {**SPEC, "cluster_name": rng.choice("abc")}
    spec["autotermination_minutes"] = rng.choice([0, 10, 20])
    if rng.random() < 0.3:
        spec["init_scripts"] = [
            {"dbfs": {"destination": f"dbfs:/init/{n}.sh"}} for n in range(rng.randint(1, 2))
        ]
    if rng.random() < 0.2:
        spec["aws_attributes"] = {"availability": "SPOT", "first_on_demand": 1}
    return spec


SCENARIO_OPTIONS: dict[str, list[dict[str, Any]]] = {
    "spot_capacity_failure": [{}],
    "spot_fallback_to_on_demand": [{}],
    "spot_nodes_lost": [{"count": 1, "after_seconds": 3}, {"count": 2}],
    "docker_image_pull_failure": [{}],
    "init_script_failure": [{}, {"script_index": 1}],
    "stuck_pending": [{}, {"seconds": 5}],
    "run_failure": [{}],
}


def _random_call(rng: random.Random, pair: Pair) -> Callable[[Workspace, Runs], Any] | None:
    """One random step; None for a step taken outside the API (the clock, a reload)."""
    ids = _ids(pair) or ["missing"]
    cluster_id = rng.choice([*ids, "missing"]) if rng.random() < 0.05 else rng.choice(ids)
    target = {"cluster_id": cluster_id}
    kind = rng.choices(
        [
            "create", "get", "list", "events", "start", "restart", "resize", "edit", "delete",
            "permanent_delete", "pin", "touch", "scenario", "submit", "run_get", "cancel", "all",
            "advance", "catch_up", "reload",
        ],
        weights=[10, 12, 4, 3, 5, 3, 3, 3, 4, 1, 1, 3, 3, 4, 6, 1, 1, 16, 2, 1],
    )[0]  # fmt: skip
    if kind == "create":
        spec = _random_spec(rng)
        return lambda ws, runs: ws.clusters_create(spec)
    if kind == "get":
        return lambda ws, runs: ws.clusters_get(target)
    if kind == "list":
        params: dict[str, Any] = {"page_size": rng.choice([0, 1, 3])}
        if rng.random() < 0.5:
            params["filter_by.cluster_states"] = rng.sample(["RUNNING", "PENDING", "TERMINATED"], 2)
        if rng.random() < 0.5:
            params["sort_by.field"] = "CLUSTER_NAME"
            params["sort_by.direction"] = rng.choice(["ASC", "DESC"])
        return lambda ws, runs: ws.clusters_list(params)
    if kind == "events":
        return lambda ws, runs: ws.clusters_events({**target, "order": "ASC", "limit": 500})
    if kind == "start":
        return lambda ws, runs: ws.clusters_start(target)
    if kind == "restart":
        return lambda ws, runs: ws.clusters_restart(target)
    if kind == "resize":
        size = {"num_workers": rng.randint(0, 4)}
        return lambda ws, runs: ws.clusters_resize({**target, **size})
    if kind == "edit":
        spec = _random_spec(rng)
        return lambda ws, runs: ws.clusters_edit({**target, **spec})
    if kind == "delete":
        return lambda ws, runs: ws.clusters_delete(target)
    if kind == "permanent_delete":
        return lambda ws, runs: ws.clusters_permanent_delete(target)
    if kind == "pin":
        return lambda ws, runs: ws.clusters_pin(target)
    if kind == "touch":
        at = pair.clock.now - rng.choice([0.0, 1.0, 5.0])
        return lambda ws, runs: ws.touch_cluster(cluster_id, at)
    if kind == "scenario":
        name = rng.choice(sorted(SCENARIO_OPTIONS))
        options = dict(rng.choice(SCENARIO_OPTIONS[name]))
        who = rng.choice([{}, {"cluster_name": rng.choice("abc")}, {"cluster_id": cluster_id}])
        times = rng.choice([None, 1, 2])
        return lambda ws, runs: ws.set_scenario(name, times=times, **who, **options)
    if kind == "submit":
        task = {
            "task_key": "t",
            "existing_cluster_id": cluster_id,
            "spark_python_task": {"python_file": "x.py"},
        }
        return lambda ws, runs: runs.submit({"tasks": [task]})
    if kind in ("run_get", "cancel"):
        run_ids = sorted(int(run_id) for run_id in pair.runs[id(pair.new)].to_json()["runs"]) or [1]
        run = {"run_id": rng.choice(run_ids)}
        return (lambda ws, runs: runs.get(run)) if kind == "run_get" else (lambda ws, runs: runs.cancel(run))
    if kind == "all":
        return lambda ws, runs: (ws.all_clusters(), runs.all_runs())
    if kind == "advance":
        pair.clock.now += rng.choice([0.0, 0.1, 0.4, 1.0, 2.0, 3.0, 7.0, 25.0])
    elif kind == "catch_up":
        pair.clock.now += rng.choice([1.0, 30.0])
        pair.both(lambda ws, runs: ws.catch_up())
    else:
        pair.reload()
    return None


@pytest.mark.parametrize("seed", range(6))
def test_the_scheduled_workspace_answers_as_the_walking_one_did(seed: int) -> None:
    rng = random.Random(seed)
    pair = Pair()
    for step in range(400):
        call = _random_call(rng, pair)
        if call is not None:
            pair.both(call)
        if step % 25 == 0:
            pair.assert_same_records()
    pair.clock.now += 100
    pair.both(lambda ws, runs: (ws.all_clusters(), runs.all_runs()))
    pair.assert_same_records()


@pytest.fixture
def advanced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The id of every cluster ``Lifecycle.advance`` is called on, in order."""
    seen: list[str] = []
    original = Lifecycle.advance

    def counting(self: Lifecycle, cluster: dict[str, Any], now: float) -> None:
        seen.append(cluster["cluster_id"])
        original(self, cluster, now)

    monkeypatch.setattr(Lifecycle, "advance", counting)
    yield seen


def test_a_request_looks_only_at_the_clusters_with_something_due(advanced: list[str]) -> None:
    clock = Clock()
    ws = Workspace(clock=clock, **OPTIONS)
    ids = [ws.clusters_create({**SPEC, "autotermination_minutes": 10})["cluster_id"] for _ in range(300)]
    clock.now += 2.0
    ws.catch_up()
    assert sorted(advanced) == sorted(ids)  # each one once, as it came due

    advanced.clear()
    for _ in range(50):
        assert ws.clusters_get({"cluster_id": ids[0]})["state"] == "RUNNING"
    assert advanced == []

    ws.clusters_restart({"cluster_id": ids[7]})
    clock.now += 2.0
    ws.clusters_get({"cluster_id": ids[0]})
    assert advanced == [ids[7]]


def test_activity_postpones_the_autotermination_it_was_scheduled_for() -> None:
    clock = Clock()
    ws = Workspace(clock=clock, **OPTIONS)
    cluster_id = ws.clusters_create({**SPEC, "autotermination_minutes": 10})["cluster_id"]
    clock.now += 2.0  # RUNNING: idle from here, so due to terminate at +10
    ws.catch_up()
    clock.now += 8.0
    ws.touch_cluster(cluster_id)  # idle from here: due at +10 from now
    clock.now += 3.0  # past the first deadline
    assert ws.clusters_get({"cluster_id": cluster_id})["state"] == "RUNNING"
    clock.now += 7.0
    cluster = ws.clusters_get({"cluster_id": cluster_id})
    assert cluster["state"] == "TERMINATING"
    assert cluster["termination_reason"]["code"] == "INACTIVITY"


def test_replaced_entries_do_not_pile_up() -> None:
    clock = Clock()
    ws = Workspace(clock=clock, **OPTIONS)
    cluster_id = ws.clusters_create({**SPEC, "autotermination_minutes": 10000})["cluster_id"]
    for _ in range(500):
        clock.now += 2.0
        assert ws.clusters_get({"cluster_id": cluster_id})["state"] == "RUNNING"
        ws.clusters_restart({"cluster_id": cluster_id})  # due sooner than its autotermination
    assert len(ws._due) <= 2 + 64 + 1


def test_the_schedule_hands_out_due_clusters_in_creation_order_once_each() -> None:
    schedule = DueSchedule()
    for cluster_id in ("c", "a", "b"):
        schedule.add(cluster_id)
    schedule.plan("b", 5.0)
    schedule.plan("a", 9.0)
    schedule.plan("a", 3.0)  # sooner: replaces its entry at 9
    schedule.plan("c", 4.0)
    schedule.plan("c", 8.0)  # later: its entry at 4 stands, and is a look that may find nothing
    assert schedule.take_due(2.0) == []
    assert schedule.take_due(6.0) == ["c", "a", "b"]
    assert schedule.take_due(100.0) == []  # every entry used up or replaced
    schedule.plan("b", 1.0)
    schedule.remove("b")
    assert schedule.take_due(100.0) == []


def _random_shortages(rng: random.Random, now: float) -> list[dict[str, Any]]:
    """A few shortages around ``now``: some begun, some to begin, some to end."""
    shortages: list[dict[str, Any]] = []
    for _ in range(rng.randint(0, 3)):
        shortage: dict[str, Any] = {
            "node_type_id": rng.choice([None, "i3.xlarge", "i3.2xlarge"]),
            "zone_id": rng.choice([None, "ap-southeast-1a", "ap-southeast-1b"]),
            "market": rng.choice([None, "SPOT", "SPOT", "ON_DEMAND"]),
        }
        if rng.random() < 0.7:
            shortage["from_seconds"] = now + rng.choice([-5.0, 0.0, 0.5, 1.0, 3.0, 8.0])
        if rng.random() < 0.5:
            shortage["until_seconds"] = shortage.get("from_seconds", now) + rng.choice([0.5, 2.0, 10.0])
        shortages.append(shortage)
    return shortages


@pytest.mark.parametrize("seed", range(4))
def test_the_scheduled_workspace_answers_as_the_walking_one_did_under_capacity(seed: int) -> None:
    """Shortages set now and then (spot machines taken back when one begins) and clusters that meet them
    (zone auto, alternates): a reclaim is a due moment like a step."""
    rng = random.Random(seed)
    pair = Pair()
    for step in range(400):
        if rng.random() < 0.06:
            shortages = _random_shortages(rng, pair.clock.now)
            pair.both(lambda ws, runs, shortages=shortages: ws.set_capacity(shortages))
            continue
        if rng.random() < 0.08:
            spec = {
                **_random_spec(rng),
                "aws_attributes": {
                    "availability": rng.choice(["SPOT", "SPOT_WITH_FALLBACK", "ON_DEMAND"]),
                    "first_on_demand": rng.choice([0, 1, 2]),
                    "zone_id": rng.choice(["auto", "ap-southeast-1a"]),
                },
                "worker_node_type_flexibility": {"alternate_node_type_ids": ["i3.2xlarge"]},
            }
            pair.both(lambda ws, runs, spec=spec: ws.clusters_create(spec))
            continue
        call = _random_call(rng, pair)
        if call is not None:
            pair.both(call)
        if step % 25 == 0:
            pair.assert_same_records()
    pair.clock.now += 100
    pair.both(lambda ws, runs: (ws.all_clusters(), runs.all_runs()))
    pair.assert_same_records()
