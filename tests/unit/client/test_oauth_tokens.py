"""OAuth tokens shared by every hook of a process, never across secrets, renewed before they expire."""

from __future__ import annotations

from airflow_databricks_clusters.client.oauth_tokens import DEFAULT_LIFETIME_SECONDS, TokenCache, TokenKey

KEY = TokenKey.of("https://dbc-1.cloud.databricks.com", "sp", "secret")


def test_a_token_is_served_until_the_margin_before_it_expires() -> None:
    cache = TokenCache(margin_seconds=60)
    cache.put(KEY, "t1", 3600, now=0.0)
    assert cache.get(KEY, 3539.0) == "t1"
    assert cache.get(KEY, 3540.0) is None


def test_an_answer_without_a_lifetime_counts_as_an_hour() -> None:
    cache = TokenCache(margin_seconds=0)
    cache.put(KEY, "t1", None, now=0.0)
    assert cache.get(KEY, DEFAULT_LIFETIME_SECONDS - 1) == "t1"


def test_another_secret_or_workspace_never_borrows_the_token() -> None:
    cache = TokenCache()
    cache.put(KEY, "t1", 3600, now=0.0)
    assert cache.get(TokenKey.of(KEY.base_url, "sp", "wrong"), 1.0) is None
    assert cache.get(TokenKey.of("https://dbc-2.cloud.databricks.com", "sp", "secret"), 1.0) is None
    assert "'secret'" not in repr(KEY)


def test_a_refused_token_is_forgotten_but_a_newer_one_stays() -> None:
    cache = TokenCache()
    cache.put(KEY, "t1", 3600, now=0.0)
    cache.forget(KEY, "t1")
    assert cache.get(KEY, 1.0) is None
    cache.put(KEY, "t2", 3600, now=0.0)
    cache.forget(KEY, "t1")
    assert cache.get(KEY, 1.0) == "t2"
