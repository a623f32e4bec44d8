"""The create operator's ``libraries``: the Libraries API's library objects, checked before any API call.

Pure: no I/O, no Airflow import. A library is an object with exactly one of ``jar``, ``egg``, ``whl``,
``requirements`` (a path or URL), ``pypi {package, repo}``, ``maven {coordinates, repo, exclusions}`` or
``cran {package, repo}`` (databricks-sdk's ``compute.Library``). Every problem names its place
(``libraries[1].pypi.pakage``) and what is allowed there. A library's ``label`` is what the task log shows
of it: its kind and what it installs, never a repository, and any password written into a URL replaced by
``***``; ``url_secrets`` lists those passwords so the operator masks them everywhere else too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.cluster_spec.validation import nearest, problem
from airflow_databricks_clusters.errors import SpecError, SpecProblem
from airflow_databricks_clusters.redaction import REDACTED, structured

#: The operator parameter, as problems name it.
PARAM = "libraries"
#: Kinds whose value is a path or URL (a string).
PATH_KINDS = ("jar", "egg", "whl", "requirements")
#: Kinds whose value is an object: its fields, and the field that names what is installed.
OBJECT_KINDS: dict[str, tuple[str, ...]] = {
    "pypi": ("package", "repo"),
    "maven": ("coordinates", "repo", "exclusions"),
    "cran": ("package", "repo"),
}
NAMED_BY = {"pypi": "package", "maven": "coordinates", "cran": "package"}
KINDS = (*PATH_KINDS, *OBJECT_KINDS)

_ALLOWED = (
    "a list of library objects, each with exactly one of jar, egg, whl, requirements (a path), "
    "pypi {package, repo}, maven {coordinates, repo, exclusions}, cran {package, repo}"
)
_ONE_KIND = f"exactly one of {', '.join(KINDS)}"
#: The password of ``scheme://user:password@host`` (group ``secret``).
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*):(?P<secret>[^/@\s]+)@")
#: A token written alone before the host (``https://<token>@host``).
_URL_USER = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<secret>[^/@\s:]+)@")


def parse_libraries(value: Any) -> list[dict[str, Any]]:
    """The libraries as given (a list of objects, or its JSON or Python text from a template), checked.

    Raises ``SpecError`` naming every problem; None, "None" or an empty list is no library.
    """
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "None", "null"):
            return []
        parsed = structured(text)
        if not isinstance(parsed, list):
            raise SpecError([problem(PARAM, _hidden(value), _ALLOWED)])
        value = parsed
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise SpecError([problem(PARAM, _hidden(value), _ALLOWED)])
    problems: list[SpecProblem] = []
    libraries: list[dict[str, Any]] = []
    for index, library in enumerate(value):
        found = _library_problems(f"{PARAM}[{index}]", library)
        problems += found
        if not found:
            libraries.append(_normalised(library))
    seen: dict[tuple[str, str], int] = {}
    for index, library in enumerate(libraries):
        key = library_key(library)
        if key in seen:
            problems.append(
                problem(
                    f"{PARAM}[{index}]", label(library), f"each library once (also at {PARAM}[{seen[key]}])"
                )
            )
        seen.setdefault(key, index)
    if problems:
        raise SpecError(problems)
    return libraries


def _library_problems(path: str, library: Any) -> list[SpecProblem]:
    if not isinstance(library, Mapping) or not library:
        return [problem(path, _hidden(library), f"a library object with {_ONE_KIND}")]
    unknown = [key for key in library if key not in KINDS]
    problems = [_unknown(f"{path}.{key}", key, KINDS, "a library") for key in unknown]
    kinds = [key for key in library if key in KINDS]
    if len(kinds) != 1 and not unknown:
        problems.append(problem(path, _hidden(dict(library)), _ONE_KIND))
    for kind in kinds:
        value = library[kind]
        where = f"{path}.{kind}"
        if kind in PATH_KINDS:
            if not isinstance(value, str) or not value.strip():
                problems.append(problem(where, _hidden(value), "a non-empty path or URL (a string)"))
            continue
        fields = OBJECT_KINDS[kind]
        if not isinstance(value, Mapping):
            problems.append(problem(where, _hidden(value), f"an object with {', '.join(fields)}"))
            continue
        problems += [_unknown(f"{where}.{key}", key, fields, kind) for key in value if key not in fields]
        named = NAMED_BY[kind]
        if not isinstance(value.get(named), str) or not value[named].strip():
            problems.append(problem(f"{where}.{named}", _hidden(value.get(named)), "a non-empty string"))
        if "repo" in value and not isinstance(value["repo"], str):
            problems.append(problem(f"{where}.repo", _hidden(value["repo"]), "a repository URL (a string)"))
        exclusions = value.get("exclusions")
        if exclusions is not None and (
            not isinstance(exclusions, list) or not all(isinstance(e, str) and e for e in exclusions)
        ):
            problems.append(
                problem(f"{where}.exclusions", exclusions, 'a list of "groupId:artifactId" strings')
            )
    return problems


def _unknown(path: str, key: object, known: Sequence[str], where: str) -> SpecProblem:
    meant = nearest(key, known)
    hint = f"did you mean {meant!r}?" if meant else f"one of {', '.join(known)}"
    return problem(path, str(key), f"a field of {where} in the Libraries API: {hint}")


def _normalised(library: Mapping[str, Any]) -> dict[str, Any]:
    """The library as the API takes it: paths and names stripped, an empty repo left out."""
    ((kind, value),) = library.items()
    if kind in PATH_KINDS:
        return {kind: value.strip()}
    out = {key: item.strip() if isinstance(item, str) else list(item) for key, item in value.items()}
    if not out.get("repo"):
        out.pop("repo", None)
    return {kind: out}


def library_key(library: Mapping[str, Any]) -> tuple[str, str]:
    """What identifies a library on a cluster: its kind and what it installs (the path, the package, the
    coordinates). A workspace's status of it is found by this key."""
    for kind, value in library.items():
        if kind in PATH_KINDS and isinstance(value, str):
            return kind, value.strip()
        if kind in OBJECT_KINDS and isinstance(value, Mapping):
            return kind, str(value.get(NAMED_BY[kind], "")).strip()
    return "?", repr(sorted(library))


def label(library: Mapping[str, Any]) -> str:
    """The library as the task log shows it, e.g. ``pypi:requests==2.32.3``; no password of a URL."""
    kind, name = library_key(library)
    return f"{kind}:{hide_url_secrets(name)}"


def hide_url_secrets(text: str) -> str:
    """``text`` with the credentials written into any URL in it (``https://user:pw@host``,
    ``https://token@host``) replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    return _URL_USER.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)


def url_secrets(value: Any) -> Iterator[str]:
    """Every credential written into a URL anywhere in ``value`` (strings, dicts, lists at any depth): a
    repository or a path may carry one, and Airflow's masker must learn it before a rendering is stored."""
    if isinstance(value, str):
        for pattern in (_URL_PASSWORD, _URL_USER):
            yield from (match["secret"] for match in pattern.finditer(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from url_secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from url_secrets(item)


def _hidden(value: Any) -> Any:
    """A value as a problem shows it: credentials in URLs hidden at any depth."""
    if isinstance(value, str):
        return hide_url_secrets(value)
    if isinstance(value, Mapping):
        return {key: _hidden(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_hidden(item) for item in value]
    return value
