"""The cluster spec: its fields, the builder of the ``clusters/create`` JSON, the validator.

All pure (no I/O, no Airflow, no HTTP client): they import only other pure modules of the plugin. The
operators render their fields into a spec here (``spec_rendering.py``); the workspace sees it only
through the hook.
"""
