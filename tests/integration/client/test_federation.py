"""OIDC token federation, end to end: a real RS256 token of a test issuer, exchanged by the hook at the
emulator's ``/oidc/v1/token``, which verifies it against the federation policy it was given.

Nothing here is mocked. The AWS form runs against moto's server, except the one call moto lacks
(STS ``GetWebIdentityToken``), which ``tests/sts_web_identity.py`` stands in for.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.client.subject_tokens import SubjectTokenUnavailable
from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.sent_values import fingerprint
from airflow_databricks_clusters.errors import PermissionDenied
from airflow_databricks_clusters.hooks import TOKENS, DatabricksClustersHook
from airflow_databricks_clusters.testing.oidc_issuer import OidcIssuer
from tests.aws_server import AwsServer
from tests.integration.client import federation_tokens
from tests.kubernetes_api import KubernetesApi
from tests.sts_web_identity import StsWebIdentity

ROLE = "arn:aws:iam::123456789012:role/airflow-workers"
APP_ID = "6f1d0c9e-sp-airflow"


@pytest.fixture(scope="module")
def issuer() -> OidcIssuer:
    return OidcIssuer("https://oidc.example.test/airflow")


@pytest.fixture
def supplied(issuer: OidcIssuer) -> Iterator[list[str]]:
    with federation_tokens.supplying(issuer.token(ROLE)) as subject:
        yield subject


def use(
    monkeypatch: pytest.MonkeyPatch, emu: Emulator, extra: dict[str, Any], login: str | None = None
) -> None:
    """The `databricks_default` connection: the emulator, with ``extra`` (and ``login``)."""
    conn = {"conn_type": "databricks", "host": emu.host, "port": emu.port, "schema": "http", "extra": extra}
    if login:
        conn["login"] = login
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))


PROVIDER = {"federated_token_provider": federation_tokens.PATH, "client_id": APP_ID}


def exchanges(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.request_log if r["path"] == "/oidc/v1/token"]


def lists_at_once(count: int) -> None:
    """``count`` async hooks list the clusters together in one event loop, as waits in a triggerer."""

    async def together() -> None:
        hooks = [DatabricksClustersHook() for _ in range(count)]
        await asyncio.gather(*(hook.alist_clusters() for hook in hooks))
        for hook in hooks:
            await hook.aclose()

    asyncio.run(together())


def test_a_supplied_token_is_exchanged_once_and_the_workspace_token_shared(
    emu: Emulator, issuer: OidcIssuer, supplied: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.add_federation_policy(**issuer.policy(ROLE, service_principal=APP_ID))
    use(monkeypatch, emu, PROVIDER)
    assert DatabricksClustersHook().current_user()["userName"] == APP_ID
    lists_at_once(3)
    DatabricksClustersHook().list_clusters()
    assert [r["status"] for r in exchanges(emu)] == [200]
    assert len(federation_tokens.CALLS) == 1
    # The subject token went to the token endpoint only.
    assert fingerprint(supplied[0]) in exchanges(emu)[0]["sent"]
    assert all(fingerprint(supplied[0]) not in r["sent"] for r in emu.request_log[1:])


def test_async_waits_that_start_together_share_one_exchange(
    emu: Emulator, issuer: OidcIssuer, supplied: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.add_federation_policy(**issuer.policy(ROLE, service_principal=APP_ID))
    use(monkeypatch, emu, PROVIDER)
    lists_at_once(8)
    assert len(exchanges(emu)) == 1 and len(federation_tokens.CALLS) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_workspace_token_the_workspace_no_longer_takes_is_exchanged_anew(
    emu: Emulator, issuer: OidcIssuer, supplied: list[str], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    emu.add_federation_policy(**issuer.policy(ROLE, service_principal=APP_ID))
    use(monkeypatch, emu, PROVIDER)
    hook = DatabricksClustersHook()

    def list_clusters() -> None:
        if mode == "sync":
            hook.list_clusters()
        else:
            asyncio.run(hook.alist_clusters())

    list_clusters()
    # Past the workspace token's hour on the emulator's clock: it answers 403, the hook exchanges a new
    # subject token and sends the call again.
    emu.advance(3601)
    supplied.append(issuer.token(ROLE))
    list_clusters()
    assert [r["status"] for r in exchanges(emu)] == [200, 200]
    assert len(federation_tokens.CALLS) == 2


def test_a_token_about_to_expire_is_exchanged_before_it_is_sent(
    emu: Emulator, issuer: OidcIssuer, supplied: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.add_federation_policy(**issuer.policy(ROLE, service_principal=APP_ID))
    use(monkeypatch, emu, PROVIDER)
    hook = DatabricksClustersHook()
    hook.list_clusters()
    key = hook._token_key(hook.settings)
    # The cache's view of time, moved to within a minute of the token's expiry: the next call renews it.
    token = TOKENS.get(key, time.monotonic())
    assert token is not None
    TOKENS.put(key, token, 30, time.monotonic())
    hook.list_clusters()
    assert len(exchanges(emu)) == 2
    assert [r["status"] for r in emu.request_log if r["path"].endswith("clusters/list")] == [200, 200]


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda issuer: issuer.token(ROLE, issued_at=time.time() - 900), "Signature has expired"),
        (lambda issuer: issuer.token(ROLE, audience="someone-else"), "Audience doesn't match"),
        (lambda issuer: issuer.token("arn:aws:iam::123456789012:role/intruder"), "does not match"),
        (lambda issuer: OidcIssuer(issuer.url, key_id=issuer.key_id).token(ROLE), "Signature verification"),
        (lambda issuer: OidcIssuer("https://elsewhere.example.test").token(ROLE), "trusts issuer"),
    ],
    ids=["expired", "audience", "subject", "forged", "issuer"],
)
def test_a_subject_token_the_policy_does_not_trust_is_refused_and_not_shown(
    emu: Emulator,
    issuer: OidcIssuer,
    supplied: list[str],
    monkeypatch: pytest.MonkeyPatch,
    make_token: Any,
    reason: str,
) -> None:
    emu.add_federation_policy(**issuer.policy(ROLE, service_principal=APP_ID))
    use(monkeypatch, emu, PROVIDER)
    supplied[:] = [make_token(issuer)]
    with pytest.raises(PermissionDenied, match=reason) as refused:
        DatabricksClustersHook().list_clusters()
    assert supplied[0] not in str(refused.value)
    assert [r["path"] for r in emu.request_log] == ["/oidc/v1/token"]  # no API call with no token


def test_an_account_wide_policy_takes_an_exchange_without_client_id(
    emu: Emulator, issuer: OidcIssuer, supplied: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.add_federation_policy(**issuer.policy(ROLE))
    use(monkeypatch, emu, {"federated_token_provider": PROVIDER["federated_token_provider"]})
    assert DatabricksClustersHook().current_user()["userName"] == ROLE


def test_kubernetes_reads_the_projected_volume_token(
    emu: Emulator, issuer: OidcIssuer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    subject = "system:serviceaccount:airflow:airflow-worker"
    emu.add_federation_policy(**issuer.policy(subject, service_principal=APP_ID))
    token_file = tmp_path / "databricks-token"
    token_file.write_text(issuer.token(subject) + "\n")
    use(monkeypatch, emu, {"client_id": APP_ID, "k8s_projected_volume_token_path": str(token_file)},
        login="federated_k8s")  # fmt: skip
    assert asyncio.run(DatabricksClustersHook().alist_clusters()) == []
    assert DatabricksClustersHook().current_user()["userName"] == APP_ID
    assert len(exchanges(emu)) == 1


def test_a_missing_token_file_says_so_and_sends_nothing(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "absent"
    use(monkeypatch, emu, {"federated_k8s": True, "client_id": APP_ID,
                           "k8s_projected_volume_token_path": str(missing)})  # fmt: skip
    with pytest.raises(SubjectTokenUnavailable, match=f"no token file at {missing}"):
        DatabricksClustersHook().list_clusters()
    assert emu.request_log == []


def test_aws_exchanges_an_sts_token_of_the_deployments_role(
    emu: Emulator, issuer: OidcIssuer, aws: AwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deployment's role, assumed in moto: its session is the subject STS signs for.
    iam = aws.client("iam")
    role = iam.create_role(RoleName="airflow-workers", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session = aws.client("sts").assume_role(RoleArn=role, RoleSessionName="worker")
    credentials = session["Credentials"]
    subject = session["AssumedRoleUser"]["Arn"]
    emu.add_federation_policy(**issuer.policy(subject, service_principal=APP_ID))
    with StsWebIdentity(issuer, aws.endpoint_url) as sts:
        keys = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
        monkeypatch.setenv("AIRFLOW_CONN_AWS_AIRFLOW", sts.connection_env(*keys))
        use(monkeypatch, emu, {"federated_aws": True, "aws_conn_id": "aws_airflow", "client_id": APP_ID})
        assert DatabricksClustersHook().current_user()["userName"] == APP_ID
        assert asyncio.run(DatabricksClustersHook().alist_clusters()) == []
        assert sts.calls == 1
    # The AWS secret never reached the workspace.
    secret = fingerprint(credentials["SecretAccessKey"])
    assert all(secret not in r["sent"] for r in emu.request_log)


def test_an_audience_the_policy_does_not_name_is_refused_for_aws(
    emu: Emulator, issuer: OidcIssuer, aws: AwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.add_federation_policy(
        # whom moto takes the access key "testing" for
        **issuer.policy("arn:aws:iam::123456789012:user/moto", service_principal=APP_ID)
    )
    with StsWebIdentity(issuer, aws.endpoint_url) as sts:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", sts.connection_env("testing", "testing"))
        use(
            monkeypatch,
            emu,
            {"client_id": APP_ID, "aws_jwt_audience": "not-databricks"},
            login="federated_aws",
        )
        with pytest.raises(PermissionDenied, match="Audience doesn't match"):
            DatabricksClustersHook().list_clusters()


@pytest.fixture
def kubernetes(
    issuer: OidcIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KubernetesApi]:
    with KubernetesApi(issuer, tmp_path) as api:
        for name, value in api.environment().items():
            monkeypatch.setenv(name, value)
        api.mount(tmp_path / "serviceaccount")
        yield api


def pod(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A federated_k8s extra that reads the pod's service account where ``kubernetes`` mounted it."""
    account = tmp_path / "serviceaccount"
    return {"federated_k8s": True, "client_id": APP_ID, "k8s_token_path": str(account / "token"),
            "k8s_namespace_path": str(account / "namespace"), **extra}  # fmt: skip


