"""ItemKNN: the shared contract, and its similarity checked against a dense computation on MovieLens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whyrec.data.schema import Dataset, IdMap
from whyrec.recommend.base import Recommender, interaction_matrix
from whyrec.recommend.itemknn import ItemKNN, ItemKNNConfig, item_similarity

from .contract import RecommenderContract, movielens_100k


class TestItemKNN(RecommenderContract):
    model = "itemknn"

    def make(self) -> Recommender:
        return ItemKNN(ItemKNNConfig(k=20, shrink=1.0))


@pytest.fixture(scope="module")
def movielens_slice(datasets_dir: Path) -> Dataset:
    return movielens_100k(datasets_dir, nrows=5000)


def _dense_shrunk_cosine(seen: np.ndarray, shrink: float) -> np.ndarray:
    co = seen.T @ seen
    n = np.diag(co).copy()
    sim = co / (np.sqrt(np.outer(n, n)) + shrink)
    np.fill_diagonal(sim, 0.0)
    return sim


def test_similarity_equals_dense_formula_on_movielens(movielens_slice: Dataset) -> None:
    d = movielens_slice
    seen = interaction_matrix(d.interactions, d.n_users, d.n_items)
    expected = _dense_shrunk_cosine(seen.toarray().astype(np.float64), shrink=5.0)
    full = item_similarity(seen, k=d.n_items, shrink=5.0).toarray()
    np.testing.assert_allclose(full, expected, rtol=1e-5, atol=1e-7)


def test_pruning_keeps_each_rows_k_largest(movielens_slice: Dataset) -> None:
    d = movielens_slice
    seen = interaction_matrix(d.interactions, d.n_users, d.n_items)
    full = item_similarity(seen, k=d.n_items, shrink=5.0).toarray()
    pruned = item_similarity(seen, k=7, shrink=5.0)
    assert np.diff(pruned.indptr).max() == 7
    for row in range(0, d.n_items, 37):
        kept = pruned[row].toarray().ravel()
        nonzero = np.count_nonzero(full[row])
        assert np.count_nonzero(kept) == min(7, nonzero)
        if nonzero > 7:  # every dropped value is at most the smallest kept one
            assert full[row][kept == 0].max() <= kept[kept > 0].min() + 1e-7
        np.testing.assert_allclose(kept[kept > 0], full[row][kept > 0], rtol=1e-6)


def test_scores_are_sums_of_history_contributions(movielens_slice: Dataset) -> None:
    model = ItemKNN(ItemKNNConfig(k=50, shrink=2.0)).fit(movielens_slice)
    user = int(movielens_slice.interactions["user"].value_counts().index[0])  # the heaviest user
    ranked = model.recommend([user], k=5)[0]
    for item, score in zip(ranked.items, ranked.scores, strict=True):
        history, sims = model.contributions(user, int(item))
        assert len(history) > 0 and np.all(np.diff(sims) <= 0)
        assert set(history.tolist()) <= set(model.seen[user].indices.tolist())
        assert sims.sum() == pytest.approx(float(score), rel=1e-5)


def test_shrink_lowers_similarities_backed_by_few_users() -> None:
    # items 0 and 1 share 1 of 1 users; items 2 and 3 share 10 of 10: both cosine 1 before shrinkage.
    rows = [(0, 0), (0, 1)] + [(u, i) for u in range(1, 11) for i in (2, 3)]
    inter = pd.DataFrame(
        {"user": [r[0] for r in rows], "item": [r[1] for r in rows], "timestamp": 0, "event": "view", "rating": np.nan}
    )
    shop = Dataset(inter, IdMap.from_raw(map(str, range(11))), IdMap.from_raw(map(str, range(4))))
    seen = interaction_matrix(shop.interactions, 11, 4)
    plain = item_similarity(seen, k=10, shrink=0.0).toarray()
    shrunk = item_similarity(seen, k=10, shrink=2.0).toarray()
    assert plain[0, 1] == pytest.approx(1.0) and plain[2, 3] == pytest.approx(1.0)
    assert shrunk[0, 1] == pytest.approx(1 / 3) and shrunk[2, 3] == pytest.approx(10 / 12)
