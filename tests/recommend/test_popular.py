"""Popularity: the shared contract, its own known answer, and recency decay."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whyrec.data.schema import Dataset, IdMap
from whyrec.recommend.base import Recommender
from whyrec.recommend.popular import Popularity, PopularityConfig

from .contract import RecommenderContract


def _shop(rows: list[tuple[int, int, int]], n_users: int, n_items: int) -> Dataset:
    users, items, days = zip(*rows, strict=True)
    inter = pd.DataFrame({"user": users, "item": items, "timestamp": np.array(days) * 86_400, "event": "view", "rating": np.nan})
    return Dataset(inter, IdMap.from_raw(f"u{u}" for u in range(n_users)), IdMap.from_raw(f"i{i}" for i in range(n_items)))


class TestPopularity(RecommenderContract):
    model = "pop"
    observes_change = False  # scores are training counts, whoever the user is

    def make(self) -> Recommender:
        return Popularity()

    def test_known_answer_withheld_diagonal_first(self, fitted: Recommender, board: Dataset) -> None:
        # Popularity knows nothing of users: its known answer is the most popular unseen item.
        # On the checkerboard all items tie (n/2 - 1 users each), so ties go to the lowest unseen index.
        first = [r.items[0] for r in fitted.recommend(np.arange(board.n_users), k=1)]
        expected = [0 if u == 0 else 1 if u % 2 == 0 else 0 for u in range(board.n_users)]
        assert first == expected


def test_most_popular_unseen_item_first_and_repeat_events_count_once() -> None:
    # item 2: 3 users; item 1: 2 users but 5 events from user 0; item 0: 1 user.
    rows = [(0, 1, 1)] * 5 + [(1, 1, 2), (0, 2, 1), (1, 2, 1), (2, 2, 3), (3, 0, 4)]
    model = Popularity().fit(_shop(rows, 5, 3))
    np.testing.assert_array_equal(model.score(np.array([4]))[0], [1.0, 2.0, 3.0])
    assert model.recommend([4], k=3)[0].items.tolist() == [2, 1, 0]
    assert model.recommend([3], k=3)[0].items.tolist() == [2, 1]  # item 0 seen by user 3


def test_half_life_favours_recent_interest() -> None:
    # item 0: two users 100 days ago; item 1: one user today.
    rows = [(0, 0, 0), (1, 0, 0), (2, 1, 100)]
    shop = _shop(rows, 4, 2)
    assert Popularity().fit(shop).recommend([3], k=1)[0].items.tolist() == [0]
    decayed = Popularity(PopularityConfig(half_life_days=10.0)).fit(shop)
    np.testing.assert_allclose(decayed.score(np.array([3]))[0], [2 * 0.5**10, 1.0], rtol=1e-6)
    assert decayed.recommend([3], k=1)[0].items.tolist() == [1]
