"""The plugin's one rule of what a secret is, and hiding it. Pure: no I/O, no Airflow.

A value is a secret when its key is named like one (``is_secret_key``: this plugin's words, and every
name Airflow's own secrets masker hides, the deployment's ``sensitive_var_conn_names`` included), at any
depth, in a structure or in text (JSON, Python or ``key=value``), or when it follows ``Bearer``/``Basic``.
The error snippets of bad answers, the spec errors and the logged spec (``redact_value``,
``redact_field``, ``redact``) and the operators' masking of rendered fields (``secret_values``) all apply
this rule and no other.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

#: What a secret is shown as.
REDACTED = "***"
#: Words that make a key a secret's, anywhere in its name and in any case (``DB_PASSWORD``,
#: ``client_secret``, ``spark.hadoop.fs.s3a.secret.key``, ``Authorization``, ``privateKey``, ...).
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)|secret|token|credential|authori[sz]ation|(?:private|api|access)[_.-]?key"
)
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
#: A key naming an authentication (``auth``, ``basic_auth``): an object under it is judged by its own keys,
#: anything else under it is a credential (``"user:password"``).
_AUTH_KEY = re.compile(r"(?:^|[\W_])auth$", re.IGNORECASE)
#: In text, a key is a run of these; a secret's value follows it after ":" or "=" (see ``_secrets_in``).
_KEY_WORD = re.compile(r"[\w.-]+")
_AFTER_KEY = re.compile(
    r"""["']?\s*[:=]\s*(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|(?:(?:Bearer|Basic)\s+)?[^\s,}&]+)""",
    re.IGNORECASE,
)
_SCHEME_VALUE = re.compile(r"\b(?P<key>Bearer|Basic)\s+(?P<value>[^\s,\"'}&]+)", re.IGNORECASE)


#: The names Airflow's secrets masker hides the values of (its ``DEFAULT_SENSITIVE_FIELDS``): a key that
#: holds one, once lower-cased with every run of non-word characters made "_", is a secret's here too, so
#: this rule hides all that Airflow's hides (``tests/unit/test_redaction.py`` holds it to Airflow's list).
AIRFLOW_SENSITIVE_NAMES = frozenset(
    {
        "access_key", "access_token", "api_key", "apikey", "auth_header", "authorization", "bearer",
        "connection_string", "dsn", "passphrase", "passwd", "password", "private_key", "proxy",
        "proxy_password", "proxies", "secret", "service_account", "service_key", "token", "keyfile_dict",
        "webhook_url",
    }
)  # fmt: skip
_sensitive_names: frozenset[str] = AIRFLOW_SENSITIVE_NAMES
_NON_WORD = re.compile(r"\W+")


def add_secret_names(names: Iterable[str]) -> None:
    """Also take the keys holding any of ``names`` for secrets' (a deployment's ``[core]
    sensitive_var_conn_names``, which Airflow's masker adds to its own list)."""
    global _sensitive_names
    _sensitive_names = _sensitive_names | {name.strip().lower() for name in names if name.strip()}


def is_secret_key(name: object) -> bool:
    """Whether a key (a field, a dict key, a spec field path) names a secret: by this plugin's words, or by
    a name Airflow's masker hides (its defaults and the deployment's, ``add_secret_names``)."""
    if not isinstance(name, str):
        return False
    if _SECRET_KEY.search(name) is not None:
        return True
    normalized = _NON_WORD.sub("_", name.strip().lower())
    return any(sensitive in normalized for sensitive in _sensitive_names)


def structured(text: str) -> Any:
    """The dict or list a text writes as JSON, or as Python (what a template renders a dict into); None
    for any other text."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None


def _secrets_in(text: str) -> Iterator[re.Match[str]]:
    """The value after each secret-like key in ``text`` (group ``value``). Key by key, in one pass: a single
    pattern for "a key holding a secret word" backtracks quadratically over a long word (a 10 KB value)."""
    position = 0
    while (word := _KEY_WORD.search(text, position)) is not None:
        position = word.end()
        if _SECRET_KEY.search(word.group()) and (after := _AFTER_KEY.match(text, position)) is not None:
            yield after
            position = after.end()


def redact(text: str) -> str:
    """``text`` with the value after any secret-like key and any ``Bearer``/``Basic`` credential replaced
    (text that may be cut short or not be JSON at all: an error body, an exception message)."""
    parts, shown_up_to = [], 0
    for found in _secrets_in(text):
        parts += [text[shown_up_to : found.start("value")], REDACTED]
        shown_up_to = found.end("value")
    text = "".join([*parts, text[shown_up_to:]])
    return _SCHEME_VALUE.sub(lambda m: f"{m['key']} {REDACTED}", text)


def _all_secret(name: object, value: Any) -> bool:
    """Whether all of ``value`` is a secret: under a secret's name, or a bare credential under an auth's.
    An empty value is not: "missing" is what a user must be told, and it tells nothing."""
    if value is None or value == "":
        return False
    if is_secret_key(name):
        return True
    bare = not isinstance(value, Mapping | list | tuple)
    return bare and isinstance(name, str) and _AUTH_KEY.search(name) is not None


def redact_field(name: object, value: Any) -> Any:
    """``value`` safe to show under ``name`` (a key, or a field path such as ``docker_image.basic_auth``):
    ``***`` when all of it is a secret, else ``redact_value(value)``."""
    return REDACTED if _all_secret(name, value) else redact_value(value)


def redact_value(value: Any) -> Any:
    """A copy of ``value`` safe to log or show: every secret in it replaced by ``***``, at any depth, in
    dicts, lists, and strings holding JSON, Python or ``key=value`` text. The input is not changed."""
    if isinstance(value, Mapping):
        return {key: redact_field(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [redact_value(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, str):
        parsed = structured(value)
        if parsed is None:
            return redact(value)
        redacted = redact_value(parsed)
        # Text with no secret is shown as it was written, not re-serialised.
        return value if redacted == parsed else json.dumps(redacted)
    return value


def secret_values(value: Any) -> Iterator[str]:
    """Every secret ``redact_value`` would hide in ``value``, as text, for Airflow's masker: it then hides
    each wherever it appears (a log line, a rendered field). Quoted text yields its escaped and plain form."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item) if _all_secret(key, item) else secret_values(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from secret_values(item)
    elif isinstance(value, str):
        parsed = structured(value)
        if parsed is not None:
            yield from secret_values(parsed)
            return
        for found in (*_secrets_in(value), *_SCHEME_VALUE.finditer(value)):
            yield from _unquoted(found["value"])


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _unquoted(text: str) -> Iterator[str]:
    for prefix in ("Bearer ", "Basic "):
        if text[: len(prefix)].lower() == prefix.lower():
            text = text[len(prefix) :].strip()
    if text[:1] in ('"', "'"):
        quote, text = text[0], text[1:]
        text = text[:-1] if text.endswith(quote) and not text.endswith("\\" + quote) else text
        if quote == '"':
            try:
                plain = json.loads(f'"{text}"')
            except ValueError:
                plain = text
            if plain and plain != text:
                yield plain
    if text:
        yield text
