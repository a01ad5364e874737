"""Attribution: exact itemknn terms, occlusion/LIME finding the responsible history item, every registered model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whyrec.data.schema import Dataset
from whyrec.errors import ConfigError, NotFoundError
from whyrec.recommend.attribution import Attribution, attribute, history_weights
from whyrec.recommend.base import Recommender
from whyrec.recommend.content import ContentConfig, ContentRecommender
from whyrec.recommend.itemknn import ItemKNN, ItemKNNConfig
from whyrec.recommend.lightgcn import LightGCN, LightGCNConfig
from whyrec.recommend.mf import MatrixFactorization, MFConfig
from whyrec.recommend.popular import Popularity
from whyrec.recommend.registry import RECOMMENDERS
from whyrec.recommend.sasrec import SASRec, SASRecConfig

from .contract import checkerboard, movielens_100k

# The contract tests' small settings: each fits the checkerboard in seconds on one thread.
MODELS: dict[str, Callable[[], Recommender]] = {
    "pop": Popularity,
    "itemknn": lambda: ItemKNN(ItemKNNConfig(k=20, shrink=1.0)),
    "mf": lambda: MatrixFactorization(MFConfig(factors=3, regularization=0.1, iterations=10, alpha=5.0, num_threads=1)),
    "lightgcn": lambda: LightGCN(LightGCNConfig(dim=16, epochs=40, batch_size=256, lr=0.01, num_threads=1)),
    "sasrec": lambda: SASRec(
        SASRecConfig(hidden=16, blocks=1, max_len=20, dropout=0.2, batch_size=8, lr=0.01, num_threads=1, epochs=15)
    ),
    "content": lambda: ContentRecommender(ContentConfig(num_threads=1)),
}
USER, ODD_ITEM, ODD_TARGETS = 2, 7, [9, 11, 13]  # an even user who then bought one odd item


def test_every_registered_model_is_covered() -> None:
    assert set(MODELS) == set(RECOMMENDERS)


@pytest.fixture(scope="module", params=sorted(MODELS))
def observed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recommender:
    """A model fitted on the checkerboard, after USER (all even items) also bought ODD_ITEM.

    Odd items are only ever co-consumed with odd items, so ODD_ITEM is the one history item
    responsible for any odd item's score: the known answer an attribution must find.
    """
    board = checkerboard()
    fitted = MODELS[request.param]().fit(board)
    model = Recommender.load(fitted.save(tmp_path_factory.mktemp(request.param)))
    last = int(board.interactions["timestamp"].max())
    model.observe(
        pd.DataFrame({"user": [USER], "item": [ODD_ITEM], "timestamp": [last + 1], "event": "purchase", "rating": [np.nan]})
    )
    return model


def test_attribution_finds_the_responsible_history_item(observed: Recommender) -> None:
    faithful = [m for m in observed.attribution_methods if m not in ("attention", "none")]
    if not faithful:  # popularity: scores ignore the history, so nothing is attributed
        assert attribute(observed, USER, ODD_TARGETS) == [Attribution("none", [])] * len(ODD_TARGETS)
        return
    for method in ["auto", *faithful]:
        for result in attribute(observed, USER, ODD_TARGETS, top=3, method=method):
            assert result.method == (faithful[0] if method == "auto" else method)
            assert result.history[0][0] == ODD_ITEM, (method, result)
            weights = [w for _, w in result.history]
            assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)


def test_scoring_the_own_history_reproduces_scores_and_changes_nothing(observed: Recommender) -> None:
    items = np.arange(observed.n_items)
    before = observed.score(np.array([USER]))
    # After observe() every model's state for USER is what its fold-in makes of this history (ALS re-solved).
    own = observed.score_histories(USER, [observed.history(USER)], items)
    np.testing.assert_allclose(own, before, atol=1e-5)
    fewer = observed.score_histories(USER, [observed.history(USER)[1:], np.array([ODD_ITEM])], items)
    assert fewer.shape == (2, observed.n_items) and fewer.dtype == np.float32
    np.testing.assert_array_equal(observed.score(np.array([USER])), before)


def test_attribution_is_deterministic(observed: Recommender) -> None:
    for method in observed.attribution_methods:
        first = attribute(observed, USER, ODD_TARGETS + [4], top=5, method=method)
        assert attribute(observed, USER, ODD_TARGETS + [4], top=5, method=method) == first


def test_unknown_user_unknown_item_and_unoffered_method(observed: Recommender) -> None:
    assert attribute(observed, -1, ODD_TARGETS) == [Attribution("none", [])] * len(ODD_TARGETS)
    assert attribute(observed, observed.n_users, [ODD_TARGETS[0]]) == [Attribution("none", [])]
    with pytest.raises(NotFoundError):
        attribute(observed, USER, [observed.n_items])
    with pytest.raises(ConfigError, match="offers"):
        attribute(observed, USER, ODD_TARGETS, method="attention" if observed.name != "sasrec" else "exact")


@pytest.fixture(scope="module")
def movielens_knn(datasets_dir: Path) -> tuple[Dataset, ItemKNN]:
    data = movielens_100k(datasets_dir, nrows=5000)
    return data, ItemKNN(ItemKNNConfig(k=50, shrink=2.0)).fit(data)


def test_itemknn_exact_terms_sum_to_the_score(movielens_knn: tuple[Dataset, ItemKNN]) -> None:
    data, model = movielens_knn
    for ranked in model.recommend(np.arange(0, data.n_users, 7), k=10):
        method, _, weights = history_weights(model, ranked.user, ranked.items)
        assert method == "exact"
        np.testing.assert_allclose(weights.sum(axis=1), ranked.scores, rtol=1e-5)
        # The score is linear in the history, so occlusion finds exactly the same terms.
        _, _, occluded = history_weights(model, ranked.user, ranked.items, method="occlusion")
        np.testing.assert_allclose(occluded, weights, atol=1e-5)
        top = attribute(model, ranked.user, ranked.items, top=3)
        for row, result in zip(weights, top, strict=True):
            assert [w for _, w in result.history] == pytest.approx(sorted(row[row > 0], reverse=True)[:3], rel=1e-6)


def test_lime_recovers_the_exact_terms_of_a_linear_model(movielens_knn: tuple[Dataset, ItemKNN]) -> None:
    _, model = movielens_knn
    [ranked] = model.recommend([3], k=5)
    _, _, exact = history_weights(model, 3, ranked.items)
    _, _, lime = history_weights(model, 3, ranked.items, method="lime")
    for e, fit in zip(exact, lime, strict=True):
        assert np.corrcoef(e, fit)[0, 1] > 0.95
        assert np.argmax(fit) == np.argmax(e)


def test_sasrec_attention_is_a_distribution_over_the_history(tmp_path: Path) -> None:
    model = MODELS["sasrec"]().fit(checkerboard())
    method, history, weights = history_weights(model, 5, [1, 3, 4], method="attention")
    assert method == "attention" and len(history) == len(model.history(5))
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(weights[0], weights[1])  # the same for every item: why it is only a first pass


def test_als_downdates_equal_re_solving_each_shortened_history(datasets_dir: Path) -> None:
    data = movielens_100k(datasets_dir, nrows=5000)
    model = MatrixFactorization(MFConfig(factors=16, iterations=5, num_threads=1)).fit(data)
    for user in (0, 7, 42):
        history = model.history(user)
        fast = model.score_without_each(user, history)
        slow = Recommender.score_without_each(model, user, history)  # one implicit re-solve per history
        assert fast.shape == (len(history) + 1, model.n_items)
        np.testing.assert_allclose(fast, slow, atol=2e-4 * float(np.abs(slow).max()))


def test_aspect_credit_sums_the_weights_of_history_items_sharing_an_aspect() -> None:
    from whyrec.recommend.attribution import aspect_credit

    history = [("tent", 0.5), ("stove", 0.25), ("sock", -0.5)]
    aspects = {"tent": {"weight", "zipper"}, "stove": {"weight"}, "sock": {"weight", "warmth"}}
    # negative credit never supports a claim; aspects the item lacks are not shared
    assert aspect_credit(history, aspects, {"weight", "warmth"}) == [("weight", 0.75)]
    assert aspect_credit(history, aspects, {"zipper", "weight"}, top=1) == [("weight", 0.75)]
    assert aspect_credit(history, aspects, {"battery"}) == []
