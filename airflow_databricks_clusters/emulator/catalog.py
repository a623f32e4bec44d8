"""What the emulated workspace offers: runtimes, node types, zones, instance profiles, pools, policies.

Plain data in the shapes the Clusters API returns them. ``Catalog`` is per workspace so a test can offer
something else (another region, an extra instance profile) without touching the defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: (key, name) as ``clusters/spark-versions`` lists them: the supported runtimes an AWS workspace offers on
#: 2026-11-24, newest first, each with its Photon and ML variants (docs/emulator-fidelity.md: what and
#: why). Any other key, the source article's retired 7.0 among them, is refused at create and edit.
SPARK_VERSIONS: tuple[tuple[str, str], ...] = (
    ("19.x-scala2.13", "19 (includes Apache Spark 4.2.0, Scala 2.13)"),
    ("19.x-photon-scala2.13", "19 Photon (includes Apache Spark 4.2.0, Scala 2.13)"),
    ("19.x-cpu-ml-scala2.13", "19 ML (includes Apache Spark 4.2.0, Scala 2.13)"),
    ("19.x-gpu-ml-scala2.13", "19 ML (includes Apache Spark 4.2.0, GPU, Scala 2.13)"),
    ("18.x-scala2.13", "18 LTS (includes Apache Spark 4.1.0, Scala 2.13)"),
    ("18.x-photon-scala2.13", "18 LTS Photon (includes Apache Spark 4.1.0, Scala 2.13)"),
    ("18.x-cpu-ml-scala2.13", "18 LTS ML (includes Apache Spark 4.1.0, Scala 2.13)"),
    ("18.x-gpu-ml-scala2.13", "18 LTS ML (includes Apache Spark 4.1.0, GPU, Scala 2.13)"),
    ("17.3.x-scala2.13", "17.3 LTS (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("17.3.x-photon-scala2.13", "17.3 LTS Photon (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("17.3.x-cpu-ml-scala2.13", "17.3 LTS ML (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("17.3.x-gpu-ml-scala2.13", "17.3 LTS ML (includes Apache Spark 4.0.0, GPU, Scala 2.13)"),
    ("16.4.x-scala2.12", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-photon-scala2.12", "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-cpu-ml-scala2.12", "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-gpu-ml-scala2.12", "16.4 LTS ML (includes Apache Spark 3.5.2, GPU, Scala 2.12)"),
    ("16.4.x-scala2.13", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.13)"),
    ("16.4.x-photon-scala2.13", "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.13)"),
    ("15.4.x-scala2.12", "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-photon-scala2.12", "15.4 LTS Photon (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-cpu-ml-scala2.12", "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-gpu-ml-scala2.12", "15.4 LTS ML (includes Apache Spark 3.5.0, GPU, Scala 2.12)"),
    ("14.3.x-scala2.12", "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("14.3.x-photon-scala2.12", "14.3 LTS Photon (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("14.3.x-cpu-ml-scala2.12", "14.3 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("14.3.x-gpu-ml-scala2.12", "14.3 LTS ML (includes Apache Spark 3.5.0, GPU, Scala 2.12)"),
)

#: node_type_id -> (memory_mb, num_cores, local disks) of the AWS instance types offered.
NODE_TYPES: dict[str, tuple[int, float, int]] = {
    "m5d.large": (8192, 2.0, 1),
    "m5d.xlarge": (16384, 4.0, 1),
    "m5d.2xlarge": (32768, 8.0, 1),
    "c5d.xlarge": (8192, 4.0, 1),
    "r4.xlarge": (31232, 4.0, 0),
    "r4.2xlarge": (62464, 8.0, 0),
    "r5d.xlarge": (32768, 4.0, 1),
    # r5d.xlarge's flexible alternates (the same cores, 100-110% of its memory) and a Graviton type, which
    # Databricks Container Services cannot run.
    "r5.xlarge": (32768, 4.0, 0),
    "r5a.xlarge": (32768, 4.0, 0),
    "r6i.xlarge": (32768, 4.0, 0),
    "r6gd.xlarge": (32768, 4.0, 1),
    "i3.xlarge": (31232, 4.0, 1),
    "i3.2xlarge": (62464, 8.0, 1),
}


def _node_type(node_type_id: str, memory_mb: int, cores: float, disks: int) -> dict[str, Any]:
    family = node_type_id.split(".")[0]
    return {
        "node_type_id": node_type_id,
        "instance_type_id": node_type_id,
        "memory_mb": memory_mb,
        "num_cores": cores,
        "description": node_type_id,
        "category": "Memory Optimized" if family[0] in "ri" else "General Purpose",
        "is_deprecated": family == "r4",
        "support_ebs_volumes": True,
        "support_cluster_tags": True,
        "support_port_forwarding": True,
        "node_instance_type": {
            "instance_type_id": node_type_id,
            "local_disks": disks,
            "local_disk_size_gb": 150 * disks,
        },
    }


@dataclass
class Catalog:
    """The offer of one workspace; every list can be replaced for a test."""

    region: str = "ap-southeast-1"
    spark_versions: list[tuple[str, str]] = field(default_factory=lambda: list(SPARK_VERSIONS))
    node_types: dict[str, tuple[int, float, int]] = field(default_factory=lambda: dict(NODE_TYPES))
    instance_profiles: list[str] = field(
        default_factory=lambda: ["arn:aws:iam::123456789012:instance-profile/dataengineeringe2e-role"]
    )
    instance_pools: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "instance_pool_id": "0101-120000-pool0001",
                "instance_pool_name": "warm-i3-xlarge",
                "node_type_id": "i3.xlarge",
                "min_idle_instances": 0,
                "idle_instance_autotermination_minutes": 60,
                "state": "ACTIVE",
            }
        ]
    )
    #: Whether clusters may run init scripts from DBFS. A workspace today refuses them at create (they are
    #: end of life); True stands for a workspace from before that, which reads and runs them.
    dbfs_init_scripts: bool = False
    policies: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "policy_id": "E0123456789ABCDE",
                "name": "Job Compute",
                "definition": "{}",
                "is_default": False,
            }
        ]
    )

    #: Where ``pool`` finds a pool by id once the workspace keeps its pools (``instance_pools.py``); until
    #: then, in ``instance_pools`` (the pools a workspace starts with).
    pool_lookup: Callable[[str], dict[str, Any] | None] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def zones(self) -> list[str]:
        return [f"{self.region}{letter}" for letter in "abc"]

    def spark_version_keys(self) -> set[str]:
        return {key for key, _ in self.spark_versions}

    def pool(self, pool_id: str) -> dict[str, Any] | None:
        """The pool's record (a deleted one's too: its ``state`` says so), or None."""
        if self.pool_lookup is not None:
            return self.pool_lookup(pool_id)
        return next((p for p in self.instance_pools if p["instance_pool_id"] == pool_id), None)

    def node(self, node_type_id: str) -> dict[str, Any]:
        return _node_type(node_type_id, *self.node_types[node_type_id])

    def spark_versions_answer(self) -> dict[str, Any]:
        return {"versions": [{"key": key, "name": name} for key, name in self.spark_versions]}

    def node_types_answer(self) -> dict[str, Any]:
        return {"node_types": [self.node(node_type_id) for node_type_id in self.node_types]}

    def zones_answer(self) -> dict[str, Any]:
        return {"zones": self.zones, "default_zone": self.zones[0]}

    def instance_profiles_answer(self) -> dict[str, Any]:
        return {
            "instance_profiles": [
                {"instance_profile_arn": arn, "is_meta_instance_profile": False}
                for arn in self.instance_profiles
            ]
        }
