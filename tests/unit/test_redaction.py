"""The one redaction rule: which keys hold secrets, and their values in structures and in text (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_databricks_clusters import redaction


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer dapi123abc", "dapi123abc"),
        ("authorization=Basic c3A6c3Atc2VjcmV0", "c3A6c3Atc2VjcmV0"),
        ('"spark.hadoop.fs.s3a.secret.key": "AKIAsecret"', "AKIAsecret"),
        ("echoed header Bearer dapiXYZ and more", "dapiXYZ"),
        ('{"access_token": "eyJhbGciOi"}', "eyJhbGciOi"),
    ],
)
def test_redact_removes_credentials_in_every_form_a_body_echoes_them(text: str, secret: str) -> None:
    assert secret not in redaction.redact(text)


# -- the one redaction rule: which keys hold secrets, and their values in structures and in text ----------

PW = "s3cr3t-docker-pw"


@pytest.mark.parametrize(
    "key",
    ["password", "Password", "PASSWORD", "passwd", "passphrase", "db_password", "client_secret", "token",
     "access_token", "Authorization", "credentials", "private_key", "PrivateKey", "api-key", "apikey",
     "spark.hadoop.fs.s3a.secret.key", "fs.s3a.access.key"],
)  # fmt: skip
def test_secret_keys_are_named_like_a_secret_in_any_case(key: str) -> None:
    assert redaction.is_secret_key(key)


@pytest.mark.parametrize("key", ["username", "url", "ssh_public_keys", "docker_image", "basic_auth", 3, None])
def test_other_keys_are_not_secret(key: object) -> None:
    assert not redaction.is_secret_key(key)


@pytest.mark.parametrize(
    "value",
    [
        {"docker_image": {"url": "r/i", "basic_auth": {"username": "AWS", "password": PW}}},
        {"URL": "r/i", "basic_auth": {"Username": "AWS", "Password": PW}},
        [{"deep": [{"client_secret": PW}]}],
        {"spark_env_vars": {"DB_PASSWORD": PW}},
        {"credentials": {"nested": PW}},
        {"token": 12345678, "Secret": [PW]},
        '{"docker_image": {"basic_auth": {"username": "AWS", "password": "' + PW + '"}}}',
        "{'URL': 'r/i', 'basic_auth': {'Username': 'AWS', 'Password': '" + PW + "'}}",
        {"cluster_json": '{"docker_image": {"basic_auth": {"password": "' + PW + '"}}}'},
        f"password={PW}&user=me",
    ],
    ids=["dict", "wrong-case", "lists", "env-var", "nested-under-secret", "non-strings", "json-text",
         "python-text", "json-text-inside", "query-text"],
)  # fmt: skip
def test_redact_value_hides_every_secret_at_any_depth_and_finds_it_for_masking(value: object) -> None:
    import json

    redacted = redaction.redact_value(value)
    assert PW not in json.dumps(redacted) and "12345678" not in json.dumps(redacted)
    assert "***" in json.dumps(redacted)
    assert PW in set(redaction.secret_values(value)) or "12345678" in set(redaction.secret_values(value))


def test_redact_value_keeps_everything_else_and_does_not_touch_its_input() -> None:
    spec = {"docker_image": {"url": "r/i", "basic_auth": {"username": "AWS", "password": PW}}, "n": 2}
    assert redaction.redact_value(spec) == {
        "docker_image": {"url": "r/i", "basic_auth": {"username": "AWS", "password": "***"}},
        "n": 2,
    }
    assert spec["docker_image"]["basic_auth"]["password"] == PW
    assert redaction.redact_value("no secret here {x}") == "no secret here {x}"
    # Empty values are shown as they are: "missing" is no secret, and it is what the user must fix.
    assert redaction.redact_value({"password": None, "token": ""}) == {"password": None, "token": ""}


def test_secret_values_yield_the_escaped_and_the_plain_form_of_json_text() -> None:
    found = set(redaction.secret_values('{"password": "a\\"quoted\\"pw", truncated'))
    assert {'a"quoted"pw', 'a\\"quoted\\"pw'} <= found


def test_redact_field_hides_a_whole_value_under_a_secret_name() -> None:
    assert redaction.redact_field("spark_env_vars.DB_PASSWORD", ["x", PW]) == "***"
    assert redaction.redact_field("docker_image.basic_auth", {"Username": "u", "Password": PW}) == {
        "Username": "u",
        "Password": "***",
    }
    assert redaction.redact_field("num_workers", "two") == "two"


def test_a_bare_credential_under_an_auth_key_is_a_secret_an_object_is_judged_by_its_keys() -> None:
    assert redaction.redact_value({"basic_auth": f"AWS:{PW}"}) == {"basic_auth": "***"}
    assert list(redaction.secret_values({"docker_image": {"basic_auth": f"AWS:{PW}"}})) == [f"AWS:{PW}"]
    assert redaction.redact_value({"basic_auth": {"username": "AWS", "password": PW}}) == {
        "basic_auth": {"username": "AWS", "password": "***"}
    }
    assert redaction.redact_value({"author": "me", "authority": "x"}) == {"author": "me", "authority": "x"}


# -- the rule covers Airflow's: every key Airflow's secrets masker hides is a secret here too ---------------


def airflows_masker() -> object:
    """Airflow's own secrets masker, configured as Airflow configures it: its default sensitive names."""
    try:
        from airflow.sdk._shared.secrets_masker import DEFAULT_SENSITIVE_FIELDS, SecretsMasker
    except ImportError:  # an Airflow that keeps it only in core
        from airflow._shared.secrets_masker import DEFAULT_SENSITIVE_FIELDS, SecretsMasker
    masker = SecretsMasker()
    masker.sensitive_variables_fields = list(DEFAULT_SENSITIVE_FIELDS)
    return masker


