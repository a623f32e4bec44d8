"""OIDC federation policies the workspace trusts, and the RFC 8693 token exchange they allow.

A policy trusts one issuer's tokens for some audiences and one subject, verified with the issuer's public
keys (a JWKS, as ``jwks_json`` in a Databricks policy). A service principal's policy names it
(``service_principal``, its application id): an exchange that sends that ``client_id`` is checked against
it. A policy without one is account-wide: an exchange without ``client_id`` is checked against it, and the
token is the subject's own.

A refused subject token is answered 401 ``invalid_request`` with the reason (the status as Databricks'
own JDBC driver reports a failed exchange, the code RFC 8693 names; the exact text is the emulator's).
Expiry is checked against the real clock, not the emulator's: the subject token's issuer keeps real time,
and a fast-forwarded workspace must still take a token minted a second ago.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, OAuthError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
#: Signatures a workspace verifies with an issuer's public keys; ``none`` and shared-secret HMAC never.
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
#: The algorithms each kind of public key verifies (by prefix): a key is never used with another kind's.
KEY_ALGORITHMS = {"RSA": ("RS", "PS"), "EC": ("ES",)}
POLICY_FIELDS = ("issuer", "audiences", "subject", "subject_claim", "jwks_json", "service_principal")


def _bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def _refused(reason: str) -> OAuthError:
    return OAuthError(401, "invalid_request", f"Token exchange refused: {reason}")


@dataclass(frozen=True)
class FederationPolicy:
    issuer: str
    audiences: tuple[str, ...]
    subject: str
    jwks_json: str
    subject_claim: str = "sub"
    service_principal: str | None = None
    #: ``jwks_json``'s keys, read once when the policy is added (``jwt.PyJWK``).
    keys: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> FederationPolicy:
        """A policy from the control's JSON; ApiError 400 naming the field for anything else."""
        unknown = sorted(set(body) - set(POLICY_FIELDS))
        if unknown:
            raise _bad(f"Unknown field {unknown[0]}: a federation policy takes {', '.join(POLICY_FIELDS)}.")
        for key in ("issuer", "subject", "jwks_json"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise _bad(f"Field {key} must be a non-empty string.")
        audiences = body.get("audiences")
        if not isinstance(audiences, list) or not audiences or not all(isinstance(a, str) for a in audiences):
            raise _bad("Field audiences must be a non-empty list of strings.")
        claim = body.get("subject_claim", "sub")
        principal = body.get("service_principal")
        if not isinstance(claim, str) or not claim:
            raise _bad("Field subject_claim must be a non-empty string (default sub).")
        if principal is not None and (not isinstance(principal, str) or not principal):
            raise _bad("Field service_principal must be an application id (a string), or absent.")
        try:
            keys = json.loads(body["jwks_json"]).get("keys")
        except (ValueError, AttributeError):
            keys = None
        if not isinstance(keys, list) or not keys:
            raise _bad('Field jwks_json must be a JWKS: the JSON text of {"keys": [...]}.')
        return cls(
            body["issuer"], tuple(audiences), body["subject"], body["jwks_json"], claim, principal,
            tuple(_public_key(key, number) for number, key in enumerate(keys, 1)),
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "audiences": list(self.audiences),
            "subject": self.subject,
            "subject_claim": self.subject_claim,
            "service_principal": self.service_principal,
        }


def _public_key(key: Any, number: int) -> Any:
    """One key of a policy's JWKS, read as a public key of its kind; ApiError 400 naming it otherwise."""
    import jwt

    kind = key.get("kty") if isinstance(key, dict) else None
    if kind not in KEY_ALGORITHMS:
        raise _bad(f"Field jwks_json holds a {kind} key; allowed: RSA or EC public keys.")
    try:
        return jwt.PyJWK(key)
    except jwt.PyJWTError as err:
        raise _bad(
            f"Field jwks_json key {key.get('kid') or number} is not a usable {kind} public key: {err}"
        ) from None


class FederationPolicies:
    """The workspace's federation policies (``POST /emulator/federation-policies``), and the exchange."""

    def __init__(self) -> None:
        self._policies: list[FederationPolicy] = []
        self._lock = threading.Lock()

    def add(self, body: Mapping[str, Any]) -> dict[str, Any]:
        policy = FederationPolicy.from_body(body)
        with self._lock:
            self._policies.append(policy)
        return policy.describe()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [policy.describe() for policy in self._policies]

    def clear(self) -> None:
        with self._lock:
            self._policies.clear()

    def principal_for(self, form: Mapping[str, str]) -> str:
        """Who an exchange request's token stands for: the service principal of the policy that trusts
        its subject token, or the subject of an account-wide one. OAuthError when refused."""
        import jwt

        subject_token, client_id = form.get("subject_token"), form.get("client_id") or None
        if not subject_token:
            raise OAuthError(400, "invalid_request", "Missing required parameter: subject_token")
        if form.get("subject_token_type") != JWT_TOKEN_TYPE:
            raise OAuthError(400, "invalid_request", f"subject_token_type must be {JWT_TOKEN_TYPE}")
        try:
            header = jwt.get_unverified_header(subject_token)
            issuer = jwt.decode(subject_token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise _refused("the subject token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise _refused(f"signature algorithm {header.get('alg')!r} is not accepted")
        with self._lock:
            policies = [p for p in self._policies if p.issuer == issuer and p.service_principal == client_id]
        whose = f"service principal {client_id}" if client_id else "the account"
        if not policies:
            raise _refused(f"no federation policy of {whose} trusts issuer {issuer!r}")
        reasons = []
        for policy in policies:
            try:
                claims = self._verified(subject_token, header, policy)
            except jwt.PyJWTError as err:
                reasons.append(str(err))
                continue
            if claims.get(policy.subject_claim) != policy.subject:
                reasons.append(f"claim {policy.subject_claim} does not match the policy's subject")
                continue
            return client_id or policy.subject
        raise _refused("; ".join(dict.fromkeys(reasons)))

    @staticmethod
    def _verified(token: str, header: Mapping[str, Any], policy: FederationPolicy) -> dict[str, Any]:
        import jwt

        algorithm, kid = str(header["alg"]), header.get("kid")
        named = [key for key in policy.keys if kid is None or key.key_id == kid]
        if not named:
            raise jwt.InvalidKeyError("no key of the issuer's JWKS has the token's kid")
        # Only keys of the token's kind of algorithm, each given as a public key with that one algorithm:
        # a key is never read as another kind's (an RSA key's text as an HMAC secret).
        usable = [key for key in named if algorithm.startswith(KEY_ALGORITHMS.get(str(key.key_type), ()))]
        if not usable:
            raise jwt.InvalidKeyError(f"no key of the issuer's JWKS verifies {algorithm}")
        refusals: list[jwt.PyJWTError] = []
        for key in usable:
            try:
                return jwt.decode(
                    token,
                    key=key.key,
                    algorithms=[algorithm],
                    audience=list(policy.audiences),
                    issuer=policy.issuer,
                    options={"require": ["exp", "iss", "aud"]},
                )
            except jwt.InvalidSignatureError as err:  # another key of the set may have signed it
                refusals.append(err)
        raise refusals[-1]
