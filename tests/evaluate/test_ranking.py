"""Ranking metrics: hand-worked values, sklearn's NDCG as reference, invariants, and MovieLens-100K."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from whyrec.errors import DataError
from whyrec.evaluate.ranking import coverage, hit_rate, mrr, ndcg, ranking_metrics, recall
from whyrec.recommend.ranks import metrics_from_ranks, rank_of_target

LOG2_3 = math.log2(3)


# ---- hand-worked -------------------------------------------------------------------------------
def test_single_user_values_worked_by_hand():
    ranked = [3, 1, 4, 5, 9]
    relevant = {1, 9, 7}  # hits at 1-based ranks 2 and 5; item 7 is never ranked
    # k=5: DCG = 1/log2(3) + 1/log2(6) = 0.63093 + 0.38685 = 1.01778
    #      IDCG over min(3, 5) = 3 items = 1 + 1/log2(3) + 1/log2(4) = 2.13093 -> NDCG = 0.47762
    assert ndcg(ranked, relevant, 5) == pytest.approx((1 / LOG2_3 + 1 / math.log2(6)) / (1 + 1 / LOG2_3 + 0.5))
    assert ndcg(ranked, relevant, 5) == pytest.approx(0.4776237, abs=1e-7)
    assert hit_rate(ranked, relevant, 5) == 1.0
    assert recall(ranked, relevant, 5) == pytest.approx(2 / 3)  # 2 of the 3 relevant items found
    assert mrr(ranked, relevant, 5) == 0.5  # first hit at rank 2
    # k=2: DCG = 1/log2(3) = 0.63093; IDCG over min(3, 2) = 2 items = 1 + 0.63093 -> 0.38685
    assert ndcg(ranked, relevant, 2) == pytest.approx(0.3868528, abs=1e-7)
    assert recall(ranked, relevant, 2) == pytest.approx(1 / 3)
    # k=1: item 3 is not relevant, every metric is 0
    assert (hit_rate(ranked, relevant, 1), ndcg(ranked, relevant, 1), mrr(ranked, relevant, 1)) == (0.0, 0.0, 0.0)


def test_leave_one_out_values_worked_by_hand():
    # target at rank 3: NDCG = 1/log2(3 + 1) = 0.5 (IDCG = 1), MRR = 1/3
    assert ndcg([7, 2, 5], {5}, 3) == 0.5
    assert mrr([7, 2, 5], {5}, 3) == pytest.approx(1 / 3)
    assert ndcg([7, 2, 5], {5}, 2) == 0.0
    # short list padded with -1: padding never counts
    assert hit_rate([7, -1, -1], {5}, 3) == 0.0


def test_batch_values_worked_by_hand():
    ranked = np.array([[3, 1, 4, 5, 9], [7, 2, 5, -1, -1]])
    out = ranking_metrics(ranked, [np.array([1, 9, 7]), np.array([5])], ks=(2, 5), n_items=10)
    # user 0 from the test above; user 1: target at rank 3, outside @2
    assert out["hr@2"] == 0.5
    assert out["ndcg@5"] == pytest.approx((0.4776237 + 0.5) / 2, abs=1e-7)
    assert out["recall@5"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["mrr@5"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert out["coverage@2"] == 0.4  # {3, 1, 7, 2} of 10 items
    assert out["coverage@5"] == 0.7  # {1, 2, 3, 4, 5, 7, 9}
    assert list(out) == [f"{m}@{k}" for k in (2, 5) for m in ("hr", "ndcg", "recall", "mrr", "coverage")]


def test_leave_one_out_array_form_equals_list_form():
    ranked = np.array([[3, 1, 4], [7, 2, 5]])
    assert ranking_metrics(ranked, np.array([4, 2]), ks=(3,), n_items=8) == ranking_metrics(
        ranked, [np.array([4]), np.array([2])], ks=(3,), n_items=8
    )


def test_coverage_worked_by_hand():
    lists = [[0, 1, 2], [1, 2, 3]]
    assert coverage(lists, 10, 2) == 0.3  # {0, 1, 2}
    assert coverage(lists, 10, 3) == 0.4  # {0, 1, 2, 3}


# ---- reference implementation ---------------------------------------------------------------------
def test_ndcg_matches_sklearn_on_random_scores():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 50, 40, 10
    scores = rng.random((n_users, n_items))  # continuous: no ties, so sklearn's tie averaging is inert
    truth = rng.random((n_users, n_items)) < 0.1
    truth[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # every user has a relevant item
    ranked = np.argsort(-scores, axis=1)[:, :k]
    relevant = [np.flatnonzero(row) for row in truth]
    ours = ranking_metrics(ranked, relevant, ks=(k,), n_items=n_items)["ndcg@10"]
    assert ours == pytest.approx(ndcg_score(truth.astype(int), scores, k=k), abs=1e-12)


# ---- invariants ---------------------------------------------------------------------------------
@st.composite
def ranked_and_relevant(draw, n_items=30, max_k=12):
    """One user's ranked list (distinct items) and a non-empty relevant set, over a small catalog."""
    items = draw(st.permutations(range(n_items)))
    length = draw(st.integers(1, max_k))
    relevant = draw(st.sets(st.integers(0, n_items - 1), min_size=1, max_size=8))
    return list(items[:length]), relevant


