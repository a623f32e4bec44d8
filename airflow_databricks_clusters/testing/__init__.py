"""Testing your own DAGs against the emulator: the pytest plugin (``pytest_plugin``, registered by the
package's ``pytest11`` entry point, so installing the package is all it takes) and what it runs on.

- ``airflow_home`` (I/O): the session's throw-away Airflow home and its migrated metadata database.
- ``dag_runs`` (glue): a DAG of the DAGs folder run with ``dag.test()``, and what the run did.
- ``pytest_plugin`` (glue): the ini options, the marker and the fixtures ``databricks_workspace`` and
  ``dag_runner``.
- ``oidc_issuer``: ``OidcIssuer``, whose signed tokens a federated connection exchanges with the
  emulator (``Emulator.add_federation_policy``).

Nothing here is imported at DAG parse time, and the plugin imports Airflow only when a fixture runs.
"""