@settings(deadline=None)  # the first example imports Airflow's masker
@given(
    prefix=st.text(alphabet="abcXYZ_-. ", max_size=5),
    suffix=st.text(alphabet="abcXYZ_-. ", max_size=5),
    upper=st.booleans(),
)
def test_every_key_airflows_masker_hides_is_a_secret_here(prefix: str, suffix: str, upper: bool) -> None:
    masker: Any = airflows_masker()
    for name in masker.sensitive_variables_fields:
        # Airflow compares with non-word characters made "_": "api-key" is its "api_key".
        for written in (name, name.replace("_", "-"), name.replace("_", ".")):
            key = prefix + (written.upper() if upper else written) + suffix
            if masker.should_hide_value_for_key(key):
                assert redaction.is_secret_key(key), key


def test_airflows_names_are_the_rules_own_copy() -> None:
    # redaction.py holds a copy (the rule is pure: no Airflow); a name Airflow adds fails here until copied.
    masker: Any = airflows_masker()
    assert set(masker.sensitive_variables_fields) <= redaction.AIRFLOW_SENSITIVE_NAMES


@pytest.mark.parametrize(
    "key", ["dsn", "connection_string", "webhook_url", "service_account_json", "keyfile_dict", "http_proxy"]
)
def test_keys_airflow_hides_and_the_plugins_words_missed(key: str) -> None:
    assert redaction.is_secret_key(key)
    assert redaction.redact_value({key: "value-1234"}) == {key: redaction.REDACTED}


def test_the_deployments_sensitive_var_conn_names_are_secrets_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_databricks_clusters.hooks import DatabricksClustersHook, use_deployment_secret_names

    assert not redaction.is_secret_key("acme_shared_pin")
    monkeypatch.setenv("AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES", "acme_shared_pin, other_thing")
    use_deployment_secret_names.cache_clear()
    DatabricksClustersHook("any")  # every hook (and every create task's rendering) reads them once
    assert redaction.is_secret_key("ACME-shared-PIN")
    assert redaction.redact_value({"spark_env_vars": {"ACME_SHARED_PIN": "4321"}}) == {
        "spark_env_vars": {"ACME_SHARED_PIN": redaction.REDACTED}
    }
