"""Held-out ranks: ties count against the target, exclusion, bad input, and the metrics of those ranks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from whyrec.errors import DataError
from whyrec.recommend.ranks import metrics_from_ranks, rank_of_target


def test_rank_of_target_worked_by_hand():
    scores = np.array([[0.1, 0.5, 0.5, 0.9]])
    # target item 2 (0.5): item 3 scores higher, item 1 ties -> pessimistic rank 2 (0-based)
    assert rank_of_target(scores, np.array([2])).tolist() == [2]
    dense = np.array([[False, False, False, True]])
    assert rank_of_target(scores, np.array([2]), dense).tolist() == [1]  # item 3 excluded
    assert rank_of_target(scores, np.array([2]), sp.csr_matrix(dense)).tolist() == [1]


def test_constant_scores_get_the_worst_rank_not_a_perfect_one():
    n_users, n_items = 6, 50
    scores = np.zeros((n_users, n_items), dtype=np.float32)
    seen = np.zeros((n_users, n_items), dtype=bool)
    seen[:, :5] = True
    target = np.arange(n_users) + 10
    ranks = rank_of_target(scores, target, seen)
    assert ranks.tolist() == [n_items - 5 - 1] * n_users  # behind every other candidate
    out = metrics_from_ranks(ranks, ks=(10,))
    assert out == {"hr@10": 0.0, "ndcg@10": 0.0, "mrr@10": 0.0}


def test_rank_of_target_rejects_bad_input():
    scores = np.array([[0.1, np.nan, 0.3]])
    with pytest.raises(DataError, match="NaN") as err:
        rank_of_target(scores, np.array([0]))
    assert err.value.field == "scores"
    with pytest.raises(DataError, match="own target"):
        rank_of_target(np.ones((1, 3)), np.array([1]), np.array([[False, True, False]]))
    with pytest.raises(DataError) as err:
        rank_of_target(np.ones((1, 3)), np.array([3]))
    assert err.value.field == "target"
