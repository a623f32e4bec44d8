"""OAuth machine-to-machine tokens, kept per workspace and client until shortly before they expire. Pure.

One cache serves every hook of a process (``hooks.py`` holds it), so a triggerer with a thousand waits on
one service principal asks the workspace for one token, not one per wait. A token is filed under the
workspace URL, the client id and a digest of the client secret: a hook given another secret never
borrows a token it could not have obtained itself. The clock is the caller's (monotonic seconds).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

#: A token is renewed this long before it expires, so that no request carries one that lapses in flight.
RENEWAL_MARGIN_SECONDS = 60.0
#: The lifetime assumed when the token answer gives none (Databricks' tokens last an hour).
DEFAULT_LIFETIME_SECONDS = 3600.0


@dataclass(frozen=True)
class TokenKey:
    """Whose token: how it is minted (``oauth`` client credentials, or ``federation``), the workspace, the
    client id, and a digest of the secret (never the secret). The kind keeps the two apart: a federation's
    "secret" is a digest of settings anyone can read, which no client secret may stand in for."""

    kind: str
    base_url: str
    client_id: str
    secret_digest: str

    @classmethod
    def of(cls, base_url: str, client_id: str, client_secret: str, *, kind: str = "oauth") -> TokenKey:
        digest = hashlib.sha256(client_secret.encode()).hexdigest()
        return cls(kind, base_url, client_id, digest)


class TokenCache:
    """Tokens by ``TokenKey``; ``get`` answers only one that is not about to expire. Thread-safe: sync
    hooks in a worker's threads share it too."""

    def __init__(self, margin_seconds: float = RENEWAL_MARGIN_SECONDS) -> None:
        self.margin_seconds = margin_seconds
        self._tokens: dict[TokenKey, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: TokenKey, now: float) -> str | None:
        with self._lock:
            held = self._tokens.get(key)
        if held is None or held[1] - self.margin_seconds <= now:
            return None
        return held[0]

    def put(self, key: TokenKey, token: str, expires_in: float | None, now: float) -> None:
        lifetime = DEFAULT_LIFETIME_SECONDS if expires_in is None else float(expires_in)
        with self._lock:
            self._tokens[key] = (token, now + lifetime)

    def forget(self, key: TokenKey, token: str) -> None:
        """Drop ``token`` (the workspace refused it); a newer token filed meanwhile stays."""
        with self._lock:
            if self._tokens.get(key, ("", 0.0))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
