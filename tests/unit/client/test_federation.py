"""Reading a federated connection's extras (``client/federation.py``), and the exchange it asks for,
compared with the official provider's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_databricks_clusters.client.connection import (
    ConnectionProblem,
    ConnectionSettings,
    settings_from_connection,
)
from airflow_databricks_clusters.client.federation import GRANT_TYPE, Federation

K8S_FILE = "/var/run/secrets/databricks/token"


def settings(extra: dict[str, Any], login: str | None = None) -> Any:
    return settings_from_connection(
        Connection(
            conn_id="fed",
            conn_type="databricks",
            host="dbc-1.cloud.databricks.com",
            login=login,
            extra=json.dumps(extra),
        )
    )


def test_aws_takes_the_providers_defaults() -> None:
    federation = settings({"federated_aws": True}).federation
    assert federation == Federation("aws", None, aws_conn_id="aws_default", aws_audience="databricks",
                                    aws_duration_seconds=300)  # fmt: skip


def test_aws_reads_its_extras() -> None:
    extra = {
        "aws_conn_id": "aws_workers", "aws_jwt_audience": "dbx", "aws_web_identity_token_duration": "900",
        "client_id": "sp-app",
    }  # fmt: skip
    federation = settings(extra, login="federated_aws").federation
    assert federation == Federation("aws", "sp-app", aws_conn_id="aws_workers", aws_audience="dbx",
                                    aws_duration_seconds=900)  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"federated_aws": True, "aws_web_identity_token_duration": 30},
         r"aws_web_identity_token_duration: got 30; allowed: whole seconds from 60 to 3600"),
        ({"federated_aws": True, "aws_web_identity_token_duration": "soon"},
         r"aws_web_identity_token_duration: got 'soon'"),
        ({"federated_aws": True, "aws_jwt_audience": ""}, r"extra aws_jwt_audience: got ''"),
        ({"federated_aws": "yes"}, r"extra federated_aws: got 'yes'; allowed: true or false"),
        ({"federated_k8s": True, "k8s_projected_volume_token_path": K8S_FILE},
         r"federated_k8s needs extra client_id"),
        ({"federated_k8s": True, "client_id": "sp-app", "expiration_seconds": 300},
         r"extra expiration_seconds: got 300; allowed: whole seconds, at least 600"),
        ({"federated_k8s": True, "client_id": "sp-app", "k8s_projected_volume_token_path": ""},
         r"extra k8s_projected_volume_token_path: got ''"),
        ({"federated_k8s": True, "client_id": "sp-app", "k8s_projected_volume_token_path": None},
         r"extra k8s_projected_volume_token_path: got None; allowed: the path of a projected token file"),
        ({"federated_token_provider": "not a path"},
         r"federated_token_provider: got 'not a path'; allowed: the dotted path of a Callable"),
        ({"federated_token_provider": True}, r"federated_token_provider: got True"),
        ({"federated_aws": True, "client_id": 7}, r"extra client_id: got 7"),
    ],
)  # fmt: skip
def test_a_bad_federation_extra_is_refused_naming_it(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConnectionProblem, match=message) as refused:
        settings(extra)
    assert str(refused.value).startswith("Connection fed: ")


def test_kubernetes_without_a_projected_file_asks_the_api_server_with_the_providers_defaults() -> None:
    federation = settings({"client_id": "sp-app"}, login="federated_k8s").federation
    account = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert federation == Federation(
        "k8s_token_request", "sp-app", k8s_token_path=f"{account}/token",
        k8s_namespace_path=f"{account}/namespace", k8s_audience="https://kubernetes.default.svc",
        k8s_expiration_seconds=3600,
    )  # fmt: skip
    custom = {
        "federated_k8s": True, "client_id": "sp-app", "audience": "databricks", "expiration_seconds": "900",
        "k8s_token_path": "/sa/token", "k8s_namespace_path": "/sa/ns",
    }  # fmt: skip
    assert settings(custom).federation == Federation(
        "k8s_token_request", "sp-app", k8s_token_path="/sa/token", k8s_namespace_path="/sa/ns",
        k8s_audience="databricks", k8s_expiration_seconds=900,
    )  # fmt: skip


def test_an_extra_written_as_null_is_its_default() -> None:
    # JSON null is no setting: a null audience is not the text "None", nor a null path a file of that name.
    nulls = {"audience": None, "k8s_token_path": None, "client_id": "sp-app", "aws_conn_id": None}
    for flag in ("federated_k8s", "federated_aws"):
        assert (
            settings({flag: True, **nulls}).federation
            == settings({flag: True, "client_id": "sp-app"}).federation
        )


def test_federation_sends_no_fixed_header_and_has_its_own_token_key() -> None:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    aws = settings({"federated_aws": True, "client_id": "sp-app"})
    other_role = settings({"federated_aws": True, "client_id": "sp-app", "aws_conn_id": "aws_other"})
    assert DatabricksClustersHook._fixed_auth_header(aws) is None
    assert not aws.uses_basic and aws.mints_tokens
    assert DatabricksClustersHook._token_key(aws) == DatabricksClustersHook._token_key(
        settings({"federated_aws": True, "client_id": "sp-app"})
    )
    assert DatabricksClustersHook._token_key(aws) != DatabricksClustersHook._token_key(other_role)


# (extra, login): every federated form, each compared with the provider's choice of source and exchange.
FEDERATED = [
    ({"federated_token_provider": "my_module.token"}, None),
    ({"federated_token_provider": "my_module.token", "client_id": "sp-app", "federated_aws": True}, None),
    ({"federated_aws": True}, None),
    ({"client_id": "sp-app"}, "federated_aws"),
    ({"federated_k8s": True, "client_id": "sp-app", "k8s_projected_volume_token_path": K8S_FILE}, None),
    ({"client_id": "sp-app", "k8s_projected_volume_token_path": K8S_FILE}, "federated_k8s"),
    ({"client_id": "sp-app", "audience": "databricks"}, "federated_k8s"),
]
#: Our source -> the provider's method that obtains its subject token (both Kubernetes sources are one).
PROVIDERS_SOURCE = {
    "token_provider": "token_provider",
    "aws": "aws",
    "k8s": "k8s",
    "k8s_token_request": "k8s",
}


@pytest.mark.parametrize(("extra", "login"), FEDERATED)
def test_the_exchange_is_the_providers(
    extra: dict[str, Any], login: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    conn = Connection(conn_id="databricks_default", conn_type="databricks", host="dbc-1.cloud.databricks.com",
                      login=login, extra=json.dumps(extra))  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", conn.as_json())
    provider = DatabricksHook()
    # The sources leave the machine (a callable, STS, a pod's file); markers stand for their tokens.
    monkeypatch.setattr(provider, "_resolve_supplied_subject_token", lambda path: "<token_provider>")
    monkeypatch.setattr(provider, "_get_aws_subject_token", lambda: "<aws>")
    monkeypatch.setattr(provider, "_get_k8s_jwt_token", lambda: "<k8s>")
    subject, client_id = provider._get_federation_subject_token()
    theirs = provider._build_federation_exchange_data(subject, client_id)

    federation = settings_from_connection(conn).federation
    assert federation is not None
    ours = federation.exchange_form(f"<{PROVIDERS_SOURCE[federation.source]}>")
    assert ours == theirs
    assert ours["grant_type"] == GRANT_TYPE


def test_no_service_principal_can_borrow_a_federated_token() -> None:
    # The federation's identity is a digest of settings anyone can read: an OAuth connection whose login
    # and password copy it must still get a key of its own, and no client id must read as "None".
    from airflow_databricks_clusters.hooks import DatabricksClustersHook

    aws = settings({"federated_aws": True, "client_id": "sp"})
    assert aws.federation is not None
    forged = ConnectionSettings(aws.base_url, client_id="sp", client_secret=aws.federation.identity())
    assert DatabricksClustersHook._token_key(forged) != DatabricksClustersHook._token_key(aws)
    account_wide = settings({"federated_aws": True})
    named_none = settings({"federated_aws": True, "client_id": "None"})
    assert DatabricksClustersHook._token_key(account_wide) != DatabricksClustersHook._token_key(named_none)
