"""The error answers of the emulated workspace, shaped as Databricks shapes them.

Every emulator module raises ``ApiError``; the HTTP layer turns it into the status code and the JSON
body ``{"error_code": ..., "message": ...}`` a real workspace sends. The OAuth token endpoint raises
``OAuthError`` instead, whose body is the OAuth 2.0 one (RFC 6749 section 5.2).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP ``status``, Databricks ``error_code`` and ``message``.

    ``error_code`` is a string such as ``INVALID_PARAMETER_VALUE``, except where Databricks itself
    sends a number (a bad token answers ``{"error_code": 403, ...}``). ``headers`` are extra response
    headers (``Retry-After``, ``X-Databricks-Reason-Phrase``).
    """

    def __init__(
        self,
        status: int,
        error_code: str | int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class OAuthError(ApiError):
    """An error answer of the OAuth token endpoint: ``{"error": ..., "error_description": ...}``.

    ``error`` is an RFC 6749 code: ``invalid_client`` (401), ``invalid_request`` or
    ``unsupported_grant_type`` (400). OAuth clients, databricks-sdk among them, read exactly these keys.
    """

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(status, error, description)

    def body(self) -> dict[str, Any]:
        return {"error": self.error_code, "error_description": self.message}


def invalid_parameter(message: str) -> ApiError:
    """400 ``INVALID_PARAMETER_VALUE``: the answer to most bad create fields."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def malformed_request(message: str) -> ApiError:
    """400 ``MALFORMED_REQUEST``: a field of the wrong JSON type, or a body that is not JSON."""
    return ApiError(400, "MALFORMED_REQUEST", message)


def cluster_does_not_exist(cluster_id: str) -> ApiError:
    """An unknown cluster id: Databricks answers 400 INVALID_PARAMETER_VALUE here, not 404."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", f"Cluster {cluster_id} does not exist")


def invalid_state(message: str) -> ApiError:
    """400 ``INVALID_STATE``: the call is not allowed in the cluster's current state."""
    return ApiError(400, "INVALID_STATE", message)
