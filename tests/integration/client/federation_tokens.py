"""A ``federated_token_provider`` for the tests: ``get`` returns what the test put in ``SUBJECT``."""

from __future__ import annotations

SUBJECT: list[str] = []
#: How many times the hook asked for a subject token.
CALLS: list[int] = []


def get() -> str:
    CALLS.append(1)
    return SUBJECT[-1]
