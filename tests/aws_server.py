"""An AWS API on loopback for tests: moto's server (a real AWS emulator over HTTP), one per session.

The plugin reaches it through the amazon provider's hooks with an ``aws`` connection whose extra names
the ``endpoint_url``; the Databricks emulator writes cluster logs to it the same way. Nothing is mocked
in-process: every call crosses a socket, as it would to AWS.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import requests

REGION = "ap-southeast-1"
ACCOUNT_ID = "123456789012"  # moto's account, and the one the example DAGs use
# moto accepts any credentials; these keep boto3 from looking for real ones.
ACCESS_KEY, SECRET_KEY = "testing", "testing"


class AwsServer:
    """moto's threaded server on a free loopback port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # werkzeug prints a line per request; the tests' output should show the plugin's logs instead.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> AwsServer:
        self._server.start()
        self.endpoint_url = f"http://127.0.0.1:{self._server._server.server_port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every bucket, repository and profile (moto's own reset endpoint)."""
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def connection_env(self) -> str:
        """The value of ``AIRFLOW_CONN_<ID>`` for an ``aws`` connection to this server."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {"region_name": REGION, "endpoint_url": self.endpoint_url},
            }
        )

    # -- fixtures of AWS state a test describes in one line ---------------------------------------------

    def push_image(self, repository: str, tag: str) -> str:
        """Create the ECR repository (if needed) and an image tagged ``tag``; return its digest."""
        ecr = self.client("ecr")
        with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=repository)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": "sha256:" + "0" * 64,
                "size": 1,
            },
            "layers": [],
        }
        image = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
        return str(image["image"]["imageId"]["imageDigest"])

    def create_bucket(self, name: str) -> None:
        self.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})

    def create_instance_profile(self, name: str) -> str:
        """Create an IAM instance profile; return its ARN."""
        profile = self.client("iam").create_instance_profile(InstanceProfileName=name)
        return str(profile["InstanceProfile"]["Arn"])
