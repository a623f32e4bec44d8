"""Reading request parameters: query parameters arrive as lists (a key may repeat), body fields as given.

``one`` and ``many`` take either form; ``field`` finds a nested parameter sent either way (the query's
``filter_by.cluster_states=...`` or a JSON body's ``{"filter_by": {"cluster_states": [...]}}``);
``integer`` answers a bad number as the API does; ``paged`` cuts a list into pages behind opaque tokens,
and ``select_page`` cuts the same page out of items in any order, sorting only what the page holds.
"""

from __future__ import annotations

import base64
import heapq
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from airflow_databricks_clusters.emulator.api_errors import invalid_parameter

T = TypeVar("T")
_WHOLE = re.compile(r"^-?\d{1,18}$")


def one(value: Any) -> Any:
    """The value, or the first of a repeated query parameter (None if there is none)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def many(value: Any) -> list[Any]:
    """Every value of a parameter that may be given once, repeated, or not at all."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def field(params: Mapping[str, Any], dotted: str) -> Any:
    """The parameter ``a.b`` as a query string flattens it, or as a JSON body nests it."""
    if dotted in params:
        return params[dotted]
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def integer(value: Any, name: str, *, default: int) -> int:
    """The parameter ``name`` as an integer, ``default`` if absent; INVALID_PARAMETER_VALUE if it is not a
    whole number (a bool, a fraction, an infinity or a word is not one)."""
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.match(value.strip()):
        return int(value)
    raise invalid_parameter(f"Invalid {name} {str(value)[:40]!r}: must be an integer.")


def paged(
    items: Sequence[T],
    key: Callable[[T], tuple[Any, ...]],
    token: Any,
    size: int,
    *,
    descending: bool,
    list_name: str,
    offset: int = 0,
) -> tuple[list[T], str, str]:
    """One page of ``items`` (already in the list's order: each item's distinct ``key`` growing along it,
    or shrinking if ``descending``) from a ``page_token``: the page, then the next and previous pages'
    tokens ("" when there is none).

    A token is a cursor, the key of the item a page ends (or starts) at, not an offset: an item added or
    removed between two requests makes no other item repeat or go missing. (An item whose own key changes
    between requests may still be seen twice or not at all, as with any cursor.) Without a token the page
    starts at ``offset`` (the deprecated way of paging some lists).
    INVALID_PARAMETER_VALUE for a token that is not one of this list's."""
    keys = [list(key(item)) for item in items]
    cursor = _cursor(token, list_name)

    def before(a: list[Any], b: list[Any]) -> bool:
        """Whether key ``a`` comes before key ``b`` in the list's order."""
        return a > b if descending else a < b

    if cursor is None:
        start, end = offset, offset + size
    elif "after" in cursor:
        start = next((i for i, k in enumerate(keys) if before(cursor["after"], k)), len(keys))
        end = start + size
    else:
        end = next((i for i, k in enumerate(keys) if not before(k, cursor["before"])), len(keys))
        start = max(end - size, 0)
    page = list(items[start:end])
    end = start + len(page)
    following = _token(list_name, after=keys[end - 1]) if page and end < len(keys) else ""
    preceding = _token(list_name, before=keys[start]) if page and start > 0 else ""
    return page, following, preceding


def select_page(
    items: Sequence[T],
    key: Callable[[T], tuple[Any, ...]],
    token: Any,
    size: int,
    *,
    descending: bool,
    list_name: str,
) -> tuple[list[T], str, str]:
    """What ``paged`` answers for ``items`` sorted by ``key`` (reversed if ``descending``), from items in
    any order: the page is picked out (O(n log size)) rather than the whole list sorted. Same tokens, same
    errors."""
    cursor = _cursor(token, list_name)
    keyed = [(list(key(item)), item) for item in items]

    def before(a: list[Any], b: list[Any]) -> bool:
        return a > b if descending else a < b

    def first(
        count: int, pairs: list[tuple[list[Any], T]], *, from_end: bool = False
    ) -> list[tuple[list[Any], T]]:
        """The first ``count`` of ``pairs`` in the list's order (the last ``count``, ``from_end``), in
        the list's order."""
        largest = descending != from_end
        chosen = (heapq.nlargest if largest else heapq.nsmallest)(count, pairs, key=_first)
        return chosen[::-1] if from_end else chosen

    if cursor is None or "after" in cursor:
        candidates = keyed if cursor is None else [p for p in keyed if before(cursor["after"], p[0])]
        chosen = first(size, candidates)
        more_before, more_after = len(candidates) < len(keyed), len(candidates) > len(chosen)
    else:
        candidates = [p for p in keyed if before(p[0], cursor["before"])]
        chosen = first(size, candidates, from_end=True)
        more_before, more_after = len(candidates) > len(chosen), len(candidates) < len(keyed)
    following = _token(list_name, after=chosen[-1][0]) if chosen and more_after else ""
    preceding = _token(list_name, before=chosen[0][0]) if chosen and more_before else ""
    return [item for _, item in chosen], following, preceding


def _first(pair: tuple[list[Any], Any]) -> list[Any]:
    return pair[0]


def _token(list_name: str, **cursor: list[Any]) -> str:
    data = json.dumps({"list": list_name, **cursor}).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _cursor(token: Any, list_name: str) -> dict[str, list[Any]] | None:
    token = one(token)
    if token is None or token == "":
        return None
    try:
        text = str(token)
        cursor = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError among them
        cursor = None
    sides = [side for side in ("after", "before") if isinstance(cursor, dict) and side in cursor]
    if (
        not isinstance(cursor, dict)
        or cursor.get("list") != list_name
        or len(sides) != 1
        or not isinstance(cursor[sides[0]], list)
    ):
        raise invalid_parameter(f"Invalid page_token {str(token)[:40]!r}: not a token of this list.")
    return {sides[0]: cursor[sides[0]]}
