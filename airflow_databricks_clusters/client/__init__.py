"""The workspace client's parts under the hook (``hooks.py``): transports, connection, policies, answers.

I/O: ``transport.py`` (the HTTP transports: with the hook, the only importer of an HTTP client) and
``connection.py`` (reading the Airflow connection); no operator, XCom or context. Pure: ``answers.py``,
``retry.py``, ``rate_limit.py``, ``oauth_tokens.py``: only other pure modules, no Airflow, no HTTP client.
"""
