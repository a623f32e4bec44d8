"""The fleet of clusters the plugin made: the leak sweep's policy and the Clusters page in the Airflow UI.

Pure: ``sweep_policy.py``, ``rows.py``, ``page_html.py``: only other pure modules, no Airflow, no HTTP
client. I/O: ``reader.py`` (each workspace's clusters, through the hook). Airflow glue: ``task_instances.py``
(the metadata database), ``page.py`` (the page's FastAPI app), ``plugin.py`` (the ``airflow.plugins`` entry).
"""
