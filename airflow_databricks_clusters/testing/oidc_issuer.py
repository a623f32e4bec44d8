"""An OIDC issuer for tests: an RSA key of its own, its JWKS, and RS256 tokens it signs.

A test of a federated connection trusts the issuer in the emulator (``Emulator.add_federation_policy``
with ``issuer.policy(...)``) and hands its tokens to the hook (through a ``federated_token_provider``, a
projected-volume file, or an STS stand-in). The tokens are real signed JWTs, verified by the emulator as
a workspace verifies them: nothing about the exchange is mocked.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any


class OidcIssuer:
    """Signs tokens as ``url`` (the ``iss`` claim) with a 2048-bit RSA key made for this issuer."""

    def __init__(self, url: str = "https://issuer.example.test", *, key_id: str | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.url = url
        self.key_id = key_id or uuid.uuid4().hex[:12]
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks_json(self) -> str:
        """The issuer's public keys as a JWKS text, what a federation policy's ``jwks_json`` holds."""
        from jwt.algorithms import RSAAlgorithm

        public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        return json.dumps({"keys": [{**public, "kid": self.key_id, "use": "sig", "alg": "RS256"}]})

    def policy(
        self, subject: str, *, audience: str = "databricks", service_principal: str | None = None
    ) -> dict[str, Any]:
        """The keyword arguments of ``Emulator.add_federation_policy`` that trust this issuer's tokens for
        ``subject`` and ``audience``."""
        return {
            "issuer": self.url,
            "audiences": [audience],
            "subject": subject,
            "jwks_json": self.jwks_json(),
            "service_principal": service_principal,
        }

    def token(
        self,
        subject: str,
        *,
        audience: str | list[str] = "databricks",
        lifetime_seconds: float = 300,
        issued_at: float | None = None,
        **claims: Any,
    ) -> str:
        """A signed token for ``subject``; ``issued_at`` (epoch seconds, default now) and a negative or
        short ``lifetime_seconds`` make an expired one without waiting. A claim given as None is left out
        (``exp=None``: a token without expiry)."""
        import jwt

        now = time.time() if issued_at is None else issued_at
        payload = {
            "iss": self.url,
            "sub": subject,
            "aud": audience,
            "iat": int(now),
            "exp": int(now + lifetime_seconds),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        present = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(present, self._key, algorithm="RS256", headers={"kid": self.key_id})
