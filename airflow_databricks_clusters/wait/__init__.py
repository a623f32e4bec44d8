"""Waiting for a cluster state: the one wait engine, its drivers, and ensuring a cluster exists.

Pure: ``states.py`` (what a state means), ``engine.py`` (the wait's decisions), ``poll_plan.py`` (the shared
poller's rounds); they import only pure modules, no Airflow, no HTTP client. I/O: ``poller.py`` (the
triggerer's shared poller), ``lifecycle.py`` (the sync driver), ``ensure.py`` (find or create); they reach
the workspace only through the hook, with no operator, XCom or context.
"""
