"""Reading request parameters: query parameters arrive as lists (a key may repeat), body fields as given.

``one`` and ``many`` take either form; ``integer`` answers a bad number as the API does.
"""

from __future__ import annotations

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


def integer(value: Any, name: str, *, default: int) -> int:
    """The parameter ``name`` as an integer, ``default`` if absent; INVALID_PARAMETER_VALUE if not one."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid {name} {value!r}: must be an integer.") from None
