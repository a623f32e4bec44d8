"""The one table of cluster fields: what the create operator takes, the spec builder lays over a base spec,
and the validator checks. Pure data, no import of anything.

Every Clusters API create field this client models is a row: its name and what kind of value it is. The
operator's named parameters and templated fields, ``cluster_spec.build.build_cluster_spec``'s accepted
fields and ``cluster_spec.validation``'s handlers are all derived from it, and
``tests/unit/cluster_spec/test_fields.py`` fails when one of them drifts from it.
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

#: Every field the create operator takes as a named (templated) parameter: the create fields, then the
#: ``aws_attributes`` fields flat.
OPERATOR_FIELDS: tuple[str, ...] = (*CREATE_FIELDS, *AWS_FIELDS)


def names(table: dict[str, Kind], *kinds: Kind) -> tuple[str, ...]:
    """The fields of ``table`` of the given kinds, in table order."""
    return tuple(name for name, kind in table.items() if kind in kinds)
