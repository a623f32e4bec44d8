"""The one table of cluster fields: what the create operator takes, the spec builder lays over a base spec,
and the validator checks. Pure data, no import of anything.

Every Clusters API create field this client models is a row: its name and what kind of value it is. The
operator's named parameters and templated fields, ``cluster_spec.build.build_cluster_spec``'s accepted
fields and ``cluster_spec.validation``'s handlers are all derived from it, and
``tests/unit/cluster_spec/test_fields.py`` fails when one of them drifts from it.

Beside it, every field the API has, modelled or not, and the fields of the API's objects inside a spec:
``KNOWN_KEYS``, what each key of a spec is checked against before any call, so that a typo never reaches a
workspace. The emulator keeps its own copy, as what a workspace knows (it imports nothing of the plugin);
``tests/unit/emulator/test_known_fields.py`` fails when the two differ, and
``tests/conformance/test_databricks_sdk.py`` when the installed databricks-sdk can send a field neither
knows.

Where the field names come from, to refresh them: databricks-sdk-py 0.167.0, ``databricks/sdk/service/
compute.py``: ``ClustersAPI.create``'s parameters (the request body of ``clusters/create``) and the
dataclasses ``AwsAttributes``, ``AutoScale``, ``DockerImage``, ``DockerBasicAuth``, ``InitScriptInfo``,
``ClusterLogConf``, ``S3StorageInfo``, ``NodeTypeFlexibility`` and the one-field destinations
(``WorkspaceStorageInfo``, ...).
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    """How a field's value is read and checked."""

    STRING = "string"
    INT = "int"
    BOOL = "bool"
    ENUM = "enum"  # one of a fixed set of strings
    MAP = "map"  # an object, merged key by key over the base spec's
    OBJECT = "object"  # an object or a convenience form (autoscale, docker_image, ...), checked on its own


#: Top-level ``clusters/create`` fields.
CREATE_FIELDS: dict[str, Kind] = {
    "cluster_name": Kind.STRING,
    "spark_version": Kind.STRING,
    "node_type_id": Kind.STRING,
    "driver_node_type_id": Kind.STRING,
    "instance_pool_id": Kind.STRING,
    "driver_instance_pool_id": Kind.STRING,
    "policy_id": Kind.STRING,
    "single_user_name": Kind.STRING,
    "data_security_mode": Kind.ENUM,
    "runtime_engine": Kind.ENUM,
    "num_workers": Kind.INT,
    "autotermination_minutes": Kind.INT,
    "enable_elastic_disk": Kind.BOOL,
    "enable_local_disk_encryption": Kind.BOOL,
    "apply_policy_default_values": Kind.BOOL,
    "aws_attributes": Kind.MAP,
    "spark_conf": Kind.MAP,
    "custom_tags": Kind.MAP,
    "spark_env_vars": Kind.MAP,
    "autoscale": Kind.OBJECT,
    "docker_image": Kind.OBJECT,
    "init_scripts": Kind.OBJECT,
    "cluster_log_conf": Kind.OBJECT,
    "ssh_public_keys": Kind.OBJECT,
}

#: ``aws_attributes`` fields, which the operator and the spec builder also take flat (``availability=``).
AWS_FIELDS: dict[str, Kind] = {
    "availability": Kind.ENUM,
    "first_on_demand": Kind.INT,
    "spot_bid_price_percent": Kind.INT,
    "zone_id": Kind.STRING,
    "instance_profile_arn": Kind.STRING,
    "ebs_volume_type": Kind.ENUM,
    "ebs_volume_count": Kind.INT,
    "ebs_volume_size": Kind.INT,
    "ebs_volume_iops": Kind.INT,
    "ebs_volume_throughput": Kind.INT,
}

#: Create fields the validator checks but the operator has no parameter for: they come in ``cluster_json``.
#: The flexible node types (2025): ``NodeTypeFlexibility`` objects, each node type's alternates.
JSON_ONLY_FIELDS: dict[str, Kind] = {
    "worker_node_type_flexibility": Kind.OBJECT,
    "driver_node_type_flexibility": Kind.OBJECT,
}
#: The fields of a ``NodeTypeFlexibility`` object (databricks-sdk's dataclass of that name).
NODE_TYPE_FLEXIBILITY_FIELDS: tuple[str, ...] = ("alternate_node_type_ids", "aws_context_id")
#: Each flexibility field and the field of the node type its alternates stand in for. The driver's is
#: ``node_type_id`` when no ``driver_node_type_id`` is given (the driver then runs on the workers' type).
FLEXIBLE_NODE_TYPES: dict[str, str] = {
    "worker_node_type_flexibility": "node_type_id",
    "driver_node_type_flexibility": "driver_node_type_id",
}

