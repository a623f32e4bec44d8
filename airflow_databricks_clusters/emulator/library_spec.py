"""Library objects of the Libraries API: how a workspace checks them, and what it says when one fails.

A library is an object with exactly one kind: a file (``jar``, ``egg``, ``whl``, ``requirements``: its
path or URI) or a package (``pypi {package, repo}``, ``maven {coordinates, repo, exclusions}``,
``cran {package, repo}``), as databricks-sdk's ``compute.Library`` names them. A field the API does not
have, or a wrong JSON type, is a 400 MALFORMED_REQUEST as for clusters (``validation.py``); a missing or
empty value a 400 INVALID_PARAMETER_VALUE naming the field.

The failure texts are the ones real workspaces give (see ``docs/emulator-fidelity.md`` for where each
was seen); the parts marked unconfirmed there are the emulator's own wording in the same style.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import invalid_parameter, malformed_request

FILE_KINDS = ("jar", "egg", "whl", "requirements")
#: Package kinds and their fields: the first is required, the rest optional (``exclusions`` a list).
PACKAGE_KINDS: dict[str, tuple[str, ...]] = {
    "pypi": ("package", "repo"),
    "maven": ("coordinates", "repo", "exclusions"),
    "cran": ("package", "repo"),
}
KINDS = (*FILE_KINDS, *PACKAGE_KINDS)
#: Kinds whose metadata is fetched from a repository first (RESOLVING); for files that step is a no-op.
RESOLVED_KINDS = frozenset({"pypi", "maven", "cran", "requirements"})

_PIP = (
    "/bin/su, libraries, -c, bash /local_disk0/.ephemeral_nfs/cluster_libraries/python/"
    "python_start_clusterwide.sh /local_disk0/.ephemeral_nfs/cluster_libraries/python/bin/pip install"
)


def checked_libraries(value: Any) -> list[dict[str, Any]]:
    """The ``libraries`` field of an install or uninstall, each library normalised (nulls dropped), or
    the workspace's refusal of the first bad one."""
    if value is None:
        raise invalid_parameter("Missing required field: libraries")
    if not isinstance(value, list):
        raise malformed_request(
            f"Could not parse request object: Expected an array for field libraries, found {_type(value)}"
        )
    if not value:
        raise invalid_parameter("Missing required field: libraries (a list of at least one library)")
    return [checked_library(item, f"libraries[{index}]") for index, item in enumerate(value)]


def checked_library(value: Any, where: str = "library") -> dict[str, Any]:
    """One library object, normalised; ``where`` names it in a refusal (``libraries[0]``)."""
    if not isinstance(value, Mapping):
        raise malformed_request(
            f"Could not parse request object: Expected an object for field {where}, found {_type(value)}"
        )
    for key in value:
        if key not in KINDS:
            raise malformed_request(f"Could not parse request object: Unknown field {where}.{key}")
    given = [kind for kind in KINDS if value.get(kind) is not None]
    if len(given) != 1:
        raise invalid_parameter(
            f"{where} must set exactly one of {', '.join(KINDS)}"
            + (f" (it sets {', '.join(given)})." if given else ".")
        )
    kind = given[0]
    if kind in FILE_KINDS:
        return {kind: _text(value[kind], f"{where}.{kind}")}
    return {kind: _package(kind, value[kind], f"{where}.{kind}")}