def test_kubernetes_without_a_projected_file_asks_the_api_server(
    emu: Emulator,
    issuer: OidcIssuer,
    kubernetes: KubernetesApi,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emu.add_federation_policy(
        **issuer.policy("system:serviceaccount:airflow:default", service_principal=APP_ID)
    )
    use(monkeypatch, emu, pod(tmp_path, audience="databricks", expiration_seconds=900))
    assert asyncio.run(DatabricksClustersHook().alist_clusters()) == []
    assert DatabricksClustersHook().current_user()["userName"] == APP_ID
    assert [r["body"]["spec"] for r in kubernetes.requests] == [
        {"audiences": ["databricks"], "expirationSeconds": 900}
    ]
    # The pod's own token went to the API server only.
    assert all(fingerprint(kubernetes.pod_token) not in r["sent"] for r in emu.request_log)


@pytest.mark.usefixtures("kubernetes")
def test_a_token_request_the_api_server_refuses_says_so_and_sends_nothing(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "serviceaccount" / "token").write_text("a-revoked-pod-token")
    use(monkeypatch, emu, pod(tmp_path))
    with pytest.raises(
        SubjectTokenUnavailable, match=r"refused the TokenRequest .*: HTTP 401 .*Unauthorized"
    ):
        DatabricksClustersHook().list_clusters()
    assert emu.request_log == []


@pytest.mark.parametrize(
    ("break_mount", "message"),
    [
        (lambda account: (account / "ca.crt").unlink(), r"no cluster CA at .*ca\.crt"),
        (lambda account: (account / "namespace").write_text("\n"), r"the namespace file .* is empty"),
    ],
    ids=["no-ca", "empty-namespace"],
)
@pytest.mark.usefixtures("kubernetes")
def test_a_pod_mount_without_what_a_token_request_needs_is_named(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, break_mount: Any, message: str
) -> None:
    break_mount(tmp_path / "serviceaccount")
    use(monkeypatch, emu, pod(tmp_path))
    with pytest.raises(SubjectTokenUnavailable, match=message):
        DatabricksClustersHook().list_clusters()
    assert emu.request_log == []
