"""add_users / forget_users: shoppers who arrive after training get personal rankings; forgotten ones leave no per-user state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from whyrec.data.sample import generate_sample
from whyrec.data.schema import Dataset
from whyrec.recommend.registry import get_recommender_class

FAST = {
    "pop": {},
    "itemknn": {},
    "mf": {"factors": 8, "iterations": 3, "num_threads": 1},
    "mf-bpr": {"algorithm": "bpr", "factors": 8, "iterations": 3, "num_threads": 1},
    "sasrec": {"epochs": 2, "hidden": 16, "num_threads": 1},
    "lightgcn": {"epochs": 2, "dim": 16, "num_threads": 1},
}


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return generate_sample(seed=5, n_users=60, n_items=50)


@pytest.mark.parametrize("key", sorted(FAST))
def test_new_user_is_observed_then_forgotten(shop: Dataset, key: str) -> None:
    model = get_recommender_class(key.split("-")[0]).from_options(FAST[key]).fit(shop)
    before = model.recommend([0], k=5)[0]
    model.add_users(2)
    new = shop.n_users
    assert model.n_users == shop.n_users + 2
    # the new user copies user 0's latest items
    history = shop.interactions[shop.interactions["user"] == 0].tail(5)
    model.observe(history.assign(user=new))
    [ranked] = model.recommend([new], k=5)
    assert not ranked.fallback and len(ranked.items) == 5
    assert not set(ranked.items) & set(history["item"]), "items the new user had are excluded"
    if key != "pop":  # a personal model scores the new user from their items: not all alike
        assert np.ptp(model.score([new])) > 0
    model.forget_users([new])
    assert model.seen[new].nnz == 0
    assert list(model.recommend([0], k=5)[0].items) == list(before.items), "other users are untouched"
    # observing an empty second new user is allowed and changes nothing
    model.observe(pd.DataFrame({"user": [new + 1], "item": [3], "timestamp": [1], "event": ["view"], "rating": [np.nan]}))
    assert model.seen[new + 1].nnz == 1
