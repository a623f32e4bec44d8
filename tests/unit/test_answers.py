"""Answers are checked where they enter: each endpoint's documented shape, or a MalformedAnswer that names
the endpoint and shows the start of the body, secrets replaced (no I/O)."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters import answers
from airflow_databricks_clusters.errors import MalformedAnswer

GET = ("GET", "/api/2.1/clusters/get")
LIST = ("GET", "/api/2.1/clusters/list")


def test_bodies_that_are_not_json_are_unreadable_not_messages() -> None:
    assert answers.decode_body(b"") == {}
    assert answers.decode_body(b'{"a": 1}') == {"a": 1}
    body = answers.decode_body(b"<html>502 Bad Gateway</html>")
    assert isinstance(body, answers.Unreadable) and body.text == "<html>502 Bad Gateway</html>"
    assert isinstance(answers.decode_body(b'{"cluster_id": "0123-4'), answers.Unreadable)


@pytest.mark.parametrize(
    "body", [{}, {"cluster_id": 7}, {"cluster_id": ""}, [], answers.Unreadable("<html>oops</html>")]
)
def test_a_create_answer_must_carry_a_string_cluster_id(body: object) -> None:
    with pytest.raises(
        MalformedAnswer, match=r"POST /api/2.1/clusters/create: HTTP 200: answered .*cluster_id"
    ):
        answers.created_cluster_id(body, "POST", "/api/2.1/clusters/create")
    assert answers.created_cluster_id({"cluster_id": "0123-abc"}, "POST", "/x") == "0123-abc"


@pytest.mark.parametrize(
    "body", [[{"state": "RUNNING"}], {"cluster_id": "c"}, {"state": None, "cluster_id": "c"}]
)
def test_a_get_answer_must_be_a_cluster_with_a_state(body: object) -> None:
    with pytest.raises(MalformedAnswer, match="clusters/get"):
        answers.cluster(body, *GET)
    assert answers.cluster({"cluster_id": "c", "state": "PENDING"}, *GET)["state"] == "PENDING"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"clusters": {}},
        {"clusters": [{"state": "RUNNING"}]},
        {"clusters": [], "next_page_token": 3},
        answers.Unreadable("<html/>"),
    ],
    ids=["empty-object", "clusters-not-a-list", "item-without-id", "token-not-a-string", "html"],
)
def test_a_list_page_that_cannot_be_read_is_never_no_clusters(body: object) -> None:
    with pytest.raises(MalformedAnswer, match="clusters/list"):
        answers.cluster_page(body, *LIST)


def test_a_list_page() -> None:
    page = answers.cluster_page({"clusters": [{"cluster_id": "a"}], "next_page_token": "2"}, *LIST)
    assert page == answers.ClusterPage([{"cluster_id": "a"}], "2")
    assert answers.cluster_page({"next_page_token": "", "prev_page_token": ""}, *LIST).clusters == []


def test_an_events_page() -> None:
    page = answers.event_page({"events": [{"type": "RUNNING"}], "next_page": {"offset": 1}}, "POST", "/e")
    assert page.events == [{"type": "RUNNING"}] and page.next_page == {"offset": 1}
    assert answers.event_page({"total_count": 0}, "POST", "/e") == answers.EventPage([], None)
    with pytest.raises(MalformedAnswer):
        answers.event_page({"events": "none"}, "POST", "/e")


def test_a_bad_body_is_shown_short_and_without_secrets() -> None:
    body = answers.Unreadable(
        '{"docker_image": {"basic_auth": {"username": "AWS", "password": "s3cr3t-pw"}}, "token": "dapi123",'
        " \"client_secret\": 'abc', authorization=Bearer-xyz " + "x" * 400
    )
    with pytest.raises(MalformedAnswer) as caught:
        answers.created_cluster_id(body, "POST", "/api/2.1/clusters/create")
    text = str(caught.value)
    for secret in ("s3cr3t-pw", "dapi123", "abc'", "Bearer-xyz"):
        assert secret not in text
    assert '"username": "AWS"' in text and text.endswith("...")
    assert len(text) < 400


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
    assert secret not in answers.redact(text)


# -- the one redaction rule: which keys hold secrets, and their values in structures and in text ----------

PW = "s3cr3t-docker-pw"


@pytest.mark.parametrize(
    "key",
    ["password", "Password", "PASSWORD", "passwd", "passphrase", "db_password", "client_secret", "token",
     "access_token", "Authorization", "credentials", "private_key", "PrivateKey", "api-key", "apikey",
     "spark.hadoop.fs.s3a.secret.key", "fs.s3a.access.key"],
)  # fmt: skip
def test_secret_keys_are_named_like_a_secret_in_any_case(key: str) -> None:
    assert answers.is_secret_key(key)


@pytest.mark.parametrize("key", ["username", "url", "ssh_public_keys", "docker_image", "basic_auth", 3, None])
def test_other_keys_are_not_secret(key: object) -> None:
    assert not answers.is_secret_key(key)


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

    redacted = answers.redact_value(value)
    assert PW not in json.dumps(redacted) and "12345678" not in json.dumps(redacted)
    assert "***" in json.dumps(redacted)
    assert PW in set(answers.secret_values(value)) or "12345678" in set(answers.secret_values(value))


def test_redact_value_keeps_everything_else_and_does_not_touch_its_input() -> None:
    spec = {"docker_image": {"url": "r/i", "basic_auth": {"username": "AWS", "password": PW}}, "n": 2}
    assert answers.redact_value(spec) == {
        "docker_image": {"url": "r/i", "basic_auth": {"username": "AWS", "password": "***"}},
        "n": 2,
    }
    assert spec["docker_image"]["basic_auth"]["password"] == PW
    assert answers.redact_value("no secret here {x}") == "no secret here {x}"
    # Empty values are shown as they are: "missing" is no secret, and it is what the user must fix.
    assert answers.redact_value({"password": None, "token": ""}) == {"password": None, "token": ""}


def test_secret_values_yield_the_escaped_and_the_plain_form_of_json_text() -> None:
    found = set(answers.secret_values('{"password": "a\\"quoted\\"pw", truncated'))
    assert {'a"quoted"pw', 'a\\"quoted\\"pw'} <= found


def test_redact_field_hides_a_whole_value_under_a_secret_name() -> None:
    assert answers.redact_field("spark_env_vars.DB_PASSWORD", ["x", PW]) == "***"
    assert answers.redact_field("docker_image.basic_auth", {"Username": "u", "Password": PW}) == {
        "Username": "u",
        "Password": "***",
    }
    assert answers.redact_field("num_workers", "two") == "two"


def test_a_bare_credential_under_an_auth_key_is_a_secret_an_object_is_judged_by_its_keys() -> None:
    assert answers.redact_value({"basic_auth": f"AWS:{PW}"}) == {"basic_auth": "***"}
    assert list(answers.secret_values({"docker_image": {"basic_auth": f"AWS:{PW}"}})) == [f"AWS:{PW}"]
    assert answers.redact_value({"basic_auth": {"username": "AWS", "password": PW}}) == {
        "basic_auth": {"username": "AWS", "password": "***"}
    }
    assert answers.redact_value({"author": "me", "authority": "x"}) == {"author": "me", "authority": "x"}
