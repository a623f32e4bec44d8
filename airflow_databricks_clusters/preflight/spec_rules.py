"""The pre-flight checks that read the spec alone, before any lookup, and the node type size rule. Pure.

``container_services``: what Databricks Container Services cannot run, for a spec with a ``docker_image``
(the custom containers page of the Databricks docs, "Limitations"; the standard access mode page lists
custom containers among what it does not support): standard (shared) access mode, a Machine Learning
runtime, an AWS Graviton instance type. ``init_scripts``: init scripts on DBFS are end of life, and a
workspace refuses them. ``alternate_sizes`` (part of the ``node_types`` check, which lists the node
types): a flexible node type's alternates have the vCPU count of the node type they stand in for and
100-110% of its memory.

These are pre-flight checks, not spec validation, so that a task can switch one off by name
(``skip_preflight_checks``) should Databricks lift a limit before this plugin learns of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_databricks_clusters.cluster_spec.fields import FLEXIBLE_NODE_TYPES
from airflow_databricks_clusters.cluster_spec.validation import primary_node_type
from airflow_databricks_clusters.preflight.results import CheckResult
from airflow_databricks_clusters.preflight.runtimes import runtime_version

# An EC2 instance family, the part of a type before the ".": a series ("m", "r", "im", "is", "hpc", "g"),
# the generation's digits, then the additional capabilities, one letter each ("g" AWS Graviton, "d" local
# NVMe disks, "n" more network, "a" AMD, "i" Intel, "e" more memory, "z" high frequency, ...). What follows
# ("-flex", "-12tb") says nothing about the processor. Databricks' fleet types ("m-fleet.xlarge") have no
# generation.
_FAMILY = re.compile(r"^(?P<series>[a-z]+)(?P<generation>\d+)(?P<capabilities>[a-z]*)")
#: The first Graviton generation's family, named before the "g" capability letter existed.
_FIRST_GRAVITON = "a1"
#: Series of NVIDIA GPU instances (g4dn, g5, g6e, gr6, p3, p4d, p5, ...).
_GPU_SERIES = ("g", "gr", "p")

#: What standard (shared) access mode is called, now and before (databricks-sdk's ``DataSecurityMode``).
STANDARD_MODES = ("DATA_SECURITY_MODE_STANDARD", "USER_ISOLATION")
AUTO_MODE = "DATA_SECURITY_MODE_AUTO"
#: What a cluster with a ``docker_image`` may have as ``data_security_mode`` (or none at all).
CONTAINER_MODES = "DATA_SECURITY_MODE_DEDICATED (or SINGLE_USER), or NONE"
#: The oldest runtime that AUTO resolves to standard access mode on (older ones get dedicated).
_AUTO_STANDARD_FROM = (14, 3)
#: Where an init script may be read from, now that DBFS is not one.
INIT_SCRIPT_PLACES = "workspace files (/Workspace/...), Unity Catalog volumes (/Volumes/...) or S3 (s3://...)"


def _family(node_type_id: str) -> re.Match[str] | None:
    return _FAMILY.match(node_type_id.strip().lower().split(".", 1)[0])


def is_graviton(node_type_id: str) -> bool:
    """Whether an AWS instance type runs on an AWS Graviton (Arm) processor: its family has a ``g`` among
    the capability letters after the generation digit (m6g, m6gd, r7gd, c6gn, im4gn, is4gen, x2gd, t4g,
    g5g), or is the first generation's ``a1``. The GPU series g4dn, g5, g6 and p3 are x86: their ``g``
    is the series, before the digit."""
    family = _family(node_type_id)
    if family is None:
        return False
    return "g" in family["capabilities"] or family.group(0) == _FIRST_GRAVITON


def is_gpu(node_type_id: str) -> bool:
    """Whether an AWS instance type carries NVIDIA GPUs (g4dn, g5, g5g, g6e, gr6, p3, p4d, p5, ...)."""
    family = _family(node_type_id)
    return family is not None and family["series"] in _GPU_SERIES


def is_ml_runtime(spark_version: str) -> bool:
    """Whether a runtime key names a Databricks Runtime for Machine Learning (``-cpu-ml-``, ``-gpu-ml-``)."""
    return "-ml-" in spark_version


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def node_types_of(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every node type a spec names, with the path of the field naming it: ``node_type_id``,
    ``driver_node_type_id`` and each flexible node type's alternates."""
    for field in ("node_type_id", "driver_node_type_id"):
        if isinstance(spec.get(field), str) and spec[field]:
            yield field, spec[field]
    for flexibility in FLEXIBLE_NODE_TYPES:
        alternates = (spec.get(flexibility) or {}).get("alternate_node_type_ids") or []
        for index, alternate in enumerate(alternates):
            yield f"{flexibility}.alternate_node_type_ids[{index}]", alternate


