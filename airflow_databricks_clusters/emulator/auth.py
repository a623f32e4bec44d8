"""Who a request is: personal access tokens, and tokens minted by OAuth machine-to-machine (client
credentials) or by an OIDC federation exchange (``federation_policies.py``).

A request is answered as Databricks answers it: no credential at all (or not a bearer token) 401, a
bad token 403, each with a numeric ``error_code`` and the ``X-Databricks-Reason-Phrase`` header. The
token endpoint answers its errors as OAuth does (``OAuthError``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from airflow_databricks_clusters.emulator.api_errors import ApiError, OAuthError
from airflow_databricks_clusters.emulator.federation_policies import FederationPolicies

INVALID_TOKEN = "Invalid access token."
TOKEN_LIFETIME_SECONDS = 3600


NO_CREDENTIAL = "Credential was not sent or was of an unsupported type for this API."


def invalid_token() -> ApiError:
    return ApiError(403, 403, INVALID_TOKEN, headers={"X-Databricks-Reason-Phrase": INVALID_TOKEN})


def no_credential() -> ApiError:
    return ApiError(401, 401, NO_CREDENTIAL, headers={"X-Databricks-Reason-Phrase": NO_CREDENTIAL})


class Auth:
    """Tokens the workspace accepts, and the user each one stands for.

    An OAuth token expires ``TOKEN_LIFETIME_SECONDS`` after it was minted by ``clock`` (the emulator's:
    a test moves past the expiry by advancing it).
    """

    def __init__(
        self,
        tokens: Mapping[str, str],
        *,
        oauth_clients: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tokens = dict(tokens)
        self.oauth_clients = dict(oauth_clients or {})
        self.federation = FederationPolicies()
        self.clock = clock
        self._minted: dict[str, tuple[str, float]] = {}
        #: (expiry, token) in the order minted: on a clock that only moves forward, oldest expiry first
        self._expiries: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def user_for(self, authorization: str | None) -> str:
        """The user behind an ``Authorization`` header: ApiError 401 when no bearer token was sent, 403
        when the one sent is not valid."""
        if not authorization or not authorization.startswith("Bearer "):
            raise no_credential()
        token = authorization[len("Bearer ") :].strip()
        if token in self.tokens:
            return self.tokens[token]
        with self._lock:
            minted = self._minted.get(token)
        if minted is None or minted[1] <= self.clock():
            raise invalid_token()
        return minted[0]

    def add_oauth_client(self, client_id: str, secret: str) -> None:
        self.oauth_clients[client_id] = secret

    def mint(self, client_id: str | None, secret: str | None, grant_type: str | None) -> dict[str, object]:
        """The answer of ``/oidc/v1/token`` to a client-credentials request; OAuthError when refused."""
        if not grant_type:
            raise OAuthError(400, "invalid_request", "Missing required parameter: grant_type")
        if grant_type != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant_type {grant_type}")
        if not client_id or self.oauth_clients.get(client_id) != secret:
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        return self._issue(client_id)

    def exchange(self, form: Mapping[str, str]) -> dict[str, object]:
        """The answer of ``/oidc/v1/token`` to an RFC 8693 token exchange; OAuthError when refused."""
        answer = self._issue(self.federation.principal_for(form))
        return {**answer, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}

    def _issue(self, principal: str) -> dict[str, object]:
        """A new token for ``principal``, valid ``TOKEN_LIFETIME_SECONDS`` on the emulator's clock."""
        token = "eyJemu." + secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            # Expired tokens go as new ones come: a client minting in a loop keeps only the live ones, and
            # a mint costs the same however many are live.
            while self._expiries and self._expiries[0][0] <= now:
                self._minted.pop(self._expiries.popleft()[1], None)
            self._minted[token] = (principal, now + TOKEN_LIFETIME_SECONDS)
            self._expiries.append((now + TOKEN_LIFETIME_SECONDS, token))
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": "all-apis",
        }
