"""The emulator's cluster page hides the same keys the plugin treats as secrets (``redaction``).

The emulator imports nothing of the plugin, so its console writes the rule again; this keeps the two alike.
"""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.emulator.console_data import HIDDEN, hide_secrets
from airflow_databricks_clusters.redaction import is_secret_key

KEYS = [
    "DB_PASSWORD", "passwd", "passphrase", "client_secret", "spark.hadoop.fs.s3a.secret.key",
    "spark.hadoop.fs.s3a.access.key", "DATADOG_API_KEY", "apiKey", "privateKey", "Authorization",
    "GITHUB_TOKEN", "credentials", "username", "url", "PIPELINE_DATE", "spark.executor.memory", "keyspace",
]  # fmt: skip


@pytest.mark.parametrize("key", KEYS)
def test_the_console_hides_exactly_what_the_plugin_calls_a_secret(key: str) -> None:
    shown = hide_secrets({key: "value"})[key]
    assert (shown == HIDDEN) == is_secret_key(key), key
