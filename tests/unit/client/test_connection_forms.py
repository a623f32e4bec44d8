"""Every form of a ``databricks`` connection means here what it means to the official provider.

The provider's own ``DatabricksHook._get_token`` decides which form a connection is, in its order of
precedence; this plugin's ``settings_from_connection`` must decide the same, so that one connection sends
the same credential from both. The provider's calls that would leave the machine (Azure AD, its metadata
service, a federation exchange, an OAuth token request) are replaced by markers naming the branch it took:
Azure has no local stand-in here, and what is compared is the branch, not the network. What this plugin
then sends for each form is ``hooks``' business (``tests/integration/lifecycle/test_connection_auth.py``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_databricks_clusters.client.connection import ConnectionProblem, settings_from_connection

HOST = "dbc-1.cloud.databricks.com"

#: What federated_k8s needs here: the service principal, and the projected token file.
K8S = {"client_id": "sp-app", "k8s_projected_volume_token_path": "/var/run/secrets/databricks/token"}

# (form, login, password, extra)
FORMS: list[tuple[str, str | None, str | None, dict[str, Any]]] = [
    ("token in password", None, "dapi-password", {}),
    ("login and password", "someone@example.com", "user-password", {}),
    ("extra token", "someone@example.com", "user-password", {"token": "dapi-extra"}),
    ("empty extra token", "someone@example.com", "user-password", {"token": "", "azure_tenant_id": "t"}),
    ("extra token over service principal", "client-id", "client-secret",
     {"token": "dapi-extra", "service_principal_oauth": True}),
    ("service principal", "client-id", "client-secret", {"service_principal_oauth": True}),
    ("service principal, text true", "client-id", "client-secret", {"service_principal_oauth": "true"}),
    ("Azure service principal", "azure-app", "azure-secret", {"azure_tenant_id": "tenant"}),
    ("Azure tenant, token in password", None, "dapi-password", {"azure_tenant_id": "tenant"}),
    ("Azure before service principal", "client-id", "client-secret",
     {"azure_tenant_id": "tenant", "service_principal_oauth": True}),
    ("Azure managed identity", None, None, {"use_azure_managed_identity": True}),
    ("Azure DefaultAzureCredential", None, None, {"use_default_azure_credential": True}),
    ("federation, token provider", None, None, {"federated_token_provider": "my_module.token"}),
    ("federation, AWS by login", "federated_aws", None, {}),
    ("federation, AWS by extra", None, None, {"federated_aws": True}),
    ("federation, Kubernetes by login", "federated_k8s", None, K8S),
    ("federation, Kubernetes by extra", None, None, {"federated_k8s": True, **K8S}),
    ("federation, Kubernetes TokenRequest", "federated_k8s", None, {"client_id": "sp-app"}),
    ("federation, token provider before AWS", "federated_aws", None,
     {"federated_token_provider": "my_module.token", "federated_k8s": True}),
    ("federation, AWS before Kubernetes", None, None, {"federated_aws": True, "federated_k8s": True}),
    ("service principal before federation", "client-id", "client-secret",
     {"service_principal_oauth": True, "federated_k8s": True}),
]  # fmt: skip


def connection(login: str | None, password: str | None, extra: dict[str, Any]) -> Connection:
    return Connection(
        conn_id="databricks_default", conn_type="databricks", host=HOST, login=login, password=password,
        extra=json.dumps(extra),
    )  # fmt: skip


def providers_choice(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """What the official provider sends for ``conn``: ("bearer", token), ("basic", login, password), or
    the name of the token branch it takes."""
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", conn.as_json())
    hook = DatabricksHook()
    for branch, method in (
        ("oauth", "_get_sp_token"),
        ("azure", "_get_aad_token"),
        ("azure", "_get_aad_token_for_default_az_credential"),
        ("federation", "_get_federated_databricks_token"),
    ):
        monkeypatch.setattr(hook, method, lambda *args, _branch=branch, **kwargs: f"<{_branch}>")
    monkeypatch.setattr(hook, "_check_azure_metadata_service", lambda: None)
    token = hook._get_token()
    if token in ("<oauth>", "<azure>", "<federation>"):
        return (token.strip("<>"),)
    if token:
        return ("bearer", token)
    return ("basic", str(hook.databricks_conn.login), str(hook.databricks_conn.password))


def plugins_choice(conn: Connection) -> tuple[str, ...]:
    try:
        settings = settings_from_connection(conn)
    except ConnectionProblem as err:
        text = str(err)
        return ("azure",) if "Azure" in text else ("refused", text)
    if settings.federation is not None:
        return ("federation",)
    if settings.uses_oauth:
        return ("oauth",)
    if settings.uses_basic:
        return ("basic", str(settings.login), str(settings.password))
    return ("bearer", str(settings.token))


@pytest.mark.parametrize(("form", "login", "password", "extra"), FORMS, ids=[form[0] for form in FORMS])
def test_each_form_is_read_as_the_provider_reads_it(
    form: str, login: str | None, password: str | None, extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connection(login, password, extra)
    assert plugins_choice(conn) == providers_choice(conn, monkeypatch), form


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"azure_tenant_id": "tenant"}, "an Azure AD service principal (extra azure_tenant_id)"),
        (
            {"use_azure_managed_identity": True},
            "an Azure managed identity (extra use_azure_managed_identity)",
        ),
        ({"use_default_azure_credential": True}, "Azure's DefaultAzureCredential"),
    ],
)
def test_a_form_this_plugin_does_not_support_is_refused_naming_it_and_what_is(
    extra: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConnectionProblem) as refused:
        settings_from_connection(connection("azure-app", "azure-secret", extra))
    text = str(refused.value)
    assert named in text and "supported: a personal access token" in text
    assert "azure-secret" not in text


def test_a_flag_written_as_other_text_is_refused_not_guessed() -> None:
    # The provider reads any non-empty text as true ("false" included): such a flag is refused here.
    with pytest.raises(
        ConnectionProblem,
        match=r"service_principal_oauth: got 'false'; allowed: true or false \(JSON booleans\)",
    ):
        settings_from_connection(
            connection("client-id", "client-secret", {"service_principal_oauth": "false"})
        )


def test_what_each_form_that_is_sent_as_it_is_puts_in_the_header() -> None:
    import base64

    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    basic = settings_from_connection(connection("someone@example.com", "user-password", {}))
    encoded = base64.b64encode(b"someone@example.com:user-password").decode()
    assert DatabricksClustersHook._fixed_auth_header(basic) == {"Authorization": f"Basic {encoded}"}
    token = settings_from_connection(connection(None, "dapi-password", {}))
    assert DatabricksClustersHook._fixed_auth_header(token) == {"Authorization": "Bearer dapi-password"}
    oauth = settings_from_connection(
        connection("client-id", "client-secret", {"service_principal_oauth": True})
    )
    assert DatabricksClustersHook._fixed_auth_header(oauth) is None  # minted at the token endpoint
    assert "user-password" not in repr(basic)
