"""An Airflow ``databricks`` connection read exactly as the official provider reads it. Pure.

The host is the extra ``host`` if there is one, else the connection's host, with any scheme or path
written in it dropped (the provider keeps only the host name); the URL scheme is the connection's
``schema`` (default https) and its ``port`` is appended. So one connection reaches the same workspace
URL from these operators and from the provider's. Token in the password or the extra ``token``; OAuth
machine-to-machine with client id / secret in login / password and extra ``service_principal_oauth:
true``. Plain HTTP is refused, so a token never crosses a network in clear text, except to a loopback
host or to the one host the extra ``allow_plain_http_host`` names (an emulator in a docker network).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_databricks_clusters.errors import DatabricksClustersError

LOOPBACK_NAMES = frozenset({"localhost"})


class ConnectionProblem(DatabricksClustersError, ValueError):
    """The connection cannot be used: names the field and what it allows."""


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the workspace is and how to authenticate. ``repr`` never shows a secret."""

    base_url: str
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @property
    def uses_oauth(self) -> bool:
        return self.client_id is not None


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


def _parse_host(host: str) -> str:
    """The host as the official provider keeps it: a URL's host name, or the text as it is."""
    host = host.strip().rstrip("/")
    return urlsplit(host).hostname or host


def settings_from_connection(conn: Any) -> ConnectionSettings:
    """Read host, scheme, port and credentials from an Airflow ``Connection``."""
    conn_id = getattr(conn, "conn_id", "?")
    extra = _extra(conn)
    host = _parse_host(str(extra.get("host") or getattr(conn, "host", None) or ""))
    if not host:
        raise ConnectionProblem(
            f"Connection {conn_id}: host is empty; allowed: the workspace host name or URL"
        )
    scheme = (getattr(conn, "schema", None) or "https").strip().lower()
    # "host:port" written in the host field stays in the URL, as the provider leaves it there.
    hostname = urlsplit(f"//{host}").hostname or host
    if scheme not in ("https", "http"):
        raise ConnectionProblem(f"Connection {conn_id}: schema {scheme!r}; allowed: https, or http")
    if scheme == "http" and not (_is_loopback(hostname) or hostname == extra.get("allow_plain_http_host")):
        raise ConnectionProblem(
            f"Connection {conn_id}: plain http to {hostname}; allowed: https, or http to a loopback host or "
            "to the host named in extra allow_plain_http_host (a local emulator only)"
        )
    port = getattr(conn, "port", None)
    base_url = f"{scheme}://{host}" + (f":{int(port)}" if port else "")
    if str(extra.get("service_principal_oauth", "")).lower() == "true":
        client_id, secret = getattr(conn, "login", None), getattr(conn, "password", None)
        if not client_id or not secret:
            raise ConnectionProblem(
                f"Connection {conn_id}: service_principal_oauth needs the client id in login and the "
                "client secret in password"
            )
        return ConnectionSettings(base_url, client_id=client_id, client_secret=secret)
    token = extra.get("token") or getattr(conn, "password", None)
    if not token:
        raise ConnectionProblem(
            f"Connection {conn_id}: no credentials; allowed: a personal access token in password (or extra "
            "token), or an OAuth service principal (login, password, extra service_principal_oauth: true)"
        )
    return ConnectionSettings(base_url, token=str(token))
