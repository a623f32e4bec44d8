"""Each secret of each connection form reaches only the request it is meant for.

The emulator's request log keeps a fingerprint of every value a request carried (``sent``): its headers,
an Authorization header's credential (a Basic one as user and password), its query and its body. For
each form the hook is used sync and async; then every secret of the connection is looked up in the log.
A token goes to the API, a client secret or a subject token to the token endpoint only, and what the
connection holds for another form (a password beside an extra token, an Azure secret) goes nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from airflow_databricks_clusters.client.connection import ConnectionProblem
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.sent_values import fingerprint
from airflow_databricks_clusters.errors import PermissionDenied
from airflow_databricks_clusters.hooks import TOKENS, DatabricksClustersHook
from airflow_databricks_clusters.testing.oidc_issuer import OidcIssuer
from tests.integration.client import federation_tokens

API = "api"  # any path but the token endpoint
TOKEN_ENDPOINT = "/oidc/v1/token"
ISSUER = OidcIssuer("https://oidc.example.test/secrets")
#: Stands for the subject token in FORMS; each test signs its own, so none outlives a slow session.
SUBJECT = "<subject>"


def paths_sent(emu: Emulator, secret: str) -> set[str]:
    """Where ``secret`` went: the token endpoint, or ``API`` for any other path."""
    mark = fingerprint(secret)
    return {
        TOKEN_ENDPOINT if r["path"] == TOKEN_ENDPOINT else API for r in emu.request_log if mark in r["sent"]
    }


# form -> (login, password, extra, {secret name: where it may go (the first place it must go)})
FORMS: dict[str, tuple[str | None, str | None, dict[str, Any], dict[str, set[str]]]] = {
    "token in password": (None, "<pat>", {}, {"<pat>": {API}}),
    "extra token beside a login and password": (
        "someone@example.com", "user-password", {"token": "<pat>"}, {"<pat>": {API}, "user-password": set()},
    ),
    "login and password (Basic)": ("someone@example.com", "user-password", {}, {"user-password": {API}}),
    "service principal": (
        "sp", "sp-secret", {"service_principal_oauth": True},
        {"sp-secret": {TOKEN_ENDPOINT}, "<minted>": {API}},
    ),
    "extra token over a service principal": (
        "sp", "sp-secret", {"service_principal_oauth": True, "token": "<pat>"},
        {"<pat>": {API}, "sp-secret": set()},
    ),
    "federation, token provider": (
        None, None, {"federated_token_provider": federation_tokens.PATH, "client_id": "sp-fed"},
        {SUBJECT: {TOKEN_ENDPOINT}, "<minted>": {API}},
    ),
    "Azure service principal": (
        "azure-app", "azure-secret", {"azure_tenant_id": "t"}, {"azure-secret": set()},
    ),
    "Azure tenant beside a token in password": (None, "<pat>", {"azure_tenant_id": "t"}, {"<pat>": {API}}),
}  # fmt: skip


@pytest.mark.parametrize("form", list(FORMS))
def test_each_secret_reaches_only_what_it_is_for(
    form: str, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    login, password, extra, where = FORMS[form]
    emu.add_oauth_client("sp", "sp-secret")
    emu.add_federation_policy(**ISSUER.policy("airflow", service_principal="sp-fed"))
    subject = ISSUER.token("airflow")

    def real(value: str | None) -> str | None:
        return {"<pat>": emu.token, SUBJECT: subject}.get(str(value), value)

    conn = {"conn_type": "databricks", "host": emu.host, "port": emu.port, "schema": "http", "login": login,
            "password": real(password), "extra": {k: real(v) for k, v in extra.items()}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    hook = DatabricksClustersHook()
    with federation_tokens.supplying(subject):
        # Basic is not a workspace's API credential (401); an Azure form is refused before any request.
        with contextlib.suppress(PermissionDenied, ConnectionProblem):
            hook.list_clusters()
        with contextlib.suppress(PermissionDenied, ConnectionProblem):
            asyncio.run(DatabricksClustersHook().alist_clusters())
    secrets = {real(secret): places for secret, places in where.items() if secret != "<minted>"}
    if "<minted>" in where:
        minted = TOKENS.get(hook._token_key(hook.settings), 0.0)
        assert minted is not None
        secrets[minted] = where["<minted>"]
    for secret, places in secrets.items():
        assert paths_sent(emu, str(secret)) == places, (
            f"{form}: a secret went to {paths_sent(emu, str(secret))}"
        )
    if not any(secrets.values()):
        assert emu.request_log == []  # refused before any request
