"""EC2 capacity as data: which node type can be had, in which zone, on which market, when.

A *shortage* says that some instances cannot be had for a while: ``{"node_type_id", "zone_id", "market",
"from_seconds", "until_seconds"}``, each None (or absent) for any node type, any zone, both markets, from
the beginning, for ever. Times are the emulator's clock (epoch seconds, what ``emu.clock.now()`` reads);
a shortage holds from ``from_seconds`` (included) until ``until_seconds`` (excluded). Everything not
short can be had, in any number.

The rest is how a start meets that capacity, as a workspace does (docs/emulator-fidelity.md, "Capacity"):
which zone a cluster lands in, which node type and market each node gets, whether the start fails, and
when a spot node is reclaimed. Pure functions of the shortages and a moment; ``lifecycle.py`` applies them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import invalid_parameter

SPOT = "SPOT"
ON_DEMAND = "ON_DEMAND"
SPOT_WITH_FALLBACK = "SPOT_WITH_FALLBACK"
MARKETS = (SPOT, ON_DEMAND)
#: The keys of a shortage, in the order the messages name them.
FIELDS = ("node_type_id", "zone_id", "market", "from_seconds", "until_seconds")
#: A start succeeds with at least this share of the on-demand workers it asked for (the Clusters API's
#: create reference: "at least 85% of the requested on-demand nodes").
ON_DEMAND_QUORUM_PERCENT = 85
#: What AWS answers a spot request it cannot fill.
SPOT_SHORT_MESSAGE = "There is no Spot capacity available that matches your request."

Shortage = dict[str, Any]


# -- the shortages as set ----------------------------------------------------------------------------------


def checked(shortages: Any, *, node_types: Collection[str], zones: Collection[str]) -> list[Shortage]:
    """``shortages`` if every one is well formed, as a new list; else 400 INVALID_PARAMETER_VALUE naming
    the first bad field and what it allows. ``node_types`` and ``zones`` are the workspace's."""
    if not isinstance(shortages, list):
        raise invalid_parameter(
            f"Invalid shortages {_shown(shortages)}: a list of shortages, each an object with "
            f"{', '.join(FIELDS)} (every one optional)."
        )
    return [_checked_one(item, index, node_types, zones) for index, item in enumerate(shortages)]


