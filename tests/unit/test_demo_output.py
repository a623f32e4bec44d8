"""What `make demo` prints of the task log: every shown message whole (wrapped, never cut), in its columns.

``scripts/demo.py`` reads ``airflow dags test``'s log as it comes; these tests feed its functions log text
of the shape Airflow 3.3 writes (``<time> [<level>] <message> [<logger>] loc=...``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
LOGGER = "airflow.task.operators.airflow_databricks_clusters.operators.DatabricksCreateClusterOperator"
TIME = "2026-11-25T02:54:13.123456Z"


@pytest.fixture(scope="module")
def demo() -> Any:
    spec = importlib.util.spec_from_file_location("demo_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(message: str, logger: str = LOGGER, level: str = "info") -> str:
    return f"{TIME} [{level:<9}] {message} [{logger}] loc=operators.py:244\n"


def words(text: str) -> list[str]:
    return text.split()


SPEC = "Cluster spec: " + json.dumps(
    {
        "autoscale": {"max_workers": 3, "min_workers": 1},
        "aws_attributes": {"instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/" + "r" * 90},
        "spark_env_vars": {f"VAR_{i}": "x" * 20 for i in range(30)},
    },
    sort_keys=True,
)


@pytest.mark.parametrize("width", [60, 120, 200])
def test_a_long_message_is_shown_whole_within_the_width(demo: Any, width: int) -> None:
    assert len(SPEC) > 1000
    lines = demo.shown_record(record(SPEC), width)
    assert lines[0].startswith("  02:54:13 CreateClusterOperator ")
    assert all(len(line) <= max(width, len(demo.MESSAGE_INDENT) + 40) for line in lines)
    # Every character but the spaces where a line was broken is there, in order.
    shown = " ".join(line[len(demo.MESSAGE_INDENT) :] for line in lines)
    assert "".join(words(shown)) == "".join(words(SPEC))
    # Continuation lines sit under the message, not under the time.
    assert all(line.startswith(demo.MESSAGE_INDENT) for line in lines[1:])


def test_a_word_longer_than_the_width_is_split_not_dropped(demo: Any) -> None:
    token = "t" * 500
    lines = demo.shown_lines("02:54:13", "CreateClusterOperator", token, 100)
    assert "".join(line.strip() for line in lines).endswith(token)


def test_a_message_of_several_lines_is_shown_with_all_its_lines(demo: Any) -> None:
    # The logger tag ends the message's last line.
    text = record("Last lines of s3://logs/init.sh.stderr.log:\nline one\nline two")
    (whole,) = list(demo.log_records(text.splitlines(keepends=True)))
    lines = demo.shown_record(whole, 120)
    assert [line.strip() for line in lines[1:]] == ["line one", "line two"]
    assert lines[0].endswith("Last lines of s3://logs/init.sh.stderr.log:")


def test_only_the_followed_loggers_are_shown_and_bracketed_numbers_are_message(demo: Any) -> None:
    line = (
        "Invalid Databricks cluster spec (2 problems): [1] autoscale.max_workers: got 2; "
        "allowed: greater than min_workers (2) [2] num_workers: got 1; "
        "allowed: either num_workers or autoscale"
    )
    log = [
        record("[DAG TEST] starting task_id=create_cluster", logger="airflow.sdk.definitions.dag"),
        record(line, level="error"),
        record("Task failed with exception", logger="task", level="error"),
        "Traceback (most recent call last):\n",
        '  File "operators.py", line 243, in execute\n',
    ]
    shown = [demo.shown_record(r, 400) for r in demo.log_records(log)]
    assert shown == [[], [f"  02:54:13 CreateClusterOperator        {line}"], []]


def test_a_failed_runs_log_tail_says_what_it_leaves_out(demo: Any) -> None:
    log = "".join(f"line {i:04d} of the log\n" for i in range(1000))
    assert demo.log_tail(log, len(log)) == log
    shown = demo.log_tail(log, 100)
    heading, rest = shown.split("\n", 1)
    assert heading == f"Its last {len(rest)} of {len(log)} characters:"
    assert rest.startswith("line ") and log.endswith(rest) and len(rest) <= 100