@settings(max_examples=100, deadline=None)
@given(ranked_and_relevant(), st.integers(1, 12))
def test_metrics_bounded_and_consistent(case, k):
    ranked, relevant = case
    values = [f(ranked, relevant, k) for f in (hit_rate, ndcg, recall, mrr)]
    assert all(0.0 <= v <= 1.0 for v in values)
    hr, nd, rc, rr = values
    assert nd <= hr + 1e-12 and rr <= hr and rc <= hr  # nothing scores without a hit
    assert (hr == 0.0) == (nd == 0.0) == (rr == 0.0)


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(0, 29), min_size=1, max_size=8), st.integers(1, 12))
def test_perfect_ranking_scores_one(relevant, k):
    others = [i for i in range(30) if i not in relevant]
    ranked = sorted(relevant) + others  # every relevant item ahead of every other
    assert ndcg(ranked, relevant, k) == pytest.approx(1.0)
    assert hit_rate(ranked, relevant, k) == mrr(ranked, relevant, k) == 1.0
    assert recall(ranked, relevant, k) == pytest.approx(min(len(relevant), k) / len(relevant))


@settings(max_examples=100, deadline=None)
@given(st.permutations(range(20)), st.integers(0, 19), st.integers(1, 20))
def test_single_target_hr_at_least_ndcg(ranked, target, k):
    assert hit_rate(ranked, {target}, k) >= ndcg(ranked, {target}, k) >= 0.0


@settings(max_examples=100, deadline=None)
@given(ranked_and_relevant())
def test_hr_and_recall_monotone_in_k(case):
    ranked, relevant = case
    for f in (hit_rate, recall):
        values = [f(ranked, relevant, k) for k in range(1, 13)]
        assert values == sorted(values)


@st.composite
def batch(draw, n_items=25, width=10):
    n_users = draw(st.integers(1, 8))
    rows = [draw(st.permutations(range(n_items)))[:width] for _ in range(n_users)]
    relevant = [np.array(sorted(draw(st.sets(st.integers(0, n_items - 1), min_size=1, max_size=5)))) for _ in rows]
    return np.array(rows), relevant, n_items


@settings(max_examples=50, deadline=None)
@given(batch(), st.randoms(use_true_random=False))
def test_batch_is_mean_of_single_user_values_and_user_order_free(case, rnd):
    ranked, relevant, n_items = case
    out = ranking_metrics(ranked, relevant, ks=(3, 10), n_items=n_items)
    for k in (3, 10):
        for name, f in (("hr", hit_rate), ("ndcg", ndcg), ("recall", recall), ("mrr", mrr)):
            expected = np.mean([f(r, set(rel.tolist()), k) for r, rel in zip(ranked, relevant, strict=True)])
            assert out[f"{name}@{k}"] == pytest.approx(expected)
        assert out[f"coverage@{k}"] == pytest.approx(coverage(ranked, n_items, k))
    order = list(range(len(ranked)))
    rnd.shuffle(order)
    shuffled = ranking_metrics(ranked[order], [relevant[i] for i in order], ks=(3, 10), n_items=n_items)
    assert shuffled == pytest.approx(out)


def test_batch_rejects_bad_input():
    ranked = np.array([[1, 2, 3]])
    with pytest.raises(DataError, match="too few") as err:
        ranking_metrics(ranked, np.array([1]), ks=(5,), n_items=10)
    assert err.value.field == "ranked"
    with pytest.raises(DataError, match="repeats"):
        ranking_metrics(np.array([[1, 2, 1]]), np.array([1]), ks=(3,), n_items=10)
    with pytest.raises(DataError, match="no relevant") as err:
        ranking_metrics(ranked, [np.array([], dtype=int)], ks=(3,), n_items=10)
    assert err.value.field == "relevant"
    with pytest.raises(DataError):
        ranking_metrics(ranked, [np.array([10])], ks=(3,), n_items=10)  # would alias another user's item
    with pytest.raises(DataError):
        ndcg([1, 2], set(), 2)


# ---- real data: MovieLens-100K u1 --------------------------------------------------------------------
def test_full_ranking_on_movielens(datasets_dir):
    """Popularity vs a constant scorer, leave-one-out on u1: the top-k path and the rank path agree."""
    base = np.loadtxt(datasets_dir / "movielens-100k" / "u1.base", dtype=np.int64)[:, [0, 1, 3]] - [1, 1, 0]
    test = np.loadtxt(datasets_dir / "movielens-100k" / "u1.test", dtype=np.int64)[:, [0, 1, 3]] - [1, 1, 0]
    n_users, n_items = 943, 1682
    # each test user's latest test item is the target
    test = test[np.lexsort((test[:, 2], test[:, 0]))]
    last = np.r_[test[1:, 0] != test[:-1, 0], True]
    users, targets = test[last, 0], test[last, 1]
    seen = sp.csr_matrix((np.ones(len(base)), (base[:, 0], base[:, 1])), shape=(n_users, n_items))[users]
    popularity = np.bincount(base[:, 1], minlength=n_items).astype(np.float64)
    # distinct scores (popularity, then lower id first) so both paths order ties the same way
    scores = np.tile(popularity * n_items - np.arange(n_items), (len(users), 1))

    ranks = rank_of_target(scores, targets, seen)
    masked = np.where(seen.toarray() > 0, -np.inf, scores)
    ranked = np.argsort(-masked, axis=1, kind="stable")[:, :10]
    from_lists = ranking_metrics(ranked, targets, ks=(5, 10), n_items=n_items)
    from_ranks = metrics_from_ranks(ranks, ks=(5, 10))
    for key, value in from_ranks.items():
        assert from_lists[key] == pytest.approx(value)
    assert from_lists["recall@10"] == from_lists["hr@10"]  # one target per user
    assert from_ranks["hr@10"] > 5 * 10 / n_items  # popularity beats a random ranking by far
    assert 0.0 < from_lists["coverage@10"] < 0.05  # ... and shows a sliver of the catalog

    constant = rank_of_target(np.zeros_like(scores), targets, seen)
    assert metrics_from_ranks(constant, ks=(10,))["hr@10"] == 0.0
