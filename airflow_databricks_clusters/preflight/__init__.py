"""The pre-flight checks a create runs before any cluster exists, and everything that talks to AWS.

I/O: ``checks.py`` (the checks against the workspace, through the hook) and ``aws.py`` (the only importer
of the amazon provider and boto); no operator, XCom or context. Pure: ``results.py`` (what a check found,
the check names, the report) and ``runtimes.py`` (what a runtime key says, and the spark_version check's
finding): no Airflow, no HTTP client, only other pure modules.
"""