def _checked_one(item: Any, index: int, node_types: Collection[str], zones: Collection[str]) -> Shortage:
    where = f"shortages[{index}]"
    if not isinstance(item, Mapping):
        raise invalid_parameter(
            f"Invalid {where} {_shown(item)}: an object with {', '.join(FIELDS)} (every one optional)."
        )
    unknown = [key for key in item if key not in FIELDS]
    if unknown:
        raise invalid_parameter(f"Unknown field {where}.{unknown[0]}: a shortage has {', '.join(FIELDS)}.")
    node_type, zone, market = item.get("node_type_id"), item.get("zone_id"), item.get("market")
    if node_type is not None and node_type not in node_types:
        raise invalid_parameter(
            f"Invalid {where}.node_type_id {_shown(node_type)}: a node type of the workspace "
            f"({', '.join(sorted(node_types))}), or null for any."
        )
    if zone is not None and zone not in zones:
        raise invalid_parameter(
            f"Invalid {where}.zone_id {_shown(zone)}: a zone of the workspace ({', '.join(zones)}), "
            "or null for any."
        )
    if market is not None and market not in MARKETS:
        raise invalid_parameter(
            f"Invalid {where}.market {_shown(market)}: SPOT, ON_DEMAND, or null for both."
        )
    begin, end = item.get("from_seconds"), item.get("until_seconds")
    for name, value in (("from_seconds", begin), ("until_seconds", end)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            raise invalid_parameter(
                f"Invalid {where}.{name} {_shown(value)}: a finite number of epoch seconds on the "
                "emulator's clock, or null for "
                + ("the beginning." if name == "from_seconds" else "for ever.")
            )
    if begin is not None and end is not None and end <= begin:
        raise invalid_parameter(
            f"Invalid {where}.until_seconds {_shown(end)}: it must be after from_seconds ({_shown(begin)})."
        )
    return dict(item)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- what can be had -----------------------------------------------------------------------------------


def _matches(shortage: Mapping[str, Any], node_type: str, zone: str, market: str) -> bool:
    return (
        shortage.get("node_type_id") in (None, node_type)
        and shortage.get("zone_id") in (None, zone)
        and shortage.get("market") in (None, market)
    )


def _holds_at(shortage: Mapping[str, Any], at: float) -> bool:
    begin, end = shortage.get("from_seconds"), shortage.get("until_seconds")
    return (begin is None or begin <= at) and (end is None or at < end)


def available(
    shortages: Sequence[Mapping[str, Any]], node_type: str, zone: str, market: str, at: float
) -> bool:
    """Whether an instance of ``node_type`` in ``zone`` on ``market`` can be had at ``at``."""
    return not any(_matches(s, node_type, zone, market) and _holds_at(s, at) for s in shortages)


def node_rule(slot: int, availability: str, first_on_demand: int) -> str:
    """How node ``slot`` (0 the driver, then the workers) is bought: ON_DEMAND, SPOT or
    SPOT_WITH_FALLBACK. ``first_on_demand`` counts the driver first."""
    if availability == ON_DEMAND or slot < first_on_demand:
        return ON_DEMAND
    return SPOT if availability == SPOT else SPOT_WITH_FALLBACK


def attempts(rule: str, candidates: Sequence[str]) -> list[tuple[str, str]]:
    """The (node type, market) tries for a node, in order: spot across every candidate before on-demand
    with SPOT_WITH_FALLBACK (the facts file, flexible node types)."""
    spot = [(node_type, SPOT) for node_type in candidates]
    on_demand = [(node_type, ON_DEMAND) for node_type in candidates]
    if rule == ON_DEMAND:
        return on_demand
    return spot if rule == SPOT else spot + on_demand


@dataclass(frozen=True)
class Pick:
    """What one node got: its node type and market (``spot``), and whether it is on-demand only because
    spot was short (``fell_back``)."""

    node_type_id: str
    spot: bool
    fell_back: bool = False


def acquire(
    shortages: Sequence[Mapping[str, Any]],
    zone: str,
    rule: str,
    candidates: Sequence[str],
    at: float,
) -> Pick | None:
    """The first try that can be had, or None."""
    for node_type, market in attempts(rule, candidates):
        if available(shortages, node_type, zone, market, at):
            spot = market == SPOT
            return Pick(node_type, spot, fell_back=rule == SPOT_WITH_FALLBACK and not spot)
    return None


def candidates(cluster: Mapping[str, Any], *, driver: bool, pool_node_type: str | None = None) -> list[str]:
    """A node's node types in the order tried: for the driver ``driver_node_type_id`` (else
    ``node_type_id``), for workers ``node_type_id``, each followed by its flexibility's
    ``alternate_node_type_ids``. A pool's node type stands in for a missing ``node_type_id``."""
    primary = cluster.get("node_type_id") or pool_node_type
    if driver:
        primary = cluster.get("driver_node_type_id") or primary
    flexibility = cluster.get("driver_node_type_flexibility" if driver else "worker_node_type_flexibility")
    alternates = list((flexibility or {}).get("alternate_node_type_ids") or [])
    ordered = [primary, *alternates] if primary else alternates
    return list(dict.fromkeys(ordered))  # each once, first place kept


def zones_to_try(zone_id: str | None, zones: Sequence[str]) -> list[str]:
    """The zones a start tries in order: the one given, or with ``auto`` the region's zones in the order
    ``clusters/list-zones`` lists them. None (a record without one) is the region's default zone."""
    if zone_id == "auto":
        return list(zones)
    return [zone_id or zones[0]]


def enough_on_demand(acquired: int, requested: int) -> bool:
    """Whether ``acquired`` of ``requested`` on-demand workers is enough for a start to succeed."""
    return requested == 0 or acquired * 100 >= ON_DEMAND_QUORUM_PERCENT * requested


# -- a start -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Miss:
    """A node that could not be had: the last try's node type, zone and market (what AWS refused)."""

    node_type_id: str
    zone: str
    market: str


@dataclass
class StartPlan:
    """What a start gets. ``driver`` None: no zone had the driver (``driver_miss`` says the last try).
    ``workers[i]`` is worker ``i + 1``'s pick, None where it could not be had (``worker_misses[i]``)."""

    zone: str
    driver: Pick | None
    driver_miss: Miss | None = None
    workers: list[Pick | None] = field(default_factory=list)
    worker_misses: list[Miss | None] = field(default_factory=list)
    #: The workers bought on demand by rule (``first_on_demand``, ON_DEMAND), and how many of them came.
    on_demand_requested: int = 0
    on_demand_acquired: int = 0

    @property
    def failed(self) -> bool:
        """The start fails: no driver, or under 85% of the on-demand workers asked for."""
        return self.driver is None or not enough_on_demand(self.on_demand_acquired, self.on_demand_requested)


def plan_start(
    shortages: Sequence[Mapping[str, Any]],
    *,
    zones: Sequence[str],
    availability: str,
    first_on_demand: int,
    driver_types: Sequence[str],
    worker_types: Sequence[str],
    workers: int,
    at: float,
    spot_ok: bool = True,
) -> StartPlan:
    """Place a start at ``at``: the first of ``zones`` where the driver can be had, then each worker in
    that zone. ``spot_ok`` False (a scenario's forced fallback) buys every worker on demand."""
    driver_rule = node_rule(0, availability, first_on_demand)
    driver: Pick | None = None
    miss: Miss | None = None
    zone = zones[0]
    for zone in zones:
        driver = acquire(shortages, zone, driver_rule, driver_types, at)
        if driver is not None:
            break
        node_type, market = attempts(driver_rule, driver_types)[-1]
        miss = Miss(node_type, zone, market)
    plan = StartPlan(zone=zone, driver=driver, driver_miss=None if driver else miss)
    if driver is None:
        return plan
    for rule, pick, worker_miss in pick_workers(
        shortages,
        zone=zone,
        availability=availability,
        first_on_demand=first_on_demand,
        worker_types=worker_types,
        slots=range(1, workers + 1),
        at=at,
        spot_ok=spot_ok,
    ):
        if rule == ON_DEMAND:
            plan.on_demand_requested += 1
            plan.on_demand_acquired += pick is not None
        plan.workers.append(pick)
        plan.worker_misses.append(worker_miss)
    return plan


def pick_workers(
    shortages: Sequence[Mapping[str, Any]],
    *,
    zone: str,
    availability: str,
    first_on_demand: int,
    worker_types: Sequence[str],
    slots: range,
    at: float,
    spot_ok: bool = True,
) -> list[tuple[str, Pick | None, Miss | None]]:
    """For each worker slot (1 the first worker): its rule, its pick (None if it could not be had) and
    then what was refused last. ``spot_ok`` False buys them on demand whatever the rule."""
    picked: list[tuple[str, Pick | None, Miss | None]] = []
    for slot in slots:
        rule = node_rule(slot, availability, first_on_demand)
        tried = rule if spot_ok else ON_DEMAND
        pick = acquire(shortages, zone, tried, worker_types, at)
        miss = None
        if pick is None:
            node_type, market = attempts(tried, worker_types)[-1]
            miss = Miss(node_type, zone, market)
        picked.append((rule, pick, miss))
    return picked


def insufficient_capacity_message(
    shortages: Sequence[Mapping[str, Any]], miss: Miss, zones: Sequence[str], at: float
) -> str:
    """What AWS says when it cannot fill a request: the spot text, or the on-demand one naming the type
    and zone and, as AWS does, the zones where that type can be had now."""
    if miss.market == SPOT:
        return SPOT_SHORT_MESSAGE
    elsewhere = [
        zone
        for zone in zones
        if zone != miss.zone and available(shortages, miss.node_type_id, zone, ON_DEMAND, at)
    ]
    message = (
        f"We currently do not have sufficient {miss.node_type_id} capacity in the Availability Zone you "
        f"requested ({miss.zone}). Our system will be working on provisioning additional capacity."
    )
    if elsewhere:
        message += (
            f" You can currently get {miss.node_type_id} capacity by not specifying an Availability Zone "
            f"in your request or choosing {', '.join(elsewhere)}."
        )
    return message


# -- spot reclaim --------------------------------------------------------------------------------------


def reclaim_at(
    shortages: Sequence[Mapping[str, Any]],
    *,
    set_at: float,
    node_type: str,
    zone: str,
    acquired_at: float,
) -> float | None:
    """When a spot node of ``node_type`` in ``zone``, bought at ``acquired_at``, is taken back: the first
    moment from ``acquired_at`` on that a spot shortage covering it begins; None if none does.

    A shortage begins at its ``from_seconds``, or, for the nodes running when the shortages were set
    (``set_at``) while it already held, at ``set_at``. One that had begun before the node was bought
    cannot take it: the node was bought because spot could be had then.
    """
    moments = []
    for shortage in shortages:
        if not _matches(shortage, node_type, zone, SPOT):
            continue
        begin = shortage.get("from_seconds")
        begins = set_at if begin is None else max(float(begin), set_at)
        end = shortage.get("until_seconds")
        if begins >= acquired_at and (end is None or begins < end):
            moments.append(begins)
    return min(moments, default=None)


class Capacity:
    """The shortages of one workspace and when they were last set. Plain data, saved with the workspace;
    ``Workspace`` is its public face and holds the lock around it."""

    def __init__(self) -> None:
        self.shortages: list[Shortage] = []
        #: When the shortages were last set (``reclaim_at``): 0 until they are.
        self.set_at = 0.0

    def set(self, shortages: list[Shortage], at: float) -> None:
        """Replace every shortage (already ``checked``), as of ``at``."""
        self.shortages = [dict(shortage) for shortage in shortages]
        self.set_at = float(at)

    def to_json(self) -> dict[str, Any]:
        return {"shortages": [dict(shortage) for shortage in self.shortages], "set_at": self.set_at}

    def load_json(self, data: Mapping[str, Any]) -> None:
        self.shortages = [dict(shortage) for shortage in data.get("shortages", [])]
        self.set_at = float(data.get("set_at", 0.0))
