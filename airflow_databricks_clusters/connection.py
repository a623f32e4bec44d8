"""An Airflow ``databricks`` connection read exactly as the official provider reads it. Pure.

Host with or without a scheme; without one, the connection's ``schema`` field is the URL scheme (default
https) and its ``port`` is appended. Token in the password or the extra ``token``; OAuth machine-to-machine
with client id / secret in login / password and extra ``service_principal_oauth: true``. Plain HTTP is
refused except to a loopback host (the emulator), so a token never crosses a network in clear text.
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


def settings_from_connection(conn: Any) -> ConnectionSettings:
    """Read host, scheme, port and credentials from an Airflow ``Connection``."""
    conn_id = getattr(conn, "conn_id", "?")
    host = (getattr(conn, "host", None) or "").strip()
    if not host:
        raise ConnectionProblem(
            f"Connection {conn_id}: host is empty; allowed: the workspace host name or URL"
        )
    if "://" in host:
        parts = urlsplit(host)
        scheme, hostname, port = parts.scheme, parts.hostname or "", parts.port
    else:
        scheme = (getattr(conn, "schema", None) or "https").strip().lower()
        hostname, _, port_text = host.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    if getattr(conn, "port", None):
        port = int(conn.port)
    if scheme not in ("https", "http"):
        raise ConnectionProblem(f"Connection {conn_id}: schema {scheme!r}; allowed: https (http to loopback)")
    if scheme == "http" and not _is_loopback(hostname):
        raise ConnectionProblem(
            f"Connection {conn_id}: plain http to {hostname}; allowed: https, or http to a loopback host only"
        )
    netloc = f"[{hostname}]" if ":" in hostname else hostname
    base_url = f"{scheme}://{netloc}" + (f":{port}" if port else "")
    extra = _extra(conn)
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
