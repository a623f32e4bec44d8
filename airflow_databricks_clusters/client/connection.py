"""An Airflow ``databricks`` connection read exactly as the official provider reads it. Pure.

The host is the extra ``host`` if there is one, else the connection's host, with any ``https://`` (and a
port after it) written in it dropped (the provider keeps only a URL's host name); the URL scheme is the
connection's ``schema`` (default https) and its ``port`` is appended. So one connection reaches the same
workspace URL from these operators and from the provider's. Its credential is decided in the provider's
order too (``_credentials``): a token (extra ``token``, or a password without a login), OAuth
machine-to-machine (client id / secret in login / password, extra ``service_principal_oauth: true``), OIDC
token federation (``client/federation.py``), or HTTP Basic (login and password); the provider's Azure
forms are refused, never read as one of these. Plain HTTP is refused, so a token never crosses a
network in clear text, except to a loopback host or to the one host the extra ``allow_plain_http_host``
names (an emulator in a docker network).

The host must be a plain host name or IP address (``dbc-1234.cloud.databricks.com``, ``127.0.0.1:8765``,
``[::1]``), optionally behind ``https://`` or ``http://``. Anything else (user info before ``@``, a
backslash, a path, query or fragment, whitespace or control characters) is refused before any request:
HTTP clients disagree on which host such a text names, so the token could go to another host than the
one the guard approved. The base URL is built once, here, from the parts that passed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_databricks_clusters.client.federation import Federation, FederationProblem, federation
from airflow_databricks_clusters.errors import DatabricksClustersError

LOOPBACK_NAMES = frozenset({"localhost"})
ALLOWED_HOSTS = (
    "a host name or IP address with an optional :port (dbc-1234.cloud.databricks.com, 127.0.0.1:8765, "
    "[::1]), optionally behind https:// or http://"
)
#: A URL scheme written in the host field, as the provider drops it.
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
#: A host name (letters, digits, "-" and "_" in dot-separated labels) or a bracketed IPv6 address, then an
#: optional port. ASCII only: an internationalised name is written in its xn-- form.
_HOST_PORT = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_.-]+))(?::(?P<port>[0-9]+))?")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


class ConnectionProblem(DatabricksClustersError, ValueError):
    """The connection cannot be used: names the field and what it allows."""


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the workspace is and how to authenticate. ``repr`` never shows a secret."""

    base_url: str
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    #: The extra ``proxies`` (``{"http": url, "https": url}``), as the provider reads it; a proxy URL may
    #: hold a password, so it is never shown.
    proxies: Mapping[str, str] | None = field(default=None, repr=False)
    #: OIDC token federation: where the subject token comes from (``client/federation.py``).
    federation: Federation | None = None

    @property
    def uses_oauth(self) -> bool:
        """An OAuth service principal (client credentials)."""
        return self.client_id is not None

    @property
    def mints_tokens(self) -> bool:
        """Whether the token sent is minted at ``/oidc/v1/token`` (OAuth or federation), and so cached."""
        return self.uses_oauth or self.federation is not None

    @property
    def uses_basic(self) -> bool:
        """HTTP Basic with ``login`` and ``password`` (a connection with both and no token form)."""
        return self.login is not None and self.token is None and not self.mints_tokens


def _is_loopback(hostname: str) -> bool:
    if hostname in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _extra(conn: Any) -> Mapping[str, Any]:
    extra = getattr(conn, "extra_dejson", None)
    if isinstance(extra, Mapping):
        return extra
    raw = getattr(conn, "extra", None)
    return json.loads(raw) if raw else {}


@dataclass(frozen=True)
class HostPort:
    """A host field that passed: the host name (an IPv6 address in brackets) and the port written in it."""

    host: str
    port: int | None

    @property
    def hostname(self) -> str:
        """The host as name resolution sees it: lower case, an IPv6 address without brackets."""
        return self.host.strip("[]").lower()


class NotAPlainHost(ValueError):
    """A host field that is not a plain host name; the message says what it holds instead."""


def _not_plain_because(text: str) -> str | None:
    """What in ``text`` makes it more than a host (and port), in the terms a person fixing it needs."""
    if any(char.isspace() for char in text):
        return "it holds whitespace"
    if any(not char.isprintable() for char in text):
        return "it holds control characters"
    if "@" in text:
        return "it holds user info before '@'"
    if "\\" in text:
        return "it holds a backslash"
    if any(char in text for char in "/?#"):
        return "it holds a path, query or fragment after the host"
    return None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise NotAPlainHost(f"its port {port} is not 1 to 65535")
    return port