# -- container_services ------------------------------------------------------------------------------------


def container_services_results(spec: Mapping[str, Any]) -> list[CheckResult]:
    """For a spec with a ``docker_image``: a failure naming the image and the field for each thing
    Databricks Container Services cannot run on, a warning for an access mode left to AUTO where AUTO
    picks standard, else one pass. Nothing for a spec without an image."""
    image = (spec.get("docker_image") or {}).get("url")
    if not image:
        return []
    cannot = "Databricks Container Services does not run on"
    found: list[tuple[str, str, str]] = []  # (field and value, what DCS does not run on, what is allowed)
    mode = str(spec.get("data_security_mode") or "")
    if mode in STANDARD_MODES:
        found.append(
            (
                f"data_security_mode {mode}",
                "standard (shared) access mode",
                f"data_security_mode {CONTAINER_MODES}",
            )
        )
    version = str(spec.get("spark_version") or "")
    if is_ml_runtime(version):
        plain = version.replace("-gpu-ml-", "-").replace("-cpu-ml-", "-").replace("-ml-", "-")
        found.append(
            (
                f"spark_version {version}",
                "Machine Learning runtimes",
                f"a runtime without -ml- (such as {plain})",
            )
        )
    if _truthy(spec.get("use_ml_runtime")):
        found.append(
            (
                f"use_ml_runtime {spec['use_ml_runtime']}",
                "Machine Learning runtimes",
                "use_ml_runtime false, or none",
            )
        )
    for field, node_type in node_types_of(spec):
        if is_graviton(node_type):
            found.append(
                (
                    f"{field} {node_type}",
                    "AWS Graviton instance types",
                    "an x86 (Intel or AMD) type, no 'g' after the generation digit: m6id, not m6gd",
                )
            )
    results = [
        CheckResult.failed(
            "container_services",
            f"docker_image {image} with {given}: {cannot} {what}; allowed with a docker_image: {allowed}",
        )
        for given, what, allowed in found
    ]
    if mode == AUTO_MODE and _auto_is_standard(spec):
        # The docs say how AUTO resolves, not whether an image changes that: a warning, not a refusal.
        results.append(
            CheckResult.warning(
                "container_services",
                f"docker_image {image} with "
                f"data_security_mode {mode}: for spark_version {version} on non-GPU node types AUTO picks "
                f"standard access mode, and {cannot} it; give data_security_mode {CONTAINER_MODES}",
            )
        )
    if not results:
        results.append(
            CheckResult.passed(
                "container_services",
                f"docker_image {image} can run on this access mode, runtime and these node types",
            )
        )
    return results


def _auto_is_standard(spec: Mapping[str, Any]) -> bool:
    """Whether AUTO access mode resolves to standard for this spec, as the docs' standard compute page
    says: standard unless a Machine Learning runtime, a GPU instance type or a runtime older than 14.3."""
    version = str(spec.get("spark_version") or "")
    found = runtime_version(version)
    if is_ml_runtime(version) or _truthy(spec.get("use_ml_runtime")):
        return False
    if found is not None and found[0] < _AUTO_STANDARD_FROM:
        return False
    return not any(is_gpu(node_type) for _, node_type in node_types_of(spec))


# -- init_scripts ------------------------------------------------------------------------------------------


