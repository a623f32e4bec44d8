"""The deployment with CeleryExecutor: Redis (127.0.0.1:6379) as broker, a separate ``airflow celery
worker`` process, and a workspace emulator of its own.

Its own folder, so its tests run on an xdist worker of their own (``tests/conftest.py``) beside the
LocalExecutor deployment's; it stops once they are done: an idle deployment keeps parsing DAGs and
heartbeating, CPU the other tests need on a 2-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from local_airflow import CELERY_WORKER, COMPONENTS, AirflowDeployment

from airflow_databricks_clusters.emulator import Emulator
from tests.system.conftest import print_log_tails, system_env


@pytest.fixture(scope="package")
def celery_emulator() -> Iterator[Emulator]:
    """The Celery deployment's workspace: what it holds is that deployment's doing alone."""
    with Emulator(start_seconds=3, terminate_seconds=1, run_seconds=2) as emu:
        yield emu


@pytest.fixture(scope="package")
def celery_airflow(celery_emulator: Emulator) -> Iterator[AirflowDeployment]:
    """The deployment with CeleryExecutor and a separate Celery worker; the example DAGs only."""
    deployment = AirflowDeployment(
        celery_emulator.connection_env(), executor="CeleryExecutor", extra_env=system_env()
    )
    deployment.start()
    try:
        yield deployment
    finally:
        print_log_tails(deployment, (*COMPONENTS, CELERY_WORKER))
        deployment.stop()
    # Stopping cleans the broker: no key of the deployment's Celery is left in the machine's Redis.
    with redis.Redis.from_url(deployment.broker_url) as client:
        left = list(client.scan_iter(match=f"{deployment.broker_prefix}*"))
    assert not left, f"Redis keys left after stop: {left}"