def _package(kind: str, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise malformed_request(
            f"Could not parse request object: Expected an object for field {where}, found {_type(value)}"
        )
    fields = PACKAGE_KINDS[kind]
    for key in value:
        if key not in fields:
            raise malformed_request(f"Could not parse request object: Unknown field {where}.{key}")
    package: dict[str, Any] = {fields[0]: _text(value.get(fields[0]), f"{where}.{fields[0]}")}
    if kind == "maven" and len(package["coordinates"].split(":")) < 3:
        raise invalid_parameter(
            f"Invalid {where}.coordinates {package['coordinates']!r}: "
            "must be groupId:artifactId:version (e.g. org.jsoup:jsoup:1.7.2)."
        )
    if value.get("repo") is not None:
        package["repo"] = _text(value["repo"], f"{where}.repo")
    if kind == "maven" and value.get("exclusions") is not None:
        exclusions = value["exclusions"]
        if not isinstance(exclusions, list) or not all(isinstance(e, str) for e in exclusions):
            raise malformed_request(
                f"Could not parse request object: Expected an array of strings for field {where}.exclusions"
            )
        if exclusions:  # an empty list is no exclusions: the same library as one without
            package["exclusions"] = list(exclusions)
    return package


def _text(value: Any, where: str) -> str:
    if value is None or value == "":
        raise invalid_parameter(f"Missing required field: {where}")
    if not isinstance(value, str):
        raise malformed_request(
            f"Could not parse request object: Expected a string for field {where}, found {_type(value)}"
        )
    return value


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "ARRAY"
    return "OBJECT" if isinstance(value, dict) else "NULL"


def kind_of(library: Mapping[str, Any]) -> str:
    """The one kind a checked library has."""
    return next(iter(library))


def name_of(library: Mapping[str, Any]) -> str:
    """What a library is called: its path, package or maven coordinates (``library_failure`` matches it)."""
    kind = kind_of(library)
    value = library[kind]
    if kind in FILE_KINDS:
        return str(value)
    return str(value["coordinates" if kind == "maven" else "package"])


def failure_message(library: Mapping[str, Any], cluster_id: str) -> str:
    """What ``messages`` says of a library that failed to install on the cluster: pip's answer for Python
    libraries, the Maven resolver's for maven, the emulator's own for jar and cran."""
    kind, name = kind_of(library), name_of(library)
    if kind == "maven":
        return (
            "Library resolution failed. Cause: java.lang.RuntimeException: "
            f"unresolved dependency: {name}: not found"
        )
    prefix = f"Library installation attempted on the driver node of cluster {cluster_id} and failed."
    if kind == "pypi":
        return (
            f"{prefix} Pip could not find a version that satisfies the requirement for the library. "
            f"Error Code: NO_MATCHING_DISTRIBUTION_ERROR. Error Message: org.apache.spark.SparkException: "
            f"Process List({_PIP} {name} --disable-pip-version-check) exited with code 1. "
            f"ERROR: Could not find a version that satisfies the requirement {name} (from versions: none)\n"
            f"ERROR: No matching distribution found for {name}"
        )
    if kind in ("whl", "egg", "requirements"):
        target = f"-r {name}" if kind == "requirements" else f"--upgrade {name}"
        return (
            f"{prefix} Please refer to the following error message to fix the library or contact Databricks "
            f"support. Error Code: DRIVER_LIBRARY_INSTALLATION_FAILURE. Error Message: "
            f"org.apache.spark.SparkException: Process List({_PIP} {target} --disable-pip-version-check) "
            "exited with code 1. ERROR: pip's installation of the library failed."
        )
    if kind == "cran":
        return (
            f"{prefix} Error Code: DRIVER_LIBRARY_INSTALLATION_FAILURE. Error Message: "
            f"package '{name}' is not available for this version of R"
        )
    return (
        f"{prefix} Error Code: DRIVER_LIBRARY_INSTALLATION_FAILURE. Error Message: "
        f"java.io.FileNotFoundException: {name} does not exist"
    )


def run_failure_message(library: Mapping[str, Any], message: str) -> str:
    """A run's ``state_message`` when a library of its task failed to install: it names the library."""
    kind = kind_of(library)
    value = library[kind]
    if kind in FILE_KINDS:
        described = f"{kind}: {json.dumps(value)}"
    else:
        fields = "".join(f" {key}: {json.dumps(item)}\n" for key, item in value.items())
        described = f"{kind} {{\n{fields}}}"
    return (
        f"Library installation failed for library due to user error for {described}\n"
        f" Error messages:\n{message}"
    )
