"""What a request carried, as fingerprints: the request log keeps no value a client sent, yet a test can
ask whether a given secret reached a given endpoint.

A fingerprint is the first 16 hex digits of a value's SHA-256. The values are every header's (an
``Authorization`` header's credential on its own, a Basic one as its user and its password), every
query parameter's, and every text in the body (a JSON document's strings at any depth, or a form's
values). A multipart body (a DBFS upload) is not read. The fingerprints are unsalted: enough to keep
random tokens out of the log, not to hide a short password from someone who can read it and guess (the
log is a loopback test tool's).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl


def fingerprint(value: str) -> str:
    """The fingerprint the request log keeps for ``value``."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _credential(value: str) -> Iterator[str]:
    scheme, _, credential = value.partition(" ")
    yield credential
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return
        yield user
        yield password


def _texts(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for key, value in document.items():
            yield str(key)
            yield from _texts(value)
    elif isinstance(document, list):
        for item in document:
            yield from _texts(item)


def _body_texts(body: bytes, content_type: str) -> Iterator[str]:
    if not body or content_type.startswith("multipart/"):
        return
    text = body.decode("utf-8", "replace")
    try:
        yield from _texts(json.loads(text))
    except ValueError:
        yield from (value for _, value in parse_qsl(text))


def sent_fingerprints(headers: Iterable[tuple[bytes, bytes]], query: bytes, body: bytes | None) -> list[str]:
    """The fingerprints of what one request carried (``body`` None: it was not read)."""
    values: list[str] = []
    content_type = ""
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        values.append(value)
        if name == "authorization":
            values.extend(_credential(value))
        elif name == "content-type":
            content_type = value.lower()
    values.extend(value for _, value in parse_qsl(query.decode("latin-1")))
    if body is not None:
        values.extend(_body_texts(body, content_type))
    return sorted({fingerprint(value) for value in values if value})
