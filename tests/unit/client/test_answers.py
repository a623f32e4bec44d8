"""Answers are checked where they enter: each endpoint's documented shape, or a MalformedAnswer that names
the endpoint and shows the start of the body, secrets replaced (no I/O)."""

from __future__ import annotations

import pytest

from airflow_databricks_clusters.client import answers
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
