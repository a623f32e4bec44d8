"""What an opened row shows from its cluster's events (``fleet.row_detail``)."""

from __future__ import annotations

from typing import Any

from airflow_databricks_clusters.fleet.row_detail import EVENTS_SHOWN, event_text, row_detail

SECRET = "s3cr3t-registry-password"


def event(kind: str, at: int, **details: Any) -> dict[str, Any]:
    return {"cluster_id": "a", "timestamp": at, "type": kind, "details": details}


def test_nodes_lost_added_and_a_fallback_an_event_reports() -> None:
    events = [  # newest first, as clusters/events answers
        event("TERMINATING", 9, reason={"code": "USER_REQUEST", "type": "SUCCESS"}),
        event("NODES_LOST", 8, lost_node_count=2),
        event("UPSIZE_COMPLETED", 7, current_num_workers=3, target_num_workers=3),
        event("ADD_NODES_FAILED", 6, reason={"code": "SPOT_INSTANCE_FALLBACK", "type": "SUCCESS"}),
        event("RUNNING", 5, current_num_workers=1),
    ]
    detail = row_detail({"cluster_id": "a", "state": "TERMINATED"}, events)
    assert detail["nodes_lost"] == 2 and detail["nodes_added"] == 1
    assert detail["fell_back"] is True and detail["fallback_events"] == 1
    assert detail["events_read"] == 5
    assert [e["type"] for e in detail["last_events"]][:2] == ["TERMINATING", "NODES_LOST"]
    assert detail["last_events"][0]["text"] == "USER_REQUEST (SUCCESS)"
    assert detail["last_events"][2]["text"] == "current_num_workers=3, target_num_workers=3"


def test_a_live_clusters_fallback_also_shows_in_its_nodes() -> None:
    on_demand = {"node_aws_attributes": {"is_spot": False}}
    cluster = {
        "cluster_id": "a",
        "state": "RUNNING",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
        "executors": [on_demand],
    }
    assert row_detail(cluster, [])["fell_back"] is True
    assert row_detail({**cluster, "executors": []}, [])["fell_back"] is False


def test_only_the_newest_events_are_shown_and_no_spec_or_secret_is() -> None:
    spec = {"docker_image": {"basic_auth": {"username": "u", "password": SECRET}}}
    events = [event("EDITED", 100 - n, attributes=spec, previous_attributes=spec) for n in range(30)]
    events.append(event("INIT_SCRIPTS_FINISHED", 1, password=SECRET, note=f"token={SECRET}"))
    detail = row_detail({"cluster_id": "a", "state": "RUNNING"}, events)
    assert len(detail["last_events"]) == EVENTS_SHOWN
    assert SECRET not in repr(detail)
    text = event_text(events[-1])
    assert SECRET not in text and "password=***" in text and "note=token=***" in text
