"""What a good answer of each endpoint looks like, checked where it enters. Pure: no I/O, no Airflow.

The hook hands every successful body to one of these before anyone reads it. A body that is not the JSON
object the API documents (an HTML page from a proxy, a truncated body, a list where an object belongs)
raises ``MalformedAnswer`` naming the endpoint, what was wrong and the start of what came back, so a bad
answer is never read as "no clusters", "an unknown state" or a ``KeyError``.

The start of a bad body is shown with its secrets replaced (``redaction.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.errors import MalformedAnswer
from airflow_databricks_clusters.redaction import redact, redact_value

#: How much of a bad body an error shows.
SHOWN_BYTES = 200


@dataclass(frozen=True)
class Unreadable:
    """A body that is not JSON at all (an HTML error page, a truncated answer): its start, as text."""

    text: str

    def __str__(self) -> str:
        return self.text


def decode_body(content: bytes) -> Any:
    """A response body as JSON; an empty body as ``{}``; anything else as ``Unreadable``."""
    if not content.strip():
        return {}
    try:
        return json.loads(content)
    except ValueError:
        return Unreadable(content[: SHOWN_BYTES * 2].decode(errors="replace"))


def shown(body: Any) -> str:
    """The start of a body for an error message: at most ``SHOWN_BYTES``, secrets replaced."""
    text = redact(body.text) if isinstance(body, Unreadable) else json.dumps(redact_value(body), default=str)
    return text if len(text) <= SHOWN_BYTES else text[:SHOWN_BYTES] + "..."


def _malformed(method: str, path: str, what: str, body: Any) -> MalformedAnswer:
    kind = "a body that is not JSON" if isinstance(body, Unreadable) else f"JSON {type(body).__name__}"
    return MalformedAnswer(
        f"answered {kind}, not {what}: {shown(body)}", status=200, method=method, path=path
    )


def json_object(body: Any, method: str, path: str, what: str = "a JSON object") -> dict[str, Any]:
    """``body`` when it is a JSON object."""
    if not isinstance(body, dict):
        raise _malformed(method, path, what, body)
    return body


def _string_field(body: Any, key: str, method: str, path: str, what: str) -> dict[str, Any]:
    answer = json_object(body, method, path, what)
    value = answer.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(method, path, what, body)
    return answer


def _list_field(
    body: Any, key: str, method: str, path: str, what: str, *, required: bool
) -> list[dict[str, Any]]:
    answer = json_object(body, method, path, what)
    if key not in answer and not required:
        return []
    items = answer.get(key)
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise _malformed(method, path, what, body)
    return [dict(item) for item in items]


def created_cluster_id(body: Any, method: str, path: str) -> str:
    """The ``cluster_id`` of a ``clusters/create`` answer."""
    return str(_string_field(body, "cluster_id", method, path, 'an object with a "cluster_id"')["cluster_id"])


def cluster(body: Any, method: str, path: str) -> dict[str, Any]:
    """A ``clusters/get`` answer: an object with a string ``cluster_id`` and ``state``."""
    what = 'a cluster object with "cluster_id" and "state"'
    _string_field(body, "cluster_id", method, path, what)
    return _string_field(body, "state", method, path, what)


@dataclass(frozen=True)
class ClusterPage:
    """One ``clusters/list`` page (API 2.1): its clusters and the next page's token ("" at the end)."""

    clusters: list[dict[str, Any]]
    next_page_token: str


def cluster_page(body: Any, method: str, path: str) -> ClusterPage:
    """A 2.1 ``clusters/list`` page. It always carries ``clusters`` or ``next_page_token`` (facts file);
    ``{}`` is not a list page, so a lookup can never mistake a broken answer for "no clusters"."""
    what = 'a list page with "clusters" and "next_page_token"'
    answer = json_object(body, method, path, what)
    token = answer.get("next_page_token", "")
    if not ({"clusters", "next_page_token"} & set(answer)) or not isinstance(token, str):
        raise _malformed(method, path, what, body)
    clusters = _list_field(answer, "clusters", method, path, what, required=False)
    if not all(isinstance(c.get("cluster_id"), str) and c.get("cluster_id") for c in clusters):
        raise _malformed(method, path, 'list items with a "cluster_id"', body)
    return ClusterPage(clusters, token)


@dataclass(frozen=True)
class EventPage:
    """One page of ``clusters/events``: its events and the request of the next page (None at the end)."""

    events: list[dict[str, Any]]
    next_page: dict[str, Any] | None


def event_page(body: Any, method: str, path: str) -> EventPage:
    """A ``clusters/events`` page: ``events`` (absent when there are none) and ``next_page`` (absent last)."""
    what = 'an events page with "events"'
    events = _list_field(body, "events", method, path, what, required=False)
    next_page = body.get("next_page")
    if next_page is not None and not isinstance(next_page, dict):
        raise _malformed(method, path, what, body)
    return EventPage(events, next_page or None)


def listing(body: Any, key: str, method: str, path: str) -> list[dict[str, Any]]:
    """The ``key`` list of a catalogue answer (runtimes, node types, pools, ...); absent means none."""
    return _list_field(body, key, method, path, f'an object with a "{key}" list', required=False)
