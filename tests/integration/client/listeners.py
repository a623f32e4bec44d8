"""A loopback HTTP(S) server that records every connection it accepts and every request it reads.

For tests that must show what did *not* happen (no connection, no token) or how often something did (one
TLS handshake, not a retry loop), without racing the clock: ``connections_so_far`` makes one more
connection of its own and waits until the server has accepted it. Connections are accepted in the order
they were made, so every connection a client made before that call has been counted by then.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

#: Generous: a busy machine may take a while to schedule the server thread; nothing waits this long
#: unless something is broken.
ACCEPT_BOUND_SECONDS = 60.0


class _Handler(BaseHTTPRequestHandler):
    server: RecordingServer
    answered = 0

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            # The handshake happens here, in the request's thread, not in the server's accept loop.
            self.request.do_handshake()
        super().setup()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.record(self.command, self.path, "Authorization" in self.headers)
        if self.answered and self.server.drop_reused:
            # As a server that closed an idle connection while the request was on its way.
            self.close_connection = True
            return
        self.answered += 1
        body = json.dumps({"cluster_id": "0101-000000-listener", "state": "RUNNING"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class RecordingServer(ThreadingHTTPServer):
    """HTTP on ``127.0.0.1`` (HTTPS given an ``ssl`` server context), answering every request with a
    RUNNING cluster. ``accepted``: the client port of every accepted connection, in order; ``requests``:
    (method, path, whether an Authorization header came) of every request read. Connections are kept
    alive (HTTP/1.1); with ``drop_reused`` the server closes a connection, unanswered, when a second
    request comes on it."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None, *, drop_reused: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.drop_reused = drop_reused
        self.accepted: list[int] = []
        self.requests: list[tuple[str, str, bool]] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self.serve_forever, name="recording-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        with self._changed:
            self.accepted.append(address[1])
            self._changed.notify_all()
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that refuses the certificate aborts the handshake: expected here, not worth a traceback.
        pass

    def record(self, method: str, path: str, authorized: bool) -> None:
        with self._changed:
            self.requests.append((method, path, authorized))

    def connections_so_far(self) -> list[int]:
        """The client ports of every connection made to this server before the call (not counting the
        probe connection this makes to know that all of them have been accepted)."""
        with self._changed:
            # The probe is looked for from here on: an earlier connection may have had its port.
            start = len(self.accepted)
        with socket.create_connection(("127.0.0.1", self.port), timeout=ACCEPT_BOUND_SECONDS) as probe:
            mine = probe.getsockname()[1]
            with self._changed:
                if not self._changed.wait_for(lambda: mine in self.accepted[start:], ACCEPT_BOUND_SECONDS):
                    raise AssertionError(
                        f"the server did not accept a connection in {ACCEPT_BOUND_SECONDS} s"
                    )
                return self.accepted[: self.accepted.index(mine, start)]

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=ACCEPT_BOUND_SECONDS)


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A fresh self-signed certificate for ``host`` (as an IP address SAN) and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)  # datetime.UTC is 3.11+
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
