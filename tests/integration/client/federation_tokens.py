"""A ``federated_token_provider`` for the tests: ``get`` returns the subject token a test is ``supplying``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: The dotted path a connection's extra ``federated_token_provider`` names.
PATH = f"{__name__}.get"
SUBJECT: list[str] = []
#: How many times the hook asked for a subject token.
CALLS: list[int] = []


def get() -> str:
    CALLS.append(1)
    return SUBJECT[-1]


@contextmanager
def supplying(token: str) -> Iterator[list[str]]:
    """``get`` returns ``token`` (or what the test appends to the yielded list) and counts afresh; both
    are emptied afterwards, so no test sees another's token."""
    SUBJECT[:] = [token]
    CALLS.clear()
    try:
        yield SUBJECT
    finally:
        SUBJECT.clear()
        CALLS.clear()
