"""Shows the soak's summary line at the end of the test session, also when it passed."""

from __future__ import annotations

from typing import Any

#: Lines the soak leaves for the session's summary.
SUMMARIES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in SUMMARIES:
        terminalreporter.write_line(f"chaos soak: {line}")
