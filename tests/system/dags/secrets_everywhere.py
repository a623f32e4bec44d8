"""A system-test DAG: create tasks given secrets in every form a user can give them, each with its teardown.

Every password comes from the Variable ``regpw_<task_id>`` (the test sets one per task, so no task's secret
is masked by another's masking), as ``{{ var.value... }}`` keeps a secret out of a DAG file. The forms: a
docker_image dict, cluster_json as JSON text, as a file beside this DAG and as an absolute path (the same
file), docker_image as JSON text, a secret in spark_env_vars over an OAuth service principal's connection
(``secrets_oauth``, added by the test), and a mistyped docker_image that is refused. Triggered by the test.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_databricks_clusters.operators import (
    DatabricksCreateClusterOperator,
    DatabricksTerminateClusterOperator,
)

DAG_ID = "secrets_everywhere"
#: Each task's own password: the Variable named after it.
PASSWORD = "{{ var.value.get('regpw_' ~ task.task_id) }}"
IMAGE = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/etl:1"
AUTH = {"username": "AWS", "password": PASSWORD}
BASE: dict[str, Any] = {
    "cluster_name": "secrets",
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 1,
}
CLUSTER_FILE = "secrets_cluster.json"
#: The same file by its absolute path, outside the deployment's DAGs folder (which links to it).
CLUSTER_FILE_ABSOLUTE = os.path.join(os.path.dirname(os.path.realpath(__file__)), CLUSTER_FILE)
OAUTH_CONNECTION = "secrets_oauth"

WITH_IMAGE: dict[str, Any] = {**BASE, "docker_image": {"url": IMAGE, "basic_auth": AUTH}}
MISTYPED = {"URL": IMAGE, "basic_auth": {"Username": "AWS", "Password": PASSWORD}}

FORMS: dict[str, dict[str, Any]] = {
    "create_dict": {**WITH_IMAGE, "deferrable": True},
    "create_json_text": {"cluster_json": json.dumps(WITH_IMAGE)},
    "create_json_file": {"cluster_json": CLUSTER_FILE},
    "create_json_file_absolute": {"cluster_json": CLUSTER_FILE_ABSOLUTE},
    "create_docker_json_text": {**BASE, "docker_image": json.dumps({"url": IMAGE, "basic_auth": AUTH})},
    "create_oauth_spark_env": {
        **BASE,
        "spark_env_vars": {"DB_PASSWORD": PASSWORD},
        "deferrable": True,
        "databricks_conn_id": OAUTH_CONNECTION,
    },
    "create_mistyped": {**BASE, "docker_image": MISTYPED},
}
REFUSED = ("create_mistyped",)

with DAG(DAG_ID, schedule=None, catchup=False, tags=["system-test"]) as dag:
    for task_id, fields in FORMS.items():
        create = DatabricksCreateClusterOperator(
            task_id=task_id, polling_interval=1, retries=1, retry_delay=timedelta(seconds=5), **fields
        )
        if task_id not in REFUSED:
            terminate = DatabricksTerminateClusterOperator(
                task_id=task_id.replace("create_", "terminate_"),
                cluster_id=create.output,
                polling_interval=1,
                databricks_conn_id=fields.get("databricks_conn_id", "databricks_default"),
            )
            create >> terminate.as_teardown(setups=create)
