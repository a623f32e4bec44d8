"""Enforcing a cluster policy's ``definition`` on a ``clusters/create`` or ``clusters/edit`` body.

A definition maps attribute paths to rules: ``top_level_field``, ``spark_conf.<key>``,
``spark_env_vars.<key>``, ``custom_tags.<key>`` (the key may hold dots), a nested field such as
``aws_attributes.availability``, ``autoscale.max_workers`` or ``docker_image.basic_auth.username``, and
the virtual ``cluster_type`` (``all-purpose`` for ``clusters/create``, ``job`` for a job's cluster);
``dbus_per_hour`` and ``cluster_log_conf.type``/``path`` are not enforced.

Rule types: ``fixed`` (``value``, ``hidden``), ``forbidden``, ``allowlist`` and ``blocklist``
(``values``), ``range`` (``minValue``, ``maxValue``), ``regex`` (``pattern``, always matched against the
whole value), ``unlimited``; the limiting ones (all but ``unlimited``) make the attribute required unless
``isOptional``; ``defaultValue`` fills an omitted attribute.

As the API documents ``apply_policy_default_values``: fixed values always fill omitted attributes; with it
true, default values do too. Every rule broken is named in one ``INVALID_PARAMETER_VALUE`` answer, joined
by ``; `` (the workspace's "Validation failed for X, ..." wording: docs/emulator-fidelity.md says which
sentences were seen on a real workspace and which are the emulator's).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

RULE_TYPES = ("fixed", "forbidden", "allowlist", "blocklist", "range", "regex", "unlimited")
#: Fields whose keys are free (a key may hold dots): the path's rest after the first dot is one key.
MAP_FIELDS = ("spark_conf", "spark_env_vars", "custom_tags")
#: Paths that name no field of the body: matched against what the request is.
VIRTUAL = ("cluster_type",)
#: Paths the emulator does not enforce: a cost it does not compute, or a choice between objects
#: (``cluster_log_conf.type`` is DBFS, S3 or volumes) that its paths cannot name.
NOT_ENFORCED = ("dbus_per_hour", "cluster_log_conf.type", "cluster_log_conf.path", "cluster_log_conf.region")
_ABSENT = object()


class MalformedDefinition(ValueError):
    """A definition that is not a JSON object of rules the API knows."""


def parse(definition: str) -> dict[str, dict[str, Any]]:
    """The rules of a definition; MalformedDefinition when it is not an object of known rules."""
    try:
        rules = json.loads(definition)
    except ValueError as err:
        raise MalformedDefinition(f"the definition is not JSON: {err}") from None
    if not isinstance(rules, dict):
        raise MalformedDefinition("the definition must be a JSON object of attribute paths to rules")
    for path, rule in rules.items():
        if not isinstance(rule, dict) or rule.get("type") not in RULE_TYPES:
            raise MalformedDefinition(
                f"the rule of {path} must be an object whose type is one of {', '.join(RULE_TYPES)}"
            )
        needed = {"fixed": "value", "allowlist": "values", "blocklist": "values", "regex": "pattern"}
        key = needed.get(rule["type"])
        if key is not None and key not in rule:
            raise MalformedDefinition(f"the {rule['type']} rule of {path} needs {key}")
        if rule["type"] == "regex":
            try:
                re.compile(str(rule["pattern"]))
            except re.error as err:
                raise MalformedDefinition(
                    f"the pattern of {path} is not a regular expression: {err}"
                ) from None
    return rules


def enforce(
    rules: Mapping[str, Mapping[str, Any]],
    body: Mapping[str, Any],
    *,
    cluster_type: str = "all-purpose",
) -> tuple[dict[str, Any], list[str]]:
    """The body with the policy's fixed (and, with ``apply_policy_default_values``, default) values
    filled in, and every violation found (none: the body complies)."""
    spec = copy.deepcopy(dict(body))
    apply_defaults = spec.get("apply_policy_default_values") is True
    virtual = {"cluster_type": cluster_type}
    for path, rule in rules.items():
        if path in VIRTUAL or path in NOT_ENFORCED or "*" in path or "[" in path:
            continue
        if _get(spec, path) is not _ABSENT:
            continue
        if rule["type"] == "fixed":
            _set(spec, path, rule["value"])
        elif apply_defaults and "defaultValue" in rule:
            _set(spec, path, rule["defaultValue"])
    errors = []
    for path, rule in rules.items():
        if path in NOT_ENFORCED or "*" in path or "[" in path:  # and list paths (init_scripts.*...)
            continue
        value = virtual[path] if path in virtual else _get(spec, path)
        problem = _check(rule, value)
        if problem is not None:
            errors.append(_message(path, problem))
    return spec, errors


def _check(rule: Mapping[str, Any], value: Any) -> str | None:
    """What is wrong with ``value`` under ``rule`` (a phrase), or None."""
    kind = rule["type"]
    if value is _ABSENT:
        if kind in ("unlimited", "forbidden") or rule.get("isOptional") is True:
            return None
        return "must be present"
    shown = f"(is {json.dumps(_text(value))})"
    if kind == "fixed" and not _same(value, rule["value"]):
        return f"the value must be {_text(rule['value'])} {shown}"
    if kind == "forbidden":
        return "the value must not be present"
    if kind == "allowlist" and not any(_same(value, allowed) for allowed in rule["values"]):
        return f"the value must be one of {_list(rule['values'])} {shown}"
    if kind == "blocklist" and any(_same(value, blocked) for blocked in rule["values"]):
        return f"the value must not be one of {_list(rule['values'])} {shown}"
    if kind == "range":
        number = _number(value)
        if number is None:
            return f"the value must be a number {shown}"
        if "minValue" in rule and number < float(rule["minValue"]):
            return f"the value must be at least {_text(rule['minValue'])} {shown}"
        if "maxValue" in rule and number > float(rule["maxValue"]):
            return f"the value must be at most {_text(rule['maxValue'])} {shown}"
    if kind == "regex" and re.fullmatch(str(rule["pattern"]), _text(value)) is None:
        return f"the value must match the regex {rule['pattern']} {shown}"
    return None


def _message(path: str, problem: str) -> str:
    head, _, key = path.partition(".")
    if problem == "must be present":
        # Seen on a workspace: a map key is named after its field, any other path as "the value".
        if head in MAP_FIELDS and key:
            return f"Validation failed for {head}, {key} must be present"
        return f"Validation failed for {path}, the value must be present"
    return f"Validation failed for {path}, {problem}"


def _get(spec: Mapping[str, Any], path: str) -> Any:
    head, dot, rest = path.partition(".")
    value: Any = spec.get(head)
    if dot and head in MAP_FIELDS:
        value = value.get(rest) if isinstance(value, Mapping) else None
    elif dot:
        for part in rest.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    return _ABSENT if value is None else value


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    head, dot, rest = path.partition(".")
    if not dot:
        spec[head] = copy.deepcopy(value)
        return
    if head in MAP_FIELDS:
        inner = spec.get(head)
        if not isinstance(inner, dict):
            inner = spec[head] = {}
        # A map field holds strings only (spark_conf and the tags): a policy's true or 5 goes in as text.
        inner[rest] = _text(value)
        return
    *parents, last = [head, *rest.split(".")]
    target: dict[str, Any] = spec
    for part in parents:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[last] = copy.deepcopy(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _same(given: Any, wanted: Any) -> bool:
    return bool(given == wanted and type(given) is type(wanted)) or _text(given) == _text(wanted)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _list(values: Any) -> str:
    return "[" + ", ".join(_text(v) for v in values) + "]" if isinstance(values, list) else str(values)