#: Create fields of the API this client does not model: no parameter of their own and no check of their
#: values. A base spec (``cluster_json``) may hold them, and they are sent as given. ``cluster_source`` and
#: ``idempotency_token`` are not in databricks-sdk 0.167's create but older clients send them and a
#: workspace takes them (the legacy Clusters API 2.0 reference; Terraform's ``databricks_cluster``).
PASSED_CREATE_FIELDS: tuple[str, ...] = (
    "kind",
    "is_single_node",
    "use_ml_runtime",
    "idempotency_token",
    "cluster_source",
    "remote_disk_throughput",
    "total_initial_remote_disk_size",
    "clone_from",
    "workload_type",
    "dependency_mode",
    "azure_attributes",
    "gcp_attributes",
)

#: Every field of a ``clusters/create`` body: the keys a base spec may have.
API_CREATE_FIELDS: tuple[str, ...] = (*CREATE_FIELDS, *JSON_ONLY_FIELDS, *PASSED_CREATE_FIELDS)

#: The fields of the one object an init script is, each holding a destination object of these fields.
#: ``abfss`` and ``gcs`` are Azure's and Google's storage: the API knows them, an AWS cluster cannot use them.
S3_STORAGE_FIELDS: tuple[str, ...] = (
    "destination", "region", "endpoint", "enable_encryption", "encryption_type", "kms_key", "canned_acl",
)  # fmt: skip
DESTINATION_FIELDS: tuple[str, ...] = ("destination",)
INIT_SCRIPT_DESTINATIONS: dict[str, tuple[str, ...]] = {
    "workspace": DESTINATION_FIELDS,
    "volumes": DESTINATION_FIELDS,
    "s3": S3_STORAGE_FIELDS,
    "dbfs": DESTINATION_FIELDS,
    "file": DESTINATION_FIELDS,
    "abfss": DESTINATION_FIELDS,
    "gcs": DESTINATION_FIELDS,
}
#: ``cluster_log_conf``: one of these, each holding a destination object of these fields.
LOG_DESTINATIONS: dict[str, tuple[str, ...]] = {
    "dbfs": DESTINATION_FIELDS,
    "s3": S3_STORAGE_FIELDS,
    "volumes": DESTINATION_FIELDS,
}

#: What a key may be, at each place in a spec: an object's keys, each with what its value holds (None: its
#: keys are not looked at), and a list of such objects written as a one-item list. The objects whose keys
#: are checked are the ones this client models; the inside of a passed field (``workload_type``, ...) is
#: sent as given, as the field itself is. The flexibility objects' keys (``NODE_TYPE_FLEXIBILITY_FIELDS``)
#: are checked by their validator handler instead: this table must equal the emulator's, which does not
#: look inside them yet.
Keys = dict[str, "Keys | list[Keys] | None"]
KNOWN_KEYS: Keys = {
    **{name: None for name in API_CREATE_FIELDS},
    "aws_attributes": {name: None for name in AWS_FIELDS},
    "autoscale": {"min_workers": None, "max_workers": None},
    "docker_image": {"url": None, "basic_auth": {"username": None, "password": None}},
    "init_scripts": [
        {kind: {name: None for name in fields} for kind, fields in INIT_SCRIPT_DESTINATIONS.items()}
    ],
    "cluster_log_conf": {kind: {name: None for name in fields} for kind, fields in LOG_DESTINATIONS.items()},
}

#: Every field the create operator takes as a named (templated) parameter: the create fields, then the
#: ``aws_attributes`` fields flat.
OPERATOR_FIELDS: tuple[str, ...] = (*CREATE_FIELDS, *AWS_FIELDS)


def names(table: dict[str, Kind], *kinds: Kind) -> tuple[str, ...]:
    """The fields of ``table`` of the given kinds, in table order."""
    return tuple(name for name, kind in table.items() if kind in kinds)