def parse_host(text: str) -> HostPort:
    """The host (and port) of a connection's host field, read as the official provider reads it: a URL
    keeps only its host name (its scheme and port are not the connection's), other text stays as it is.

    Raises ``NotAPlainHost`` for anything but a plain host: which host such a text names depends on who
    parses it.
    """
    text = text.strip().rstrip("/")
    scheme = _SCHEME.match(text)
    rest = text[scheme.end() :] if scheme else text
    if scheme and scheme["scheme"].lower() not in ("http", "https"):
        raise NotAPlainHost(f"its URL scheme {scheme['scheme']!r} is not https or http")
    because = _not_plain_because(rest)
    if because:
        raise NotAPlainHost(because)
    match = _HOST_PORT.fullmatch(rest)
    if match is None:
        if _is_ipv6(rest):
            raise NotAPlainHost(f"an IPv6 address goes in brackets: [{rest}]")
        raise NotAPlainHost("it is not a host name")
    if match["ipv6"]:
        try:
            address = ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            raise NotAPlainHost("it is not a host name (nor an IPv6 address)") from None
        host = f"[{address.compressed}]"
    else:
        host = match["name"]
        labels = host.removesuffix(".").split(".")
        if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise NotAPlainHost("it is not a host name")
    port = _port(match["port"]) if match["port"] else None
    if scheme:
        # The provider keeps a URL's host name only, lower-cased as urllib gives it.
        return HostPort(host.lower(), None)
    return HostPort(host, port)


def _shown(host: str) -> str:
    """The host field for an error message: anything before an '@' may be a password, so it is not shown."""
    return repr("***@" + host.rsplit("@", 1)[1] if "@" in host else host)


def _connection_port(conn_id: str, field_name: str, raw: str, parsed: HostPort, port: Any) -> int | None:
    """The port of the URL: the connection's, or one written in the host field, never both."""
    if not port:
        # As the provider: no port, or port 0, puts none in the URL.
        return parsed.port
    if parsed.port is not None:
        raise ConnectionProblem(
            f"Connection {conn_id}: {field_name} {_shown(raw)} holds a port and port is {port} too; "
            "allowed: the port in one of them"
        )
    try:
        return _port(str(port))
    except (ValueError, NotAPlainHost):
        raise ConnectionProblem(f"Connection {conn_id}: port {port}; allowed: 1 to 65535") from None


def settings_from_connection(conn: Any) -> ConnectionSettings:
    """Read host, scheme, port and credentials from an Airflow ``Connection``."""
    conn_id = getattr(conn, "conn_id", "?")
    extra = _extra(conn)
    field_name, raw = (
        ("extra host", extra["host"]) if extra.get("host") else ("host", getattr(conn, "host", None))
    )
    raw = str(raw or "")
    if not raw.strip():
        raise ConnectionProblem(
            f"Connection {conn_id}: host is empty; allowed: the workspace host name or URL"
        )
    try:
        parsed = parse_host(raw)
    except NotAPlainHost as err:
        raise ConnectionProblem(
            f"Connection {conn_id}: {field_name} {_shown(raw)} is not a plain host name: {err}; "
            f"allowed: {ALLOWED_HOSTS}"
        ) from None
    scheme = (getattr(conn, "schema", None) or "https").strip().lower()
    if scheme not in ("https", "http"):
        raise ConnectionProblem(f"Connection {conn_id}: schema {scheme!r}; allowed: https, or http")
    hostname = parsed.hostname
    allowed = str(extra.get("allow_plain_http_host") or "").lower()
    if scheme == "http" and not (_is_loopback(hostname) or hostname == allowed):
        raise ConnectionProblem(
            f"Connection {conn_id}: plain http to {hostname}; allowed: https, or http to a loopback host or "
            "to the host named in extra allow_plain_http_host (a local emulator only)"
        )
    port = _connection_port(conn_id, field_name, raw, parsed, getattr(conn, "port", None))
    # The one place the URL is made: both HTTP clients are given this, built from the parts that passed.
    base_url = f"{scheme}://{parsed.host}" + (f":{port}" if port else "")
    return ConnectionSettings(
        base_url, proxies=_proxies(conn_id, extra), **_credentials(conn_id, conn, extra)
    )


