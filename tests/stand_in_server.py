"""A loopback HTTP(S) server for a test's stand-in of something nothing local serves (STS's
GetWebIdentityToken, a Kubernetes TokenRequest, a deployment's egress proxy): a subclass answers every
request in ``respond``."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

Served = TypeVar("Served", bound="StandInServer")


class StandInServer:
    """``127.0.0.1:<port>``, over TLS when given a server ``tls`` context; every request of any method
    goes to ``respond``. Use as ``with Subclass(...) as server:``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, data = stand_in.respond(self.command, self.path, self.headers, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                sock, address = super().get_request()
                if tls is not None:
                    # The handshake happens in the request's own thread, at its first read: a client that
                    # stalls in it holds up no other.
                    sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, address

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """The answer to one request: status, headers (Content-Length is added), body."""
        raise NotImplementedError

    def __enter__(self: Served) -> Served:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
