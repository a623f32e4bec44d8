"""What a valid cluster spec is, checked before any API call. Pure: no I/O, no Airflow import.

``validate_cluster_spec`` brings every field to the API's shape and type (numbers and booleans that arrive
as strings from templating are coerced; an image URL becomes ``{"url": ...}``, an ``s3://`` path an init
script object, ...) and checks the rules the workspace enforces plus what only a client can see (ARNs,
image references, zone names, unfilled placeholders). Every key is one the API knows there
(``fields.KNOWN_KEYS``): an unknown one is named by its path with the known field nearest to it
(``unknown_key``). Every problem is collected; ``SpecError`` lists them, and no problem shows a secret
(``problem``).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_databricks_clusters.cluster_spec.fields import (
    AWS_FIELDS,
    CREATE_FIELDS,
    FLEXIBLE_NODE_TYPES,
    INIT_SCRIPT_DESTINATIONS,
    JSON_ONLY_FIELDS,
    KNOWN_KEYS,
    LOG_DESTINATIONS,
    NODE_TYPE_FLEXIBILITY_FIELDS,
    Keys,
    Kind,
    names,
)
from airflow_databricks_clusters.errors import SpecError, SpecProblem
from airflow_databricks_clusters.redaction import REDACTED, is_secret_key, redact_field

INT_FIELDS = names(CREATE_FIELDS, Kind.INT)
BOOL_FIELDS = names(CREATE_FIELDS, Kind.BOOL)
STRING_FIELDS = names(CREATE_FIELDS, Kind.STRING)
MERGED_FIELDS = names(CREATE_FIELDS, Kind.MAP)
CLUSTER_FIELDS: tuple[str, ...] = tuple(CREATE_FIELDS)
AWS_INT_FIELDS = names(AWS_FIELDS, Kind.INT)
AWS_ATTRIBUTE_FIELDS: tuple[str, ...] = tuple(AWS_FIELDS)
AVAILABILITIES = ("SPOT", "ON_DEMAND", "SPOT_WITH_FALLBACK")
EBS_TYPES = ("GENERAL_PURPOSE_SSD", "THROUGHPUT_OPTIMIZED_HDD")
RUNTIME_ENGINES = ("NULL", "STANDARD", "PHOTON")
DATA_SECURITY_MODES = ("NONE", "SINGLE_USER", "USER_ISOLATION", "LEGACY_TABLE_ACL", "LEGACY_PASSTHROUGH",
                       "LEGACY_SINGLE_USER", "LEGACY_SINGLE_USER_STANDARD", "DATA_SECURITY_MODE_AUTO",
                       "DATA_SECURITY_MODE_STANDARD", "DATA_SECURITY_MODE_DEDICATED")  # fmt: skip
MAX_CUSTOM_TAGS = 45
MAX_SSH_KEYS = 10
_ZONE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:instance-profile/[\w+=,.@/-]+$")
_IMAGE = re.compile(
    r"^(?:(?P<registry>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d+)?)/)?"
    r"(?P<repository>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
#: Docker's rule for a tag (ASCII word characters, as in Docker's reference grammar), said in words below.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
TAG_RULE = "1 to 128 letters (A-Z, a-z), digits, _ . or -, not starting with . or -"
_TAG_KEY = re.compile(r"^[A-Za-z0-9 +\-=._:/@]{1,127}$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9 +\-=._:/@]{0,255}$")
_PLACEHOLDER = re.compile(r"<[^<>]+>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The longest image name (registry and repository) Docker accepts.
_IMAGE_NAME_MAX = 255
#: How much of a long string value a problem shows.
_SHOWN_CHARS = 120
_INIT_SCRIPT_PREFIXES = (("s3://", "s3"), ("dbfs:/", "dbfs"), ("/Volumes/", "volumes"),
                         ("/Workspace/", "workspace"), ("file:/", "file"))  # fmt: skip
# Azure's and Google's storage are API fields too, but no AWS cluster reads an init script from them.
_INIT_SCRIPT_KINDS = tuple(kind for kind in INIT_SCRIPT_DESTINATIONS if kind not in ("abfss", "gcs"))
#: Where a field the plugin does not know yet goes (the builder's and the operator's parameter).
EXTRA_FIELDS_PARAM = "extra_api_fields"


def problem(field: str, value: Any, allowed: str) -> SpecProblem:
    """A problem as the user will read it (in the task log and the exception): the value of a field named
    like a secret, and every secret inside any other value, shown as ``***``; a long string cut short."""
    return SpecProblem(field, _short(redact_field(field, value)), allowed)


def problems_line(subject: str, problems: Sequence[SpecProblem]) -> str:
    """Every problem on one line, as the task log and the task's exception show it, so the line reads whole
    on its own: ``<subject>: <field>: got <value>; allowed: <what>``, numbered ``[1] ... [2] ...`` when
    there are several."""
    shown = [str(item) for item in problems]
    if len(shown) == 1:
        text = f"{subject}: {shown[0]}"
    else:
        text = f"{subject} ({len(shown)} problems): " + " ".join(
            f"[{number}] {item}" for number, item in enumerate(shown, start=1)
        )
    # A value's repr is one line already; an allowed text quoting an error might not be.
    return " ".join(text.splitlines())


def nearest(key: object, known: Iterable[str]) -> str | None:
    """The known field ``key`` most likely meant (a typo, the wrong case, or a field's name cut short such
    as ``min`` for ``min_workers``), or None when none is close."""
    by_lower = {name.lower(): name for name in known}
    typed = str(key).lower()
    close = difflib.get_close_matches(typed, list(by_lower), n=1)
    if not close:
        close = [name for name in by_lower if typed and name.startswith(typed)]
    return by_lower[close[0]] if len(close) == 1 else None


def unknown_key(path: str, key: object, value: Any, known: Sequence[str], where: str = "") -> SpecProblem:
    """The problem of ``key`` at ``path``, unknown to the API in the object ``where`` (the top level of a
    create body when empty): the known field nearest to it, or, when none is close, the fields there are.

    Its value is shown as ``***`` when the key may have meant a secret's (a ``pasword``) or sits under an
    auth object, where every value is a credential: the secret rule goes by the key's name, and a typo'd
    name is not one it knows.
    """
    meant = nearest(key, known)
    secret = is_secret_key(meant) or re.search(r"(?:^|[\W_])auth$", where.rsplit(".", 1)[-1]) is not None
    shown = REDACTED if secret and value not in (None, "") else value
    if not where and key == "libraries":
        # The Libraries API installs them, not clusters/create: the operator has a parameter for it.
        return problem(path, value, "not a Clusters API create field: give it as the operator's libraries")
    if not where:
        allowed = "a Clusters API create field"
        hint = f": did you mean {meant!r}?" if meant else (
            f" ({', '.join(known)}); one newer than this plugin goes in {EXTRA_FIELDS_PARAM}")  # fmt: skip
    else:
        allowed = f"a field of {where} in the Clusters API"
        hint = f": did you mean {meant!r}?" if meant else f": one of {', '.join(known)}"
    return problem(path, shown, allowed + hint)


def unknown_keys(value: Any, keys: Keys | list[Keys] | None, path: str) -> list[SpecProblem]:
    """Every key inside ``value``, the value at ``path``, that the API does not know there: ``keys`` is
    what its keys may be (``fields.KNOWN_KEYS[field]``), at any depth. A value of another shape than
    ``keys`` says is the field handlers' to refuse, so it is not looked into here."""
    if isinstance(keys, list):
        if not isinstance(value, list | tuple):
            return []
        return [found for index, entry in enumerate(value) for found in unknown_keys(
            entry, keys[0], f"{path}[{index}]")]  # fmt: skip
    if keys is None or not isinstance(value, Mapping):
        return []
    found: list[SpecProblem] = []
    for key, item in value.items():
        inner = f"{path}.{key}"
        if key in keys:
            found += unknown_keys(item, keys[key], inner)
        else:
            found.append(unknown_key(inner, key, item, list(keys), path))
    return found


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]}... ({len(value)} characters)"
    if isinstance(value, Mapping):
        return {_short(key): _short(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_short(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def _as_int(value: Any) -> int | None:
    """An integer from an int, an integral float, or digits in a string (templated values); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    # More digits than any limit here allows is no number a cluster takes (and int() refuses 4300 digits).
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        return int(value)
    return None


class _Checker:
    """Collects problems while bringing a spec to the API's shape."""

    def __init__(self) -> None:
        self.problems: list[SpecProblem] = []

    def problem(self, field: str, value: Any, allowed: str) -> None:
        self.problems.append(problem(field, value, allowed))

    def integer(self, field: str, value: Any, low: int | None = None, high: int | None = None) -> int | None:
        allowed = "an integer" + (f" from {low}" if low is not None else "") + (f" to {high}" if high else "")
        number = _as_int(value)
        if number is None or (low is not None and number < low) or (high is not None and number > high):
            self.problem(field, value, allowed)
            return None
        return number

    def boolean(self, field: str, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        self.problem(field, value, "true or false")
        return None

    def string(self, field: str, value: Any) -> str | None:
        if isinstance(value, str) and value.strip():
            if _PLACEHOLDER.search(value):
                self.problem(field, value, "a real value: fill in the <...> placeholder")
                return None
            if _CONTROL.search(value.strip()):
                self.problem(field, value, "a string without control characters (newline, tab, NUL, ...)")
                return None
            return value.strip()
        self.problem(field, value, "a non-empty string")
        return None

    def enum(self, field: str, value: Any, allowed: tuple[str, ...]) -> str | None:
        text = str(value).strip().upper() if isinstance(value, str) else value
        if text not in allowed:
            self.problem(field, value, "one of " + ", ".join(allowed))
            return None
        return str(text)

    def string_map(self, field: str, value: Any) -> dict[str, str] | None:
        if not isinstance(value, Mapping):
            self.problem(field, value, "an object of string keys and values")
            return None
        out: dict[str, str] = {}
        for key, item in value.items():
            if "\x00" in str(key) or (isinstance(item, str) and "\x00" in item):
                # A NUL cannot reach a JVM setting or an environment variable.
                self.problem(f"{field}.{key}", item, "a key and value without NUL characters")
            elif isinstance(item, bool):
                out[str(key)] = "true" if item else "false"
            elif isinstance(item, str | int | float):
                out[str(key)] = str(item)
            else:
                self.problem(f"{field}.{key}", item, "a string (or a number/boolean, sent as text)")
        return out


def validate_cluster_spec(spec: Mapping[str, Any], *, source: str = "") -> dict[str, Any]:
    """The spec in the API's shape and types; ``SpecError`` listing every problem otherwise.

    ``source`` names where the spec's own keys came from (``cluster_json``): an unknown one is named
    ``cluster_json.<key>``, a key inside a field by the field's path (``aws_attributes.<key>``).
    """
    check = _Checker()
    out: dict[str, Any] = {}
    given = {key: value for key, value in copy.deepcopy(dict(spec)).items() if value is not None}
    for name, value in given.items():
        if name not in KNOWN_KEYS:
            check.problems.append(
                unknown_key(f"{source}.{name}" if source else name, name, value, list(KNOWN_KEYS))
            )
            continue
        inside = unknown_keys(value, KNOWN_KEYS[name], name)
        check.problems += inside
        if inside and (CREATE_FIELDS.get(name) or JSON_ONLY_FIELDS.get(name)) is Kind.OBJECT:
            # Its handler reads the object whole, so its other problems would mostly echo the typo (a
            # destination "missing" beside a "destnation") and bury it. (aws_attributes is read key by key.)
            continue
        handler = _FIELD_HANDLERS.get(name)
        if handler is None:
            # Create fields this client does not model (newer API additions) pass through untouched.
            out[name] = value
            continue
        result = handler(check, name, value)
        if result is not None:
            out[name] = result
    _whole_rules(check, given, out)
    if check.problems:
        raise SpecError(check.problems)
    return out


def _whole_rules(check: _Checker, given: Mapping[str, Any], out: dict[str, Any]) -> None:
    if "spark_version" not in given:
        check.problem("spark_version", None, "a Databricks runtime key such as 15.4.x-scala2.12 (required)")
    if "num_workers" in given and "autoscale" in given:
        check.problem("num_workers", given["num_workers"], "either num_workers or autoscale, not both")
    elif "num_workers" not in given and "autoscale" not in given:
        check.problem("num_workers", None, "num_workers, or autoscale {min_workers, max_workers} (required)")
    if "instance_pool_id" in given and "node_type_id" in given:
        check.problem("node_type_id", given["node_type_id"], "nothing when instance_pool_id is given")
    elif "instance_pool_id" not in given and "node_type_id" not in given:
        check.problem("node_type_id", None, "an instance type such as i3.xlarge, or an instance_pool_id")
    s3_logs = (out.get("cluster_log_conf") or {}).get("s3")
    if s3_logs is not None and not (s3_logs.get("region") or s3_logs.get("endpoint")):
        zone = str((out.get("aws_attributes") or {}).get("zone_id", ""))
        if _ZONE.fullmatch(zone):
            s3_logs["region"] = zone[:-1]
        else:
            check.problem(
                "cluster_log_conf.s3.region",
                None,
                "the bucket's region: give cluster_log_conf as {s3: {destination, region}}, "
                "or an aws_attributes.zone_id to take the region from",
            )
    for flexibility in FLEXIBLE_NODE_TYPES:
        named, primary = primary_node_type(out, flexibility)
        if primary is None or flexibility not in out:  # nothing to repeat, or refused already
            continue
        # Read as given, so that an alternate is named by its place in the user's own list.
        alternates = given[flexibility].get("alternate_node_type_ids")
        for index, alternate in enumerate(alternates if isinstance(alternates, list | tuple) else ()):
            if isinstance(alternate, str) and alternate.strip() == primary:
                check.problem(f"{flexibility}.alternate_node_type_ids[{index}]", alternate,
                              f"a node type other than {named}: an alternate stands in for it")  # fmt: skip
    tags = out.get("custom_tags") or {}
    if len(tags) > MAX_CUSTOM_TAGS:
        check.problem(
            "custom_tags",
            f"{len(tags)} tags",
            f"at most {MAX_CUSTOM_TAGS} tags, the 4 Airflow tags included",
        )


def primary_node_type(spec: Mapping[str, Any], flexibility: str) -> tuple[str, Any]:
    """The field naming the node type that the alternates of ``flexibility`` stand in for (said so that
    the user sees which it is), and that node type in ``spec`` (None when it has none): the driver's is
    ``node_type_id`` when no ``driver_node_type_id`` is given."""
    field = FLEXIBLE_NODE_TYPES[flexibility]
    if spec.get(field) is None and field != "node_type_id":
        return f"node_type_id (the driver's, as no {field} is given)", spec.get("node_type_id")
    return field, spec.get(field)


def _int_field(low: int | None = None, high: int | None = None) -> Callable[[_Checker, str, Any], Any]:
    return lambda check, name, value: check.integer(name, value, low, high)


def _bool_field(check: _Checker, name: str, value: Any) -> Any:
    return check.boolean(name, value)


def _string_field(check: _Checker, name: str, value: Any) -> Any:
    return check.string(name, value)


def _autotermination(check: _Checker, name: str, value: Any) -> Any:
    minutes = check.integer(name, value, 0, 10000)
    if minutes is not None and 0 < minutes < 10:
        check.problem(name, value, "0 (never) or 10 to 10000 minutes")
        return None
    return minutes


def _autoscale(check: _Checker, name: str, value: Any) -> Any:
    low: Any
    high: Any
    if isinstance(value, str):
        parts = re.split(r"\s*(?:,|\.\.|-)\s*", value.strip().strip("()[]"))
        value = parts if len(parts) == 2 else value
    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = value
    elif isinstance(value, Mapping) and set(value) <= {"min_workers", "max_workers"}:
        low, high = value.get("min_workers"), value.get("max_workers")
    else:
        check.problem(name, value, '{"min_workers": a, "max_workers": b}, (a, b) or "a,b"')
        return None
    low_n = check.integer(f"{name}.min_workers", low, 0)
    high_n = check.integer(f"{name}.max_workers", high, 1)
    if low_n is None or high_n is None:
        return None
    if high_n <= low_n:
        check.problem(f"{name}.max_workers", high, f"greater than min_workers ({low_n})")
        return None
    return {"min_workers": low_n, "max_workers": high_n}


def _string_map_field(check: _Checker, name: str, value: Any) -> Any:
    return check.string_map(name, value)


def _custom_tags(check: _Checker, name: str, value: Any) -> Any:
    tags = check.string_map(name, value)
    if tags is None:
        return None
    for key, item in tags.items():
        if not _TAG_KEY.fullmatch(key):
            check.problem(
                f"{name}.{key}", key, "a tag key of 1..127 letters, digits, spaces or + - = . _ : / @"
            )
        if not _TAG_VALUE.fullmatch(item):
            check.problem(
                f"{name}.{key}", item, "a tag value of 0..255 letters, digits, spaces or + - = . _ : / @"
            )
    return tags


def _aws_attributes(check: _Checker, name: str, value: Any) -> Any:
    if not isinstance(value, Mapping):
        check.problem(name, value, "an object of AWS attributes")
        return None
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = f"{name}.{key}"
        if item is None:
            continue
        if key == "availability":
            out[key] = check.enum(field, item, AVAILABILITIES)
        elif key == "ebs_volume_type":
            out[key] = check.enum(field, item, EBS_TYPES)
        elif key == "zone_id":
            zone = str(item).strip()
            if zone == "auto" or _ZONE.fullmatch(zone):
                out[key] = zone
            else:
                check.problem(field, item, "auto, or an availability zone name such as ap-southeast-1c")
        elif key == "instance_profile_arn":
            arn = str(item).strip()
            if _PLACEHOLDER.search(arn):
                check.problem(field, item, "a real ARN: fill in the <...> placeholder (the AWS account id)")
            elif _ARN.fullmatch(arn):
                out[key] = arn
            else:
                check.problem(field, item, "an ARN such as arn:aws:iam::123456789012:instance-profile/name")
        elif key == "first_on_demand":
            out[key] = check.integer(field, item, 0)
        elif key == "spot_bid_price_percent":
            out[key] = check.integer(field, item, 1, 10000)
        elif key == "ebs_volume_count":
            out[key] = check.integer(field, item, 0, 10)
        elif key in AWS_INT_FIELDS:
            out[key] = check.integer(field, item, 0)
        else:
            out[key] = item
    size, count = out.get("ebs_volume_size"), out.get("ebs_volume_count")
    if size is not None and count:
        low = 500 if out.get("ebs_volume_type") == "THROUGHPUT_OPTIMIZED_HDD" else 100
        if not low <= size <= 4096:
            check.problem(f"{name}.ebs_volume_size", size, f"{low} to 4096 GiB for this volume type")
    return {key: item for key, item in out.items() if item is not None}


_DOCKER_IMAGE_FORMS = 'an image URL, or {"url": ..., "basic_auth": {"username": ..., "password": ...}}'


def _docker_image(check: _Checker, name: str, value: Any) -> Any:
    image = {"url": value} if isinstance(value, str) else value
    if not isinstance(image, Mapping) or not isinstance(image.get("url"), str):
        check.problem(name, value, _DOCKER_IMAGE_FORMS + " (keys in lower case)")
        return None
    url = image["url"].strip()
    reference = _IMAGE.fullmatch(url)
    if _PLACEHOLDER.search(url):
        check.problem(f"{name}.url", url, "a real image: fill in the <...> placeholder (the AWS account id)")
    elif _bad_tag(url):
        check.problem(f"{name}.url", url, f"a tag (after the ':') of {TAG_RULE}")
    elif reference is None or reference.end("repository") > _IMAGE_NAME_MAX:
        check.problem(f"{name}.url", url, "an image reference such as 123456789012.dkr.ecr.<region>."
                      f"amazonaws.com/repo:tag or repo@sha256:<digest>, its name at most {_IMAGE_NAME_MAX} "
                      "characters")  # fmt: skip
    out: dict[str, Any] = {"url": url}
    auth = image.get("basic_auth")
    if auth is not None:
        if not isinstance(auth, Mapping) or not auth.get("username") or not auth.get("password"):
            check.problem(f"{name}.basic_auth", auth, "an object with username and password (lower case)")
        else:
            out["basic_auth"] = {"username": str(auth["username"]), "password": str(auth["password"])}
    return out


def _bad_tag(url: str) -> bool:
    """Whether an image reference has a tag that breaks Docker's rule, so the problem can say what is wrong
    with it rather than only that the reference is bad."""
    name = url.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]  # a registry's ":port" comes before the first "/"
    return ":" in last and not _TAG.fullmatch(last.split(":", 1)[1])


def _init_scripts(check: _Checker, name: str, value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        check.problem(
            name, value, "a list of script paths (s3://, dbfs:/, /Volumes/, /Workspace/) or objects"
        )
        return None
    out: list[dict[str, Any]] = []
    for index, script in enumerate(value):
        field = f"{name}[{index}]"
        if isinstance(script, str):
            kind = next((k for prefix, k in _INIT_SCRIPT_PREFIXES if script.startswith(prefix)), None)
            if kind is None:
                check.problem(
                    field, script, "a path starting with s3://, dbfs:/, /Volumes/, /Workspace/ or file:/"
                )
                continue
            out.append({kind: {"destination": script}})
        elif (
            isinstance(script, Mapping)
            and len(script) == 1
            and next(iter(script)) in _INIT_SCRIPT_KINDS
            and isinstance(next(iter(script.values())), Mapping)
            and next(iter(script.values())).get("destination")
        ):
            out.append(copy.deepcopy(dict(script)))
        else:
            check.problem(field, script, "a path, or one of {kind: {destination}} with kind " + ", ".join(
                _INIT_SCRIPT_KINDS))  # fmt: skip
    return out


def _cluster_log_conf(check: _Checker, name: str, value: Any) -> Any:
    if isinstance(value, str):
        if value.startswith("s3://"):
            return {"s3": {"destination": value}}
        if value.startswith("dbfs:/"):
            return {"dbfs": {"destination": value}}
        if value.startswith("/Volumes/"):
            return {"volumes": {"destination": value}}
        check.problem(name, value, "an s3://, dbfs:/ or /Volumes/ destination, or the API object")
        return None
    if not isinstance(value, Mapping):
        check.problem(name, value, "an s3://, dbfs:/ or /Volumes/ destination, or the API object")
        return None
    kinds = [kind for kind in LOG_DESTINATIONS if value.get(kind) is not None]
    if len(kinds) != 1 or not isinstance(value[kinds[0]], Mapping) or not value[kinds[0]].get("destination"):
        check.problem(name, value, "exactly one of dbfs, s3 or volumes, each with a destination")
        return None
    return copy.deepcopy(dict(value))


_FLEXIBILITY_FORM = '{"alternate_node_type_ids": ["r5.xlarge", ...]}'


def _node_type_flexibility(check: _Checker, name: str, value: Any) -> Any:
    """A ``NodeTypeFlexibility`` object: its keys the API's (named with the nearest one when not), and its
    alternates a list of distinct node type ids. Which node types a workspace offers, and whether each
    is the size of the one it stands in for, pre-flight's ``node_types`` check looks up."""
    if not isinstance(value, Mapping):
        check.problem(name, value, f"an object such as {_FLEXIBILITY_FORM}")
        return None
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = f"{name}.{key}"
        if key not in NODE_TYPE_FLEXIBILITY_FIELDS:
            check.problems.append(unknown_key(field, key, item, NODE_TYPE_FLEXIBILITY_FIELDS, name))
        elif item is None:
            continue
        elif key == "alternate_node_type_ids":
            out[key] = _alternate_node_types(check, field, item)
        else:
            out[key] = check.string(field, item)
    return {key: item for key, item in out.items() if item is not None}


def _alternate_node_types(check: _Checker, field: str, value: Any) -> list[str] | None:
    if not isinstance(value, list | tuple):
        check.problem(field, value, "a list of node type ids such as ['r5.xlarge', 'r5a.xlarge']")
        return None
    out: list[str] = []
    first: dict[str, int] = {}
    for index, item in enumerate(value):
        node_type = check.string(f"{field}[{index}]", item)
        if node_type is None:
            continue
        if node_type in first:
            check.problem(f"{field}[{index}]", item,
                          f"each node type once (this one is at [{first[node_type]}] too)")  # fmt: skip
            continue
        first[node_type] = index
        out.append(node_type)
    return out


def _ssh_keys(check: _Checker, name: str, value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(isinstance(key, str) for key in value):
        check.problem(name, value, "a list of public key strings")
        return None
    if len(value) > MAX_SSH_KEYS:
        check.problem(name, f"{len(value)} keys", f"at most {MAX_SSH_KEYS} keys")
        return None
    return list(value)


def _idempotency_token(check: _Checker, name: str, value: Any) -> Any:
    # A token given in the DAG would be the same for every run: a later run's create would be answered
    # with an earlier run's live cluster.
    check.problem(
        name,
        value,
        "nothing: the create operator sends its own, one per task instance (dag_id, task_id, run_id, "
        "map_index), so that a create sent again after a lost answer is answered with the cluster it made",
    )


def _enum_field(allowed: tuple[str, ...]) -> Callable[[_Checker, str, Any], Any]:
    return lambda check, name, value: check.enum(name, value, allowed)


_FIELD_HANDLERS: dict[str, Callable[[_Checker, str, Any], Any]] = {
    **{name: _string_field for name in STRING_FIELDS},
    "num_workers": _int_field(0),
    "autotermination_minutes": _autotermination,
    **{name: _bool_field for name in BOOL_FIELDS},
    "runtime_engine": _enum_field(RUNTIME_ENGINES),
    "data_security_mode": _enum_field(DATA_SECURITY_MODES),
    "autoscale": _autoscale,
    "spark_conf": _string_map_field,
    "spark_env_vars": _string_map_field,
    "custom_tags": _custom_tags,
    "aws_attributes": _aws_attributes,
    "docker_image": _docker_image,
    "init_scripts": _init_scripts,
    "cluster_log_conf": _cluster_log_conf,
    "ssh_public_keys": _ssh_keys,
    **{name: _node_type_flexibility for name in JSON_ONLY_FIELDS},
    "idempotency_token": _idempotency_token,
}
