"""A stand-in for the one AWS STS call moto (5.x) does not serve: ``GetWebIdentityToken``.

The official provider's ``federated_aws`` asks STS for an OIDC token signed for the deployment's AWS role
(outbound identity federation, 2025). moto answers every other STS and IAM call the tests make, so this
stand-in answers only that one, as STS does: a form POST signed with SigV4 for the ``sts`` service, and an
XML answer with the ``WebIdentityToken`` and its ``Expiration``. Who is calling is moto's business: the
token's ``sub`` is the ARN moto's ``GetCallerIdentity`` gives for the request's access key, so a test that
assumed a role in moto gets that role's session as the subject, as it would from STS. The token is signed
by a test ``OidcIssuer``; the Databricks emulator verifies it against the issuer's JWKS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from airflow_databricks_clusters.testing.oidc_issuer import OidcIssuer
from tests.stand_in_server import StandInServer

_CREDENTIAL = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/sts/aws4_request"
)
_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class StsWebIdentity(StandInServer):
    """The stand-in on a free loopback port; ``calls`` counts the tokens it signed."""

    def __init__(self, issuer: OidcIssuer, moto_endpoint_url: str) -> None:
        super().__init__()
        self.issuer = issuer
        self.moto_endpoint_url = moto_endpoint_url
        self.calls = 0
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        status, xml = self.answer(headers.get("Authorization", ""), parse_qs(body.decode()))
        return status, {"Content-Type": "text/xml"}, xml.encode()

    def connection_env(self, access_key: str, secret_key: str, session_token: str | None = None) -> str:
        """An ``aws`` connection whose STS calls come here (GetWebIdentityToken is regional)."""
        extra: dict[str, Any] = {"region_name": "ap-southeast-1", "endpoint_url": self.endpoint_url}
        if session_token:
            extra["aws_session_token"] = session_token
        return json.dumps({"conn_type": "aws", "login": access_key, "password": secret_key, "extra": extra})

    def _caller_arn(self, access_key: str) -> str:
        import boto3

        # moto identifies the caller by the access key id; it does not check the signature.
        sts = boto3.client(
            "sts", endpoint_url=self.moto_endpoint_url, region_name="ap-southeast-1",
            aws_access_key_id=access_key, aws_secret_access_key="unchecked",
        )  # fmt: skip
        return str(sts.get_caller_identity()["Arn"])

    def answer(self, authorization: str, form: dict[str, list[str]]) -> tuple[int, str]:
        signed = _CREDENTIAL.match(authorization)
        if signed is None:
            return 403, _error("IncompleteSignature", "The request must be signed with SigV4 for sts.")
        if form.get("Action") != ["GetWebIdentityToken"]:
            return 400, _error("InvalidAction", "This stand-in serves GetWebIdentityToken only.")
        audiences = [values[0] for key, values in sorted(form.items()) if key.startswith("Audience.member.")]
        duration = int(form.get("DurationSeconds", ["300"])[0])
        if not audiences or form.get("SigningAlgorithm") != ["RS256"]:
            # STS signs ES384 too; the test issuer signs RS256 only, as the provider asks.
            return 400, _error("ValidationError", "Audience and SigningAlgorithm RS256 are required.")
        if not 60 <= duration <= 3600:
            return 400, _error("ValidationError", "DurationSeconds must be 60 to 3600.")
        subject = self._caller_arn(signed["key"])
        audience: str | list[str] = audiences[0] if len(audiences) == 1 else audiences
        token = self.issuer.token(subject, audience=audience, lifetime_seconds=duration)
        self.calls += 1
        expiration = (datetime.now(timezone.utc) + timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, (
            f'<GetWebIdentityTokenResponse xmlns="{_NS}"><GetWebIdentityTokenResult>'
            f"<WebIdentityToken>{escape(token)}</WebIdentityToken><Expiration>{expiration}</Expiration>"
            "</GetWebIdentityTokenResult><ResponseMetadata><RequestId>stand-in</RequestId>"
            "</ResponseMetadata></GetWebIdentityTokenResponse>"
        )


def _error(code: str, message: str) -> str:
    return (
        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>stand-in</RequestId></ErrorResponse>"
    )