def _proxies(conn_id: str, extra: Mapping[str, Any]) -> dict[str, str] | None:
    """The extra ``proxies`` checked as the provider checks it: an object of ``http`` and ``https`` proxy
    URLs, each a non-empty text; an empty object is none."""
    proxies = extra.get("proxies")
    if proxies is None:
        return None
    allowed = 'an object {"http": "<proxy URL>", "https": "<proxy URL>"} (either key, non-empty texts)'
    if not isinstance(proxies, Mapping):
        raise ConnectionProblem(
            f"Connection {conn_id}: extra proxies: got a {type(proxies).__name__}; allowed: {allowed}"
        )
    unknown = sorted(set(proxies) - {"http", "https"})
    if unknown:
        raise ConnectionProblem(
            f"Connection {conn_id}: extra proxies: got the key(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    for scheme, url in proxies.items():
        # The value is never shown: a proxy URL may hold a password (and httpx's own refusal of one
        # without a scheme would print it whole).
        if not isinstance(url, str) or not url:
            raise ConnectionProblem(
                f"Connection {conn_id}: extra proxies.{scheme} is not a non-empty text; allowed: {allowed}"
            )
        if not _is_proxy_url(url):
            raise ConnectionProblem(
                f"Connection {conn_id}: extra proxies.{scheme} is not an http:// or https:// URL with a "
                f"host (value not shown: it may hold a password); allowed: {allowed}"
            )
    return dict(proxies) or None


def _is_proxy_url(url: str) -> bool:
    """An ``http://`` or ``https://`` URL naming a host, the proxies both HTTP clients take."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it: a port that is not a number raises ValueError)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


SUPPORTED = (
    "supported: a personal access token (password, or extra token), login and password (HTTP Basic), "
    "an OAuth service principal (login, password, extra service_principal_oauth: true), or OIDC token "
    "federation (extra federated_token_provider, federated_aws or federated_k8s)"
)
#: The forms the official provider reads that this AWS plugin does not, in the provider's order: extra key
#: (or login) -> the form as a person knows it.
_AZURE_FORMS = (
    ("use_azure_managed_identity", "an Azure managed identity (extra use_azure_managed_identity)"),
    ("use_default_azure_credential", "Azure's DefaultAzureCredential (extra use_default_azure_credential)"),
)


def _flag(conn_id: str, extra: Mapping[str, Any], key: str) -> bool:
    """An extra that switches a form on: a JSON boolean (or the text true).

    The provider takes any non-empty text for true, "false" included: other text is refused, not guessed
    (read as false here, it would send the same secret another way than the provider does)."""
    value = extra.get(key, False)
    if isinstance(value, str) and value and value.strip().lower() != "true":
        raise ConnectionProblem(
            f"Connection {conn_id}: extra {key}: got {value!r}; allowed: true or false (JSON booleans)"
        )
    return bool(value)


def _unsupported(conn_id: str, form: str) -> ConnectionProblem:
    return ConnectionProblem(
        f"Connection {conn_id} is {form}, which the official provider reads and this plugin does not "
        f"(nothing was sent); {SUPPORTED}"
    )


def _federation(conn_id: str, source: str, extra: Mapping[str, Any]) -> dict[str, Federation]:
    try:
        return {"federation": federation(source, extra)}
    except FederationProblem as err:
        raise ConnectionProblem(f"Connection {conn_id}: {err}") from None


def _credentials(conn_id: str, conn: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Which credential the connection is, decided in the official provider's order
    (``BaseDatabricksHook._get_token``, then HTTP Basic when that finds no token), so that one connection
    sends the same credential from these operators and from the provider's: an extra ``token``; a password
    without a login; the Azure forms; a service principal; the federation forms (a token provider, AWS,
    Kubernetes); login and password."""
    login, password = getattr(conn, "login", None) or None, getattr(conn, "password", None) or None
    if "token" in extra:
        # Even an empty one ends the provider's search: it then sends login and password.
        if extra["token"]:
            return {"token": str(extra["token"])}
    elif not login and password:
        return {"token": str(password)}
    else:
        if "azure_tenant_id" in extra:
            raise _unsupported(conn_id, "an Azure AD service principal (extra azure_tenant_id)")
        for key, form in _AZURE_FORMS:
            if _flag(conn_id, extra, key):
                raise _unsupported(conn_id, form)
        if _flag(conn_id, extra, "service_principal_oauth"):
            if not login or not password:
                raise ConnectionProblem(
                    f"Connection {conn_id}: service_principal_oauth needs the client id in login and the "
                    "client secret in password"
                )
            return {"client_id": str(login), "client_secret": str(password)}
        if extra.get("federated_token_provider"):
            return _federation(conn_id, "token_provider", extra)
        for source in ("aws", "k8s"):
            if login == f"federated_{source}" or _flag(conn_id, extra, f"federated_{source}"):
                return _federation(conn_id, source, extra)
    if login and password:
        return {"login": str(login), "password": str(password)}
    raise ConnectionProblem(f"Connection {conn_id}: no credentials; {SUPPORTED}")
