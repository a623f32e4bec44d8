"""Request validation as the Clusters API does it: the same refusals, codes and messages.

A field the API does not have, at any depth, or a wrong JSON type is a 400 MALFORMED_REQUEST (the request
could not be parsed); a value the API does not allow is a 400 INVALID_PARAMETER_VALUE. Like the real
service, the first problem found is the answer.

What a workspace knows of a create body is this module's own table (the emulator imports nothing of the
plugin); ``tests/unit/emulator/test_known_fields.py`` keeps it equal to the plugin's
``cluster_spec/fields.py``, and ``tests/conformance/test_databricks_sdk.py`` fails when the installed
databricks-sdk can send a field it lacks. The names are databricks-sdk-py 0.167.0's
(``databricks/sdk/service/compute.py``: ``ClustersAPI.create``'s parameters and the ``AwsAttributes``,
``AutoScale``, ``DockerImage``, ``DockerBasicAuth``, ``InitScriptInfo``, ``ClusterLogConf`` and
``S3StorageInfo`` dataclasses), with ``cluster_source`` and ``idempotency_token``, which older clients send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter, malformed_request
from airflow_databricks_clusters.emulator.catalog import Catalog

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "array": (list,),
}
_TYPE_NAMES = {"string": "STRING", "int": "NUMBER", "bool": "BOOLEAN", "object": "OBJECT", "array": "ARRAY"}

CREATE_FIELDS: dict[str, str] = {
    "cluster_name": "string",
    "spark_version": "string",
    "node_type_id": "string",
    "driver_node_type_id": "string",
    "num_workers": "int",
    "autoscale": "object",
    "spark_conf": "object",
    "spark_env_vars": "object",
    "custom_tags": "object",
    "aws_attributes": "object",
    "docker_image": "object",
    "init_scripts": "array",
    "cluster_log_conf": "object",
    "autotermination_minutes": "int",
    "enable_elastic_disk": "bool",
    "enable_local_disk_encryption": "bool",
    "instance_pool_id": "string",
    "driver_instance_pool_id": "string",
    "policy_id": "string",
    "apply_policy_default_values": "bool",
    "ssh_public_keys": "array",
    "data_security_mode": "string",
    "single_user_name": "string",
    "runtime_engine": "string",
    "kind": "string",
    "is_single_node": "bool",
    "use_ml_runtime": "bool",
    "idempotency_token": "string",
    "cluster_source": "string",
    "worker_node_type_flexibility": "object",
    "driver_node_type_flexibility": "object",
    "remote_disk_throughput": "int",
    "total_initial_remote_disk_size": "int",
    "clone_from": "object",
    "workload_type": "object",
    "dependency_mode": "string",
    "azure_attributes": "object",
    "gcp_attributes": "object",
}
AWS_FIELDS: dict[str, str] = {
    "availability": "string",
    "first_on_demand": "int",
    "spot_bid_price_percent": "int",
    "zone_id": "string",
    "instance_profile_arn": "string",
    "ebs_volume_type": "string",
    "ebs_volume_count": "int",
    "ebs_volume_size": "int",
    "ebs_volume_iops": "int",
    "ebs_volume_throughput": "int",
}
AVAILABILITIES = ("SPOT", "ON_DEMAND", "SPOT_WITH_FALLBACK")
EBS_TYPES = ("GENERAL_PURPOSE_SSD", "THROUGHPUT_OPTIMIZED_HDD")
RUNTIME_ENGINES = ("NULL", "STANDARD", "PHOTON")
DATA_SECURITY_MODES = (
    "NONE",
    "SINGLE_USER",
    "USER_ISOLATION",
    "LEGACY_TABLE_ACL",
    "LEGACY_PASSTHROUGH",
    "LEGACY_SINGLE_USER",
    "LEGACY_SINGLE_USER_STANDARD",
    "DATA_SECURITY_MODE_AUTO",
    "DATA_SECURITY_MODE_STANDARD",
    "DATA_SECURITY_MODE_DEDICATED",
)
_S3 = ("destination", "region", "endpoint", "enable_encryption", "encryption_type", "kms_key", "canned_acl")
_DESTINATION = ("destination",)
#: An init script: one of these, holding a destination object of these fields.
INIT_SCRIPT_KINDS: dict[str, tuple[str, ...]] = {
    "workspace": _DESTINATION,
    "volumes": _DESTINATION,
    "s3": _S3,
    "dbfs": _DESTINATION,
    "file": _DESTINATION,
    "abfss": _DESTINATION,
    "gcs": _DESTINATION,
}
#: ``cluster_log_conf``: one of these, holding a destination object of these fields.
LOG_DESTINATIONS: dict[str, tuple[str, ...]] = {"dbfs": _DESTINATION, "s3": _S3, "volumes": _DESTINATION}
#: Every key a create body may have, at each depth: an object's keys, each with what its value holds (None:
#: not looked into), a list of objects as a one-item list. The objects the plugin models are looked into;
#: the inside of the others (``workload_type``, ...) is the workspace's, not checked here.
Keys = dict[str, "Keys | list[Keys] | None"]
KNOWN_KEYS: Keys = {
    **{name: None for name in CREATE_FIELDS},
    "aws_attributes": {name: None for name in AWS_FIELDS},
    "autoscale": {"min_workers": None, "max_workers": None},
    "docker_image": {"url": None, "basic_auth": {"username": None, "password": None}},
    "init_scripts": [{kind: dict.fromkeys(fields) for kind, fields in INIT_SCRIPT_KINDS.items()}],
    "cluster_log_conf": {kind: dict.fromkeys(fields) for kind, fields in LOG_DESTINATIONS.items()},
}
MAX_CUSTOM_TAGS = 45
MAX_SSH_KEYS = 10
MAX_IDEMPOTENCY_TOKEN = 64
#: The per-cluster flexible node type objects: their alternates are node types of the workspace.
FLEXIBILITY_FIELDS = ("worker_node_type_flexibility", "driver_node_type_flexibility")
_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:instance-profile/[\w+=,.@/-]+$")


def check_idempotency_token(token: Any) -> None:
    """An ``idempotency_token`` (a cluster's create, a run's submit, a job's run-now): absent, or a string of
    1 to 64 characters."""
    if token is None:
        return
    _check_types({"idempotency_token": token}, {"idempotency_token": "string"})
    if not 1 <= len(token) <= MAX_IDEMPOTENCY_TOKEN:
        raise invalid_parameter(
            f"Invalid idempotency_token of {len(token)} characters: it must be 1 to "
            f"{MAX_IDEMPOTENCY_TOKEN} characters long."
        )


def _json_type_name(value: Any) -> str:
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (name == "int" and isinstance(value, bool)):
            return _TYPE_NAMES[name]
    return "NUMBER" if isinstance(value, float) else "NULL" if value is None else "STRING"


def _check_types(body: Mapping[str, Any], fields: Mapping[str, str], prefix: str = "") -> None:
    for name, kind in fields.items():
        value = body.get(name)
        if value is None:
            continue
        ok = isinstance(value, _TYPES[kind]) and not (kind == "int" and isinstance(value, bool))
        if not ok:
            article = "an" if kind in {"object", "array", "int"} else "a"
            expected = {"int": "integer", "bool": "boolean"}.get(kind, kind)
            raise malformed_request(
                f"Could not parse request object: Expected {article} {expected} for field {prefix}{name}, "
                f"found {_json_type_name(value)}"
            )


def _check_known(value: Any, keys: Keys | list[Keys] | None, path: str = "") -> None:
    """Refuse the first key, at any depth, that the API does not have where it is. A value of another
    shape than ``keys`` says is left to the type checks."""
    if isinstance(keys, list):
        for index, entry in enumerate(value if isinstance(value, list) else []):
            _check_known(entry, keys[0], f"{path}[{index}]")
        return
    if keys is None or not isinstance(value, Mapping):
        return
    for key, item in value.items():
        inner = f"{path}.{key}" if path else str(key)
        if key not in keys:
            # The wording is the emulator's choice (docs/emulator-fidelity.md): in the style of the
            # workspace's other "could not parse" answers, which name the field by its path.
            raise malformed_request(f"Could not parse request object: Unknown field {inner}")
        _check_known(item, keys[key], inner)


def _check_string_map(body: Mapping[str, Any], name: str) -> None:
    for key, value in (body.get(name) or {}).items():
        if not isinstance(value, str):
            raise malformed_request(
                f"Could not parse request object: Expected a string for field {name}.{key}, "
                f"found {_json_type_name(value)}"
            )


def validate_create(body: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    """Check a ``clusters/create`` body; return it normalised (null fields dropped) or raise ApiError."""
    if not isinstance(body, Mapping):
        raise malformed_request("Could not parse request object: Expected an object")
    _check_known(body, KNOWN_KEYS)
    _check_types(body, CREATE_FIELDS)
    for name in ("spark_conf", "spark_env_vars", "custom_tags"):
        _check_string_map(body, name)
    aws = body.get("aws_attributes") or {}
    _check_types(aws, AWS_FIELDS, "aws_attributes.")
    spec = {key: value for key, value in body.items() if value is not None}

    spark_version = spec.get("spark_version")
    if not spark_version:
        raise invalid_parameter("Missing required field: spark_version")
    if spark_version not in catalog.spark_version_keys():
        raise invalid_parameter(f"Invalid spark version {spark_version}.")
    _check_size(spec)
    _check_nodes(spec, catalog)
    _check_flexibility(spec, catalog)
    _check_aws(aws, catalog)
    _check_autotermination(spec)
    tags = spec.get("custom_tags") or {}
    if len(tags) > MAX_CUSTOM_TAGS:
        raise invalid_parameter(
            f"Custom tags exceed the maximum of {MAX_CUSTOM_TAGS}: {len(tags)} custom tags were given."
        )
    for key, value in tags.items():
        if not key or len(key) > 127 or len(value) > 255:
            raise invalid_parameter(
                f"Invalid custom tag {key!r}: keys are 1..127 and values 0..255 characters."
            )
    keys = spec.get("ssh_public_keys") or []
    if len(keys) > MAX_SSH_KEYS:
        raise invalid_parameter(f"Cannot specify more than {MAX_SSH_KEYS} ssh public keys.")
    check_idempotency_token(spec.get("idempotency_token"))
    _check_enum(spec, "runtime_engine", RUNTIME_ENGINES)
    _check_enum(spec, "data_security_mode", DATA_SECURITY_MODES)
    _check_docker(spec.get("docker_image"))
    _check_init_scripts(spec.get("init_scripts") or [], allow_dbfs=catalog.dbfs_init_scripts)
    _check_log_conf(spec.get("cluster_log_conf"))
    return spec


def _check_size(spec: Mapping[str, Any]) -> None:
    autoscale = spec.get("autoscale")
    if "num_workers" in spec and autoscale is not None:
        raise invalid_parameter("Only one of num_workers or autoscale can be specified.")
    if "num_workers" not in spec and autoscale is None:
        raise invalid_parameter("Missing required field: size")
    if "num_workers" in spec and spec["num_workers"] < 0:
        raise invalid_parameter(f"num_workers must be non-negative, got {spec['num_workers']}.")
    if autoscale is not None:
        _check_types(autoscale, {"min_workers": "int", "max_workers": "int"}, "autoscale.")
        low, high = autoscale.get("min_workers"), autoscale.get("max_workers")
        if low is None or high is None:
            raise invalid_parameter("Autoscale requires both min_workers and max_workers.")
        if low < 0:
            raise invalid_parameter(f"Autoscale min_workers must be non-negative, got {low}.")
        if high <= low:
            raise invalid_parameter(
                f"The autoscale max_workers ({high}) must be greater than min_workers ({low})."
            )


def _check_nodes(spec: Mapping[str, Any], catalog: Catalog) -> None:
    pool_id = spec.get("instance_pool_id")
    if pool_id is not None:
        if "node_type_id" in spec:
            raise invalid_parameter("node_type_id cannot be supplied when an instance_pool_id is specified.")
        _check_pool(catalog, pool_id)
    elif "node_type_id" not in spec:
        raise invalid_parameter("Missing required field 'node_type_id'")
    for name in ("node_type_id", "driver_node_type_id"):
        if name in spec and spec[name] not in catalog.node_types:
            raise invalid_parameter(
                f"Node type {spec[name]} is not supported. Supported node types: "
                + ", ".join(sorted(catalog.node_types))
            )
    driver_pool = spec.get("driver_instance_pool_id")
    if driver_pool is not None:
        _check_pool(catalog, driver_pool)


def _check_pool(catalog: Catalog, pool_id: str) -> None:
    pool = catalog.pool(pool_id)
    if pool is None or pool.get("state") == "DELETED":
        raise invalid_parameter(f"Instance pool {pool_id} does not exist.")


def _check_flexibility(spec: Mapping[str, Any], catalog: Catalog) -> None:
    """``alternate_node_type_ids``: a list of node types the workspace offers. The objects' other keys are
    not looked into (``KNOWN_KEYS``: the plugin does not look into them either)."""
    for name in FLEXIBILITY_FIELDS:
        alternates = (spec.get(name) or {}).get("alternate_node_type_ids")
        if alternates is None:
            continue
        if not isinstance(alternates, list):
            raise malformed_request(
                f"Could not parse request object: Expected an array for field "
                f"{name}.alternate_node_type_ids, found {_json_type_name(alternates)}"
            )
        for index, node_type in enumerate(alternates):
            if not isinstance(node_type, str):
                raise malformed_request(
                    f"Could not parse request object: Expected a string for field "
                    f"{name}.alternate_node_type_ids[{index}], found {_json_type_name(node_type)}"
                )
            if node_type not in catalog.node_types:
                raise invalid_parameter(
                    f"Node type {node_type} is not supported ({name}.alternate_node_type_ids). "
                    "Supported node types: " + ", ".join(sorted(catalog.node_types))
                )


def _check_aws(aws: Mapping[str, Any], catalog: Catalog) -> None:
    availability = aws.get("availability")
    if availability is not None and availability not in AVAILABILITIES:
        raise invalid_parameter(
            f"Invalid aws_attributes.availability {availability}: must be one of {', '.join(AVAILABILITIES)}."
        )
    first = aws.get("first_on_demand")
    if first is not None and first < 0:
        raise invalid_parameter(f"aws_attributes.first_on_demand must be non-negative, got {first}.")
    bid = aws.get("spot_bid_price_percent")
    if bid is not None and not 1 <= bid <= 10000:
        raise invalid_parameter(
            f"aws_attributes.spot_bid_price_percent must be between 1 and 10000, got {bid}."
        )
    zone = aws.get("zone_id")
    if zone is not None and zone != "auto" and zone not in catalog.zones:
        raise invalid_parameter(
            f"Invalid zone_id {zone}: availability zones of {catalog.region} are {', '.join(catalog.zones)} "
            "(or auto)."
        )
    arn = aws.get("instance_profile_arn")
    if arn is not None:
        if not _ARN.match(arn):
            raise invalid_parameter(f"Invalid instance profile ARN {arn}.")
        if arn not in catalog.instance_profiles:
            raise invalid_parameter(
                f"Instance profile with arn {arn} is not registered with the workspace. "
                "Add it under Settings > Security > Instance profiles."
            )
    ebs_type = aws.get("ebs_volume_type")
    if ebs_type is not None and ebs_type not in EBS_TYPES:
        raise invalid_parameter(f"Invalid ebs_volume_type {ebs_type}: must be one of {', '.join(EBS_TYPES)}.")
    count, size = aws.get("ebs_volume_count"), aws.get("ebs_volume_size")
    if count is not None and not 0 <= count <= 10:
        raise invalid_parameter(f"ebs_volume_count must be between 0 and 10, got {count}.")
    if count and size is not None:
        low = 500 if ebs_type == "THROUGHPUT_OPTIMIZED_HDD" else 100
        if not low <= size <= 4096:
            raise invalid_parameter(
                f"ebs_volume_size for {ebs_type or 'GENERAL_PURPOSE_SSD'} must be between {low} and "
                f"4096 GiB, got {size}."
            )


def _check_autotermination(spec: Mapping[str, Any]) -> None:
    minutes = spec.get("autotermination_minutes")
    if minutes is not None and minutes != 0 and not 10 <= minutes <= 10000:
        raise invalid_parameter(
            f"Automatic termination must be between 10 and 10000 minutes, or 0 to disable it; got {minutes}."
        )


def _check_enum(spec: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    if name in spec and spec[name] not in allowed:
        raise invalid_parameter(f"Invalid {name} {spec[name]}: must be one of {', '.join(allowed)}.")


def _check_docker(docker: Mapping[str, Any] | None) -> None:
    if docker is None:
        return
    if not isinstance(docker.get("url"), str) or not docker["url"]:
        raise invalid_parameter("Missing required field: docker_image.url")
    auth = docker.get("basic_auth")
    if auth is not None and (
        not isinstance(auth, dict) or not auth.get("username") or "password" not in auth
    ):
        raise invalid_parameter("docker_image.basic_auth requires username and password.")


def _check_init_scripts(scripts: list[Any], *, allow_dbfs: bool) -> None:
    for index, script in enumerate(scripts):
        if not isinstance(script, dict) or len(script) != 1:
            raise invalid_parameter(
                f"init_scripts[{index}] must set exactly one of {', '.join(INIT_SCRIPT_KINDS)}."
            )
        ((kind, target),) = script.items()  # a kind the API does not have is refused as an unknown field
        if not isinstance(target, dict) or not target.get("destination"):
            raise invalid_parameter(f"Missing required field: init_scripts[{index}].{kind}.destination")
        if kind == "dbfs" and not allow_dbfs:
            # The answer a workspace gives since DBFS init scripts reached end of life.
            raise ApiError(
                400,
                "FEATURE_DISABLED",
                "Init scripts cannot be loaded from DBFS. Review the init script documentation for more "
                "details on configuring init scripts.",
            )


def _check_log_conf(conf: Mapping[str, Any] | None) -> None:
    if conf is None:
        return
    given = [kind for kind in LOG_DESTINATIONS if conf.get(kind) is not None]
    if len(given) != 1:
        raise invalid_parameter("cluster_log_conf must set exactly one of dbfs, s3 or volumes.")
    target = conf[given[0]]
    if not isinstance(target, dict) or not target.get("destination"):
        raise invalid_parameter(f"Missing required field: cluster_log_conf.{given[0]}.destination")
    if given[0] == "s3" and not (target.get("region") or target.get("endpoint")):
        raise invalid_parameter("cluster_log_conf.s3 requires region or endpoint.")