def init_scripts_results(spec: Mapping[str, Any]) -> list[CheckResult]:
    """A failure for each init script on DBFS, naming its place in ``init_scripts``; else one pass.
    Nothing for a spec without init scripts."""
    scripts = spec.get("init_scripts") or []
    if not scripts:
        return []
    results = [
        CheckResult.failed(
            "init_scripts",
            f"init_scripts[{index}] {script['dbfs'].get('destination')}: init scripts on DBFS are end of "
            f"life and a workspace refuses them; allowed: {INIT_SCRIPT_PLACES}",
        )
        for index, script in enumerate(scripts)
        if isinstance(script, Mapping) and isinstance(script.get("dbfs"), Mapping)
    ]
    return results or [CheckResult.passed("init_scripts", "no init script is on DBFS")]


# -- node_types: the alternates' sizes ---------------------------------------------------------------------


def _size(node_type: Mapping[str, Any]) -> tuple[float, int] | None:
    """(vCPUs, memory in MB) of a ``clusters/list-node-types`` item, or None if it does not say."""
    cores, memory = node_type.get("num_cores"), node_type.get("memory_mb")
    if isinstance(cores, bool) or isinstance(memory, bool):
        return None
    if not (isinstance(cores, int | float) and isinstance(memory, int | float) and cores > 0 and memory > 0):
        return None
    return float(cores), int(memory)


def fits(alternate: tuple[float, int], primary: tuple[float, int]) -> bool:
    """Whether a node type of ``alternate``'s size (vCPUs, memory) may stand in for one of ``primary``'s:
    the same vCPUs, and 100% to 110% of the memory."""
    return alternate[0] == primary[0] and primary[1] * 10 <= alternate[1] * 10 <= primary[1] * 11


def _shown(size: tuple[float, int]) -> str:
    return f"{size[0]:g} vCPUs, {size[1]} MB"


def alternate_sizes(
    spec: Mapping[str, Any], node_types: Mapping[str, Mapping[str, Any]]
) -> list[CheckResult]:
    """Each alternate of a flexible node type against the node type it stands in for, from what
    ``clusters/list-node-types`` says of both (``node_types``: by id): a failure naming both and their
    sizes for one that does not ``fits``. An alternate or a primary the workspace does not list is left
    out (the offer check fails it); one listed without its size skips the comparison. One pass for the
    alternates that fit; nothing when there are none."""
    results: list[CheckResult] = []
    fitting = 0
    for flexibility in FLEXIBLE_NODE_TYPES:
        alternates = (spec.get(flexibility) or {}).get("alternate_node_type_ids") or []
        named, primary = primary_node_type(spec, flexibility)
        if not alternates or primary not in node_types:
            continue
        wanted = _size(node_types[primary])
        for index, alternate in enumerate(alternates):
            if alternate not in node_types:
                continue
            path = f"{flexibility}.alternate_node_type_ids[{index}]"
            size = _size(node_types[alternate])
            if wanted is None or size is None:
                unsized = primary if wanted is None else alternate
                why = f"clusters/list-node-types gives no num_cores and memory_mb for {unsized}"
                results.append(
                    CheckResult.skipped(
                        "node_types", f"{path} {alternate} not compared with {named} {primary}: {why}"
                    )
                )
            elif not fits(size, wanted):
                allowed = (
                    f"an alternate with {wanted[0]:g} vCPUs and {wanted[1]} to "
                    f"{wanted[1] * 11 // 10} MB of memory (100-110%)"
                )
                what = f"{path} {alternate} ({_shown(size)}) cannot stand in for {named} {primary}"
                results.append(
                    CheckResult.failed("node_types", f"{what} ({_shown(wanted)}); allowed: {allowed}")
                )
            else:
                fitting += 1
    if fitting:
        noun = "alternate node type has" if fitting == 1 else "alternate node types have"
        results.append(
            CheckResult.passed(
                "node_types",
                f"{fitting} {noun} the vCPUs and 100-110% of the memory of the node type it stands in for",
            )
        )
    return results
