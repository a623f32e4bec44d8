"""The plugin and the emulator know the same Clusters API fields.

Each keeps its own table (the emulator imports nothing of the plugin): the plugin's
``cluster_spec.fields.KNOWN_KEYS`` is what it checks a spec's keys against before any call, the
emulator's ``validation.KNOWN_KEYS`` what a workspace refuses as an unknown field. Were they to differ, a
field the plugin lets through would be refused by the emulator (a test passing only against a real
workspace), or the emulator would take a typo the plugin exists to catch.
"""

from __future__ import annotations

from airflow_databricks_clusters.cluster_spec import fields
from airflow_databricks_clusters.emulator import validation


def test_the_plugin_and_the_workspace_know_the_same_fields_at_every_depth() -> None:
    assert validation.KNOWN_KEYS == fields.KNOWN_KEYS


def test_the_workspace_knows_the_json_type_of_every_create_field() -> None:
    assert list(validation.CREATE_FIELDS) == list(validation.KNOWN_KEYS)
    assert list(validation.AWS_FIELDS) == list(validation.KNOWN_KEYS["aws_attributes"] or {})
