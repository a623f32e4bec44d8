"""What library statuses mean for the libraries a create task installs (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_databricks_clusters.wait.library_states import (
    LibraryWatch,
    assess_libraries,
    failure_text,
    missing,
)
from airflow_databricks_clusters.wait.states import Verdict

PANDAS = {"pypi": {"package": "pandas==2.2.2"}}
JSOUP = {"maven": {"coordinates": "org.jsoup:jsoup:1.7.2"}}


def status(library: dict[str, Any], state: str, *messages: str) -> dict[str, Any]:
    return {
        "library": library,
        "status": state,
        "messages": list(messages),
        "is_library_for_all_clusters": False,
    }


@pytest.mark.parametrize("state", ["PENDING", "RESOLVING", "INSTALLING", "SOMETHING_NEW"])
def test_a_library_on_its_way_is_waited_for(state: str) -> None:
    verdict = assess_libraries([PANDAS, JSOUP], [status(PANDAS, state), status(JSOUP, "INSTALLED")])
    assert verdict.verdict is Verdict.WAITING
    assert verdict.pending == (f"pypi:pandas==2.2.2 ({state})",)


def test_a_library_not_listed_yet_is_waited_for() -> None:
    verdict = assess_libraries([PANDAS], [])
    assert verdict.verdict is Verdict.WAITING and verdict.pending == ("pypi:pandas==2.2.2 (NOT_LISTED)",)


@pytest.mark.parametrize("state", ["INSTALLED", "RESTORED"])
def test_every_library_installed_is_done(state: str) -> None:
    assert assess_libraries([PANDAS, JSOUP], [status(PANDAS, state), status(JSOUP, "INSTALLED")]).verdict is (
        Verdict.DONE
    )


def test_a_failed_library_fails_with_its_message_even_while_others_install() -> None:
    message = "Library installation failed: ERROR: No matching distribution found for pandas==2.2.2"
    verdict = assess_libraries(
        [PANDAS, JSOUP], [status(PANDAS, "FAILED", message), status(JSOUP, "INSTALLING")]
    )
    assert verdict.verdict is Verdict.FAILED
    assert failure_text(verdict.failures) == f"pypi:pandas==2.2.2 is FAILED: {message}"
    assert verdict.pending == ("maven:org.jsoup:jsoup:1.7.2 (INSTALLING)",)


@pytest.mark.parametrize(("state", "why"), [("SKIPPED", "skipped"), ("UNINSTALL_ON_RESTART", "uninstalled")])
def test_a_library_that_will_never_be_installed_fails_saying_why(state: str, why: str) -> None:
    verdict = assess_libraries([PANDAS], [status(PANDAS, state)])
    assert verdict.verdict is Verdict.FAILED and why in verdict.failures[0].message


def test_the_statuses_are_matched_by_what_the_library_installs_not_its_repo() -> None:
    listed = {"pypi": {"package": "pandas==2.2.2", "repo": "https://mirror"}}
    assert assess_libraries([PANDAS], [status(listed, "INSTALLED")]).verdict is Verdict.DONE


def test_a_retry_installs_only_what_the_cluster_does_not_list() -> None:
    whl = {"whl": "dbfs:/a.whl"}
    listed = [
        status(PANDAS, "INSTALLED"),
        status(JSOUP, "FAILED", "x"),
        status({"jar": "other.jar"}, "INSTALLED"),
    ]
    assert missing([PANDAS, JSOUP, whl], listed) == [whl]


def test_the_watch_logs_each_change_with_elapsed_time_and_once_when_all_are_installed() -> None:
    watch = LibraryWatch("c-1", [PANDAS, JSOUP], started_at=100.0)
    _, lines = watch.observe([status(PANDAS, "PENDING"), status(JSOUP, "PENDING")], 100.0)
    assert lines == [
        "Cluster c-1: library pypi:pandas==2.2.2 PENDING after 0 s",
        "Cluster c-1: library maven:org.jsoup:jsoup:1.7.2 PENDING after 0 s",
    ]
    _, lines = watch.observe([status(PANDAS, "INSTALLING"), status(JSOUP, "PENDING")], 112.0)
    assert lines == ["Cluster c-1: library pypi:pandas==2.2.2 PENDING -> INSTALLING after 12 s"]
    verdict, lines = watch.observe([status(PANDAS, "INSTALLED"), status(JSOUP, "INSTALLED")], 130.0)
    assert verdict.verdict is Verdict.DONE
    assert lines[-1] == "Cluster c-1: all 2 libraries INSTALLED after 30 s"
    assert watch.observe([status(PANDAS, "INSTALLED"), status(JSOUP, "INSTALLED")], 140.0)[1] == []
