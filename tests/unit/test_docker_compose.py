"""docker-compose.yaml: valid against the Compose specification schema, and everything it references exists.

The schema is the Compose specification's JSON schema as shipped in the docker-compose 1.29.2 wheel on PyPI
(compose/config/compose_spec.json); it is fetched once into the virtual environment, so the test needs no
Docker and no file copied into this repository.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_databricks_clusters.emulator.cli import _parser

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
SCHEMA_CACHE = Path(sys.prefix) / "share" / "compose-spec" / "compose_spec.json"
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


def compose_schema() -> dict[str, Any]:
    if not SCHEMA_CACHE.exists():
        target = SCHEMA_CACHE.parent
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "docker-compose==1.29.2",
                "-d",
                str(target),
            ],
            check=True,
            capture_output=True,
        )
        wheel = next(target.glob("docker_compose-1.29.2-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            SCHEMA_CACHE.write_bytes(archive.read("compose/config/compose_spec.json"))
    schema: dict[str, Any] = json.loads(SCHEMA_CACHE.read_text())
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = compose_schema()
    # The schema names draft 2019-09 in a URL form (trailing "#") jsonschema does not look up.
    jsonschema.Draft201909Validator(schema).validate(compose)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(schema).validate({**compose, "servces": {}})


def test_the_official_shape_and_the_emulator(compose: dict[str, Any]) -> None:
    services = compose["services"]
    airflow = ("apiserver", "scheduler", "dag-processor", "worker", "triggerer", "init")
    expected = {"postgres", "redis", "emulator", *(f"airflow-{name}" for name in airflow)}
    assert set(services) == expected
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    connection = json.loads(with_defaults(env["AIRFLOW_CONN_DATABRICKS_DEFAULT"]))
    assert connection == {"conn_type": "databricks", "host": "emulator", "port": 8765, "schema": "http",
                          "password": "dapi-emulator-token",
                          "extra": {"allow_plain_http_host": "emulator"}}  # fmt: skip


def with_defaults(text: str, **variables: str) -> str:
    """The text as Compose interpolates it with these variables set (and no other)."""

    def value(match: re.Match[str]) -> str:
        if match["name"] in variables:
            return variables[match["name"]]
        return match["rest"][2:] if match["rest"].startswith(":-") else ""

    return INTERPOLATION.sub(value, text)


def hook_settings(compose: dict[str, Any], **variables: str) -> Any:
    from airflow.sdk import Connection

    from airflow_databricks_clusters.client.connection import settings_from_connection

    raw = compose["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_DATABRICKS_DEFAULT"]
    return settings_from_connection(Connection.from_json(with_defaults(raw, **variables), conn_id="x"))


def test_the_connection_works_for_the_operators_and_never_sends_a_real_token_in_clear(
    compose: dict[str, Any],
) -> None:
    from airflow_databricks_clusters.client.connection import ConnectionProblem

    assert hook_settings(compose).base_url == "http://emulator:8765"
    real = {"DATABRICKS_HOST": "dbc-1234.cloud.databricks.com", "DATABRICKS_TOKEN": "dapi-real"}
    with pytest.raises(ConnectionProblem, match=r"plain http to dbc-1234\.cloud\.databricks\.com"):
        hook_settings(compose, **real)
    secure = hook_settings(compose, **real, DATABRICKS_SCHEME="https", DATABRICKS_PORT="443")
    assert secure.base_url == "https://dbc-1234.cloud.databricks.com:443" and secure.token == "dapi-real"


def test_every_reference_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for volume in service.get("volumes") or []:
            source = with_defaults(volume).split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        build = service.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).is_file()
        assert service.get("image") or build, f"{name} has neither an image nor a build"


def test_every_interpolated_variable_has_a_default() -> None:
    # `docker compose up` must work with no .env file: every ${VAR} falls back to a default.
    found = {m["name"]: m["rest"] for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    assert "DATABRICKS_HOST" in found and "DATABRICKS_TOKEN" in found
    assert {
        name
        for name, rest in found.items()
        if not rest.startswith(":-") and name != "AIRFLOW__CORE__FERNET_KEY"
    } == set()


def test_the_image_is_the_tested_airflow_and_the_emulator_command_parses(compose: dict[str, Any]) -> None:
    from importlib.metadata import version

    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert f"apache/airflow:{version('apache-airflow')}" in dockerfile
    command = compose["services"]["emulator"]["command"]
    assert command[0] == "airflow-databricks-clusters"
    args = _parser().parse_args(command[1:])
    assert (args.host, args.port) == ("0.0.0.0", 8765)
