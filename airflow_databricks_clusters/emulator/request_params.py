"""Reading request parameters: query parameters arrive as lists (a key may repeat), body fields as given.

``one`` and ``many`` take either form; ``field`` finds a nested parameter sent either way (the query's
``filter_by.cluster_states=...`` or a JSON body's ``{"filter_by": {"cluster_states": [...]}}``);
``integer`` answers a bad number as the API does; ``page_token`` and ``page_offset`` write and read the
opaque tokens of the paged lists.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import invalid_parameter


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
    """The parameter ``name`` as an integer, ``default`` if absent; INVALID_PARAMETER_VALUE if not one."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid_parameter(f"Invalid {name} {value!r}: must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid {name} {value!r}: must be an integer.") from None


def page_token(offset: int) -> str:
    """The opaque token of the page that starts at ``offset``."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def page_offset(token: Any) -> int:
    """Where the page of a token from ``page_token`` starts (0 for none); INVALID_PARAMETER_VALUE when the
    token is not one this server gave out."""
    token = one(token)
    if token is None or token == "":
        return 0
    try:
        text = str(token)
        offset = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise invalid_parameter(f"Invalid page_token {str(token)[:40]!r}: not a token this list gave out.")
    return offset
