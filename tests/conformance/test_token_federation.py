"""databricks-sdk's own OIDC token federation (``auth_type="file-oidc"``: a workload's token read from a
file and exchanged) against the emulator, unchanged: it finds the token endpoint through the workspace's
discovery documents, exchanges the token as RFC 8693 says, and reads the workspace's refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.testing.oidc_issuer import OidcIssuer

WORKLOAD = "repo:example/etl:environment:prod"


pytestmark = pytest.mark.usefixtures("no_databricks_environment")


def file_oidc(emu: Emulator, token_file: Path, client_id: str | None) -> WorkspaceClient:
    options = {"host": emu.url, "auth_type": "file-oidc", "oidc_token_filepath": str(token_file)}
    return WorkspaceClient(config=Config(**options, **({"client_id": client_id} if client_id else {})))


@pytest.mark.parametrize("client_id", ["sp-etl", None], ids=["service-principal", "account-wide"])
def test_the_sdk_exchanges_a_workload_token_and_calls_as_its_principal(
    emu: Emulator, tmp_path: Path, client_id: str | None
) -> None:
    issuer = OidcIssuer("https://token.actions.example.test")
    emu.add_federation_policy(**issuer.policy(WORKLOAD, service_principal=client_id))
    token_file = tmp_path / "oidc-token"
    token_file.write_text(issuer.token(WORKLOAD))
    w = file_oidc(emu, token_file, client_id)
    assert w.current_user.me().user_name == (client_id or WORKLOAD)
    assert list(w.clusters.list()) == []
    assert [r["path"] for r in emu.request_log].count("/oidc/v1/token") == 1


def test_the_sdk_reads_a_refused_exchange(emu: Emulator, tmp_path: Path) -> None:
    issuer = OidcIssuer("https://token.actions.example.test")
    emu.add_federation_policy(**issuer.policy(WORKLOAD, service_principal="sp-etl"))
    token_file = tmp_path / "oidc-token"
    token_file.write_text(issuer.token(WORKLOAD, audience="another-service"))
    with pytest.raises(ValueError, match="invalid_request: Token exchange refused: Audience doesn't match"):
        file_oidc(emu, token_file, "sp-etl").current_user.me()
    assert [r["path"] for r in emu.request_log if r["path"].startswith("/api/")] == []
