"""A forward HTTP proxy on loopback, standing in for a deployment's egress proxy (none runs here).

It takes absolute-form requests (``GET http://host:port/path``, what a client sends a proxy for a plain
http URL), records each one's method, URL and whether it carried credentials, and forwards it to its
host. Plain http only: no CONNECT tunnel (the emulator speaks http).
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tests.stand_in_server import StandInServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


class ForwardProxy(StandInServer):
    """``with ForwardProxy() as proxy``: ``proxy.url`` to configure, ``proxy.seen`` what it forwarded."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []
        self.url = f"http://127.0.0.1:{self.port}"

    def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        target = urlsplit(path)
        self.seen.append({"method": method, "url": path, "authorized": "Authorization" in headers})
        sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        relative = target.path + (f"?{target.query}" if target.query else "")
        try:
            upstream.request(method, relative, body=body or None, headers=sent)
            answer = upstream.getresponse()
            content = answer.read()
        finally:
            upstream.close()
        kept = {k: v for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}}
        return answer.status, kept, content

    def paths(self) -> list[str]:
        return [urlsplit(entry["url"]).path for entry in self.seen]
