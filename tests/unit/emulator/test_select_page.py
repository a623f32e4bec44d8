"""``select_page`` (items in any order) answers exactly what ``paged`` answers for the same items sorted:
the same page, the same tokens, the same refusal of a bad token, also for a cursor whose item is gone."""

from __future__ import annotations

import random
from typing import Any

import pytest

from airflow_databricks_clusters.emulator.api_errors import ApiError
from airflow_databricks_clusters.emulator.request_params import paged, select_page

Item = dict[str, Any]


def _key(item: Item) -> tuple[Any, ...]:
    return item["rank"], item["name"], item["id"]


def _items(rng: random.Random, count: int) -> list[Item]:
    return [{"rank": rng.randint(0, 3), "name": rng.choice("abc"), "id": f"id-{n:03}"} for n in range(count)]


def _tokens(items: list[Item], size: int, descending: bool) -> list[str]:
    """Every token met walking the sorted items page by page, forwards then backwards."""
    ordered = sorted(items, key=_key, reverse=descending)
    found, token = [], ""
    while True:
        _, following, preceding = paged(ordered, _key, token, size, descending=descending, list_name="things")
        found += [preceding] if preceding else []
        if not following:
            break
        found.append(following)
        token = following
    return found


@pytest.mark.parametrize("seed", range(20))
def test_it_answers_what_paged_answers_for_the_sorted_items(seed: int) -> None:
    rng = random.Random(seed)
    everything = _items(rng, rng.randint(0, 40))
    size = rng.randint(1, 7)
    descending = rng.random() < 0.5
    # Tokens of the whole list, used on a list some items have left: cursors whose item is gone.
    tokens = ["", *_tokens(everything, size, descending)]
    items = [item for item in everything if rng.random() < 0.8]
    rng.shuffle(items)
    ordered = sorted(items, key=_key, reverse=descending)
    for token in tokens:
        expected = paged(ordered, _key, token, size, descending=descending, list_name="things")
        assert select_page(items, _key, token, size, descending=descending, list_name="things") == expected


@pytest.mark.parametrize("token", ["not-a-token", "e30"])
def test_a_bad_token_is_refused_alike(token: str) -> None:
    items = _items(random.Random(0), 5)
    with pytest.raises(ApiError) as ours:
        select_page(items, _key, token, 2, descending=False, list_name="things")
    with pytest.raises(ApiError) as theirs:
        paged(sorted(items, key=_key), _key, token, 2, descending=False, list_name="things")
    assert ours.value.body() == theirs.value.body()
