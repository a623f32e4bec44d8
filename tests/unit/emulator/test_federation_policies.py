"""The emulator's token exchange: which subject tokens a federation policy trusts, verified as a
workspace verifies them (signature by the issuer's JWKS, issuer, audience, expiry, subject)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from airflow_databricks_clusters.emulator.api_errors import ApiError, OAuthError
from airflow_databricks_clusters.emulator.federation_policies import JWT_TOKEN_TYPE, FederationPolicies
from airflow_databricks_clusters.testing.oidc_issuer import OidcIssuer

SUBJECT = "system:serviceaccount:airflow:worker"


@pytest.fixture(scope="module")
def issuer() -> OidcIssuer:
    return OidcIssuer("https://oidc.example.test")


def form(token: str, client_id: str | None = "sp-app") -> dict[str, str]:
    sent = {"subject_token": token, "subject_token_type": JWT_TOKEN_TYPE}
    if client_id:
        sent["client_id"] = client_id
    return sent


def policies(issuer: OidcIssuer, **overrides: Any) -> FederationPolicies:
    trusted = FederationPolicies()
    trusted.add({**issuer.policy(SUBJECT, service_principal="sp-app"), **overrides})
    return trusted


def test_a_trusted_token_stands_for_the_policys_service_principal(issuer: OidcIssuer) -> None:
    assert policies(issuer).principal_for(form(issuer.token(SUBJECT))) == "sp-app"


def test_an_account_wide_policy_gives_the_subject(issuer: OidcIssuer) -> None:
    trusted = FederationPolicies()
    trusted.add({**issuer.policy(SUBJECT)})
    assert trusted.principal_for(form(issuer.token(SUBJECT), client_id=None)) == SUBJECT
    with pytest.raises(OAuthError, match="no federation policy of service principal sp-app"):
        trusted.principal_for(form(issuer.token(SUBJECT)))


def test_another_subject_claim_is_matched(issuer: OidcIssuer) -> None:
    trusted = policies(issuer, subject="team-a", subject_claim="groups_claim")
    assert trusted.principal_for(form(issuer.token(SUBJECT, groups_claim="team-a"))) == "sp-app"


def _hmac(issuer: OidcIssuer) -> str:
    claims = {"iss": issuer.url, "sub": SUBJECT, "aud": "databricks", "exp": int(time.time()) + 300}
    return jwt.encode(claims, "a-shared-secret-of-32-bytes-long!", algorithm="HS256")


def _unsigned(issuer: OidcIssuer) -> str:
    claims = {"iss": issuer.url, "sub": SUBJECT, "aud": "databricks", "exp": int(time.time()) + 300}
    return jwt.encode(claims, None, algorithm="none")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda issuer: issuer.token(SUBJECT, lifetime_seconds=-1), "Signature has expired"),
        (lambda issuer: issuer.token(SUBJECT, audience="elsewhere"), "Audience doesn't match"),
        (lambda issuer: issuer.token("someone-else"), "claim sub does not match the policy's subject"),
        (lambda issuer: OidcIssuer(issuer.url, key_id=issuer.key_id).token(SUBJECT),
         "Signature verification"),
        (lambda issuer: OidcIssuer(issuer.url).token(SUBJECT),
         "no key of the issuer's JWKS has the token's kid"),
        (lambda issuer: OidcIssuer("https://other.test").token(SUBJECT),
         "trusts issuer 'https://other.test'"),
        (lambda issuer: issuer.token(SUBJECT, exp=None), 'Token is missing the "exp" claim'),
        (_hmac, "signature algorithm 'HS256' is not accepted"),
        (_unsigned, "signature algorithm 'none' is not accepted"),
        (lambda issuer: "not.a.jwt", "the subject token is not a JWT"),
    ],
    ids=["expired", "audience", "subject", "forged", "unknown-kid", "issuer", "no-exp", "hmac", "none",
         "garbage"],
)  # fmt: skip
def test_an_untrusted_token_is_refused_401_with_the_reason(
    issuer: OidcIssuer, make: Any, reason: str
) -> None:
    with pytest.raises(OAuthError) as refused:
        policies(issuer).principal_for(form(make(issuer)))
    assert refused.value.status == 401 and refused.value.error_code == "invalid_request"
    assert reason in refused.value.message


def test_a_malformed_exchange_is_a_400(issuer: OidcIssuer) -> None:
    trusted = policies(issuer)
    with pytest.raises(OAuthError, match="Missing required parameter: subject_token") as missing:
        trusted.principal_for({"subject_token_type": JWT_TOKEN_TYPE})
    assert missing.value.status == 400
    with pytest.raises(OAuthError, match="subject_token_type must be"):
        trusted.principal_for({"subject_token": issuer.token(SUBJECT), "subject_token_type": "x"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audience": ["x"]}, "Unknown field audience"),
        ({"audiences": []}, "audiences must be a non-empty list"),
        ({"issuer": ""}, "Field issuer must be a non-empty string"),
        ({"jwks_json": "{}"}, "jwks_json must be a JWKS"),
        ({"service_principal": ""}, "service_principal must be an application id"),
        # An RSA key without its modulus and exponent: refused when added, not at every exchange after.
        ({"jwks_json": '{"keys": [{"kty": "RSA", "kid": "k1"}]}'}, "jwks_json key k1 is not a usable RSA"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(issuer: OidcIssuer, change: dict, message: str) -> None:
    with pytest.raises(ApiError, match=message) as refused:
        FederationPolicies().add({**issuer.policy(SUBJECT), **change})
    assert refused.value.status == 400


def test_a_key_is_used_only_with_an_algorithm_of_its_kind(issuer: OidcIssuer) -> None:
    # A JWKS of an EC key and the issuer's RSA key, a token without kid: the RSA key verifies it (the EC
    # key is not tried with RS256), and a shared-secret key is refused in a policy at all.
    import json

    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    ec_key = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    rsa_keys = json.loads(issuer.jwks_json())["keys"]
    trusted = policies(issuer, jwks_json=json.dumps({"keys": [ec_key, *rsa_keys]}))
    claims = {"iss": issuer.url, "sub": SUBJECT, "aud": "databricks", "exp": int(time.time()) + 300}
    unnamed = jwt.encode(claims, issuer._key, algorithm="RS256")
    assert trusted.principal_for(form(unnamed)) == "sp-app"
    shared = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
    with pytest.raises(ApiError, match="jwks_json holds a oct key; allowed: RSA or EC public keys"):
        policies(issuer, jwks_json=json.dumps({"keys": [shared]}))
