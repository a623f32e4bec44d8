"""What a good answer of each endpoint looks like, checked where it enters; and the plugin's one rule of
what a secret is. Pure: no I/O, no Airflow.

The hook hands every successful body to one of these before anyone reads it. A body that is not the JSON
object the API documents (an HTML page from a proxy, a truncated body, a list where an object belongs)
raises ``MalformedAnswer`` naming the endpoint, what was wrong and the start of what came back, so a bad
answer is never read as "no clusters", "an unknown state" or a ``KeyError``.

Redaction: a value is a secret when its key is named like one (``is_secret_key``), at any depth, in a
structure or in text (JSON, Python or ``key=value``), or when it follows ``Bearer``/``Basic``. The error
snippets here, the spec errors and the logged spec (``redact_value``, ``redact_field``, ``redact``) and
the operators' masking of rendered fields (``secret_values``) all apply this rule and no other.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.errors import MalformedAnswer

#: How much of a bad body an error shows.
SHOWN_BYTES = 200
#: What a secret is shown as.
REDACTED = "***"
#: Words that make a key a secret's, anywhere in its name and in any case (``DB_PASSWORD``,
#: ``client_secret``, ``spark.hadoop.fs.s3a.secret.key``, ``Authorization``, ``privateKey``, ...).
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)|secret|token|credential|authori[sz]ation|(?:private|api|access)[_.-]?key"
)
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
#: A key naming an authentication (``auth``, ``basic_auth``): an object under it is judged by its own keys,
#: anything else under it is a credential (``"user:password"``).
_AUTH_KEY = re.compile(r"(?:^|[\W_])auth$", re.IGNORECASE)
#: In text, a key is a run of these; a secret's value follows it after ":" or "=" (see ``_secrets_in``).
_KEY_WORD = re.compile(r"[\w.-]+")
_AFTER_KEY = re.compile(
    r"""["']?\s*[:=]\s*(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|(?:(?:Bearer|Basic)\s+)?[^\s,}&]+)""",
    re.IGNORECASE,
)
_SCHEME_VALUE = re.compile(r"\b(?P<key>Bearer|Basic)\s+(?P<value>[^\s,\"'}&]+)", re.IGNORECASE)


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


def is_secret_key(name: object) -> bool:
    """Whether a key (a field, a dict key, a spec field path) names a secret."""
    return isinstance(name, str) and _SECRET_KEY.search(name) is not None


def structured(text: str) -> Any:
    """The dict or list a text writes as JSON, or as Python (what a template renders a dict into); None
    for any other text."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None


def _secrets_in(text: str) -> Iterator[re.Match[str]]:
    """The value after each secret-like key in ``text`` (group ``value``). Key by key, in one pass: a single
    pattern for "a key holding a secret word" backtracks quadratically over a long word (a 10 KB value)."""
    position = 0
    while (word := _KEY_WORD.search(text, position)) is not None:
        position = word.end()
        if _SECRET_KEY.search(word.group()) and (after := _AFTER_KEY.match(text, position)) is not None:
            yield after
            position = after.end()


def redact(text: str) -> str:
    """``text`` with the value after any secret-like key and any ``Bearer``/``Basic`` credential replaced
    (text that may be cut short or not be JSON at all: an error body, an exception message)."""
    parts, shown_up_to = [], 0
    for found in _secrets_in(text):
        parts += [text[shown_up_to : found.start("value")], REDACTED]
        shown_up_to = found.end("value")
    text = "".join([*parts, text[shown_up_to:]])
    return _SCHEME_VALUE.sub(lambda m: f"{m['key']} {REDACTED}", text)


def _all_secret(name: object, value: Any) -> bool:
    """Whether all of ``value`` is a secret: under a secret's name, or a bare credential under an auth's.
    An empty value is not: "missing" is what a user must be told, and it tells nothing."""
    if value is None or value == "":
        return False
    if is_secret_key(name):
        return True
    bare = not isinstance(value, Mapping | list | tuple)
    return bare and isinstance(name, str) and _AUTH_KEY.search(name) is not None


def redact_field(name: object, value: Any) -> Any:
    """``value`` safe to show under ``name`` (a key, or a field path such as ``docker_image.basic_auth``):
    ``***`` when all of it is a secret, else ``redact_value(value)``."""
    return REDACTED if _all_secret(name, value) else redact_value(value)


def redact_value(value: Any) -> Any:
    """A copy of ``value`` safe to log or show: every secret in it replaced by ``***``, at any depth, in
    dicts, lists, and strings holding JSON, Python or ``key=value`` text. The input is not changed."""
    if isinstance(value, Mapping):
        return {key: redact_field(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [redact_value(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, str):
        parsed = structured(value)
        if parsed is None:
            return redact(value)
        redacted = redact_value(parsed)
        # Text with no secret is shown as it was written, not re-serialised.
        return value if redacted == parsed else json.dumps(redacted)
    return value


def secret_values(value: Any) -> Iterator[str]:
    """Every secret ``redact_value`` would hide in ``value``, as text, for Airflow's masker: it then hides
    each wherever it appears (a log line, a rendered field). Quoted text yields its escaped and plain form."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item) if _all_secret(key, item) else secret_values(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from secret_values(item)
    elif isinstance(value, str):
        parsed = structured(value)
        if parsed is not None:
            yield from secret_values(parsed)
            return
        for found in (*_secrets_in(value), *_SCHEME_VALUE.finditer(value)):
            yield from _unquoted(found["value"])


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _unquoted(text: str) -> Iterator[str]:
    for prefix in ("Bearer ", "Basic "):
        if text[: len(prefix)].lower() == prefix.lower():
            text = text[len(prefix) :].strip()
    if text[:1] in ('"', "'"):
        quote, text = text[0], text[1:]
        text = text[:-1] if text.endswith(quote) and not text.endswith("\\" + quote) else text
        if quote == '"':
            try:
                plain = json.loads(f'"{text}"')
            except ValueError:
                plain = text
            if plain and plain != text:
                yield plain
    if text:
        yield text


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
