"""Scenarios: failures a test switches on for the clusters (or job runs) that match, by id.

A scenario names one of ``SCENARIOS``, optionally one cluster (by id or name) and how many ``times`` it
applies, and carries its options; the cluster lifecycle (``lifecycle.py``) and the job runs (``jobs.py``)
take it when a cluster or run it matches reaches the point it changes. Plain data, saved with the
workspace. ``Workspace`` is its public face and holds the lock around it.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import invalid_parameter

SCENARIOS = (
    "spot_capacity_failure",
    "spot_fallback_to_on_demand",
    "spot_nodes_lost",
    "docker_image_pull_failure",
    "init_script_failure",
    "stuck_pending",
    "run_failure",
    "library_failure",
)


class Scenarios:
    """The scenarios switched on in one workspace, by id (``scenario-<n>``). Not locked itself."""

    def __init__(self) -> None:
        self._scenarios: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def add(
        self,
        name: str,
        *,
        cluster_id: str | None,
        cluster_name: str | None,
        times: int | None,
        options: dict[str, Any],
    ) -> str:
        """Switch a scenario on (see ``Workspace.set_scenario``); returns its id."""
        if name not in SCENARIOS:
            raise invalid_parameter(f"Unknown scenario {name}: one of {', '.join(SCENARIOS)}.")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise invalid_parameter(f"Invalid times {times!r}: a whole number from 1, or none for always.")
        _check_options(name, options)
        scenario_id = f"scenario-{next(self._ids)}"
        self._scenarios[scenario_id] = {
            "name": name,
            "cluster_id": cluster_id,
            "cluster_name": cluster_name,
            "times": times,
            "options": options,
        }
        return scenario_id

    def clear(self) -> None:
        self._scenarios.clear()

    def take(
        self,
        name: str,
        cluster: Mapping[str, Any],
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        """The options of a scenario that applies to this cluster (using up one of its ``times``); with
        ``accept``, only one whose options it accepts (a ``library_failure`` whose ``match`` fits)."""
        for scenario_id, scenario in list(self._scenarios.items()):
            if scenario["name"] != name:
                continue
            if accept is not None and not accept(scenario["options"]):
                continue
            if scenario["cluster_id"] not in (None, cluster.get("cluster_id")):
                continue
            if scenario["cluster_name"] not in (None, cluster.get("cluster_name")):
                continue
            if scenario["times"] is not None:
                scenario["times"] -= 1
                if scenario["times"] <= 0:
                    del self._scenarios[scenario_id]
            return dict(scenario["options"])
        return None

    def to_json(self) -> dict[str, dict[str, Any]]:
        """Every scenario still on, by id (a copy)."""
        return copy.deepcopy(self._scenarios)

    def load_json(self, data: Mapping[str, Any]) -> None:
        """Replace the scenarios with saved ones; new ids continue after the highest saved one."""
        self._scenarios = copy.deepcopy(dict(data))
        numbers = [int(key.rsplit("-", 1)[1]) for key in self._scenarios]
        self._ids = itertools.count(max(numbers, default=0) + 1)


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    """Refuse an option value the lifecycle could not use, when it is set rather than when it is taken."""
    if name == "stuck_pending" and options.get("seconds") is not None:
        seconds = options["seconds"]
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise invalid_parameter(
                f"Invalid seconds {seconds!r}: how long the cluster stays PENDING, a number from 0."
            )
    if name == "library_failure":
        unknown = sorted(set(options) - {"match", "message"})
        if unknown:
            raise invalid_parameter(
                f"Unknown option {unknown[0]} of library_failure: it takes match, message."
            )
        for key in ("match", "message"):
            if options.get(key) is not None and not isinstance(options[key], str):
                raise invalid_parameter(
                    f"Invalid {key} {options[key]!r}: a string ("
                    + (
                        "text the library's path, package or maven coordinates contain"
                        if key == "match"
                        else "what the failed library's messages say"
                    )
                    + ")."
                )
