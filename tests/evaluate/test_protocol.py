"""The evaluation protocol: hand-worked ranks on a tiny shop, and agreement with what `recommend` shows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommend.contract import movielens_100k  # tests/ is on sys.path (pytest rootdir insertion)
from whyrec.data.schema import Dataset, IdMap
from whyrec.data.split import leave_last_out, temporal
from whyrec.errors import ConfigError
from whyrec.evaluate.protocol import evaluate_ranking
from whyrec.recommend.base import Recommender, TrainData
from whyrec.recommend.mf import MatrixFactorization, MFConfig
from whyrec.recommend.validation import validation_ndcg


class FixedScores(Recommender):
    """A model whose scores are a given (n_users, n_items) table, to work ranks out by hand."""

    name = "fixed"

    def __init__(self, table: np.ndarray, cold: bool = False) -> None:
        super().__init__()
        self.table = table.astype(np.float32)
        self.scores_cold_items = cold

    def _fit(self, data: TrainData) -> None:
        pass

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        rows = self.table[np.asarray(user_ids)]
        return rows if item_ids is None else rows[:, np.asarray(item_ids)]

    def _state(self) -> dict[str, np.ndarray]:
        return {"table": self.table}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.table = state["table"]


# user: items in time order -> leave-last-out train = all but the last two, valid, test.
#   u0: 0 1 2 3  train {0, 1}, valid 2, test 3
#   u1: 3 4 5 0  train {3, 4}, valid 5, test 0
#   u2: 1 5 2 1  train {1, 5}, valid 2, test 1  (a repeat: u2 had item 1 already)
# Item 2 is only ever a valid item, so it has no training events: a cold item.
SEQUENCES = {0: [0, 1, 2, 3], 1: [3, 4, 5, 0], 2: [1, 5, 2, 1]}
TABLE = np.array(
    [
        [9, 9, 9, 1, 2, 0],  # u0: history {0,1,2} out; candidates 3, 4, 5; target 3 is beaten by 4 -> rank 1
        [5, 7, 9, 0, 0, 0],  # u1: history {3,4,5} out; 1 beats target 0; cold 2 (9) only counts if scorable
        [0, 3, 0, 0, 3, 0],  # u2: target 1 ties item 4; ties count against the target -> rank 1
    ]
)


@pytest.fixture
def tiny() -> Dataset:
    rows = [(u, i, t) for u, seq in SEQUENCES.items() for t, i in enumerate(seq)]
    inter = pd.DataFrame(rows, columns=["user", "item", "timestamp"]).assign(event="purchase", rating=np.nan)
    return Dataset(inter, IdMap.from_raw(f"u{u}" for u in range(3)), IdMap.from_raw(f"i{i}" for i in range(6)))


def _evaluate(tiny: Dataset, **kwargs: object) -> dict:
    split = leave_last_out(tiny)
    model = FixedScores(TABLE, cold=bool(kwargs.pop("cold", False))).fit(tiny, split)
    return evaluate_ranking(model, tiny, split, ks=(1, 2), **kwargs)


def test_hand_worked_ranks_with_history_excluded_and_repeats_dropped(tiny: Dataset) -> None:
    out = _evaluate(tiny)
    # u0 and u1 at rank 1 (0-based); u2's repeat target is dropped.
    assert out["users"] == 2 and out["repeat_targets"] == 1 and out["cold_targets"] == 0
    assert out["hr@1"] == 0.0 and out["hr@2"] == 1.0
    assert out["ndcg@2"] == pytest.approx(1 / math.log2(3))
    assert out["mrr"] == pytest.approx(0.5)
    # Top-2 lists: u0 -> [4, 3], u1 -> [1, 0]: 4 distinct items of 6.
    assert out["coverage@2"] == pytest.approx(4 / 6)


def test_repeat_targets_can_be_kept_as_candidates(tiny: Dataset) -> None:
    out = _evaluate(tiny, repeats="candidate")
    assert out["users"] == 3
    assert out["hr@2"] == 1.0 and out["mrr"] == pytest.approx(0.5)  # u2 ranks 1 too (tie counts against it)


def test_cold_items_compete_only_when_the_model_can_score_them(tiny: Dataset) -> None:
    out = _evaluate(tiny, cold=True)
    # u1's target 0 now also has the cold item 2 (score 9) above it: rank 2, outside the top 2.
    assert out["hr@2"] == 0.5
    assert out["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_bad_arguments_are_config_errors(tiny: Dataset) -> None:
    with pytest.raises(ConfigError, match="repeats"):
        _evaluate(tiny, repeats="keep")
    with pytest.raises(ConfigError, match="no test rows"):
        _evaluate(tiny, users=[7])


@pytest.fixture(scope="module")
def movielens(datasets_dir: Path) -> Dataset:
    return movielens_100k(datasets_dir)


def _mf() -> MatrixFactorization:
    return MatrixFactorization(MFConfig(factors=32, iterations=10, num_threads=1))


def test_full_ranking_metrics_match_the_lists_recommend_shows(movielens: Dataset) -> None:
    split = leave_last_out(movielens)
    model = _mf().fit(movielens, split)
    out = evaluate_ranking(model, movielens, split, ks=(10,))
    # evaluate_ranking left the model holding train + valid: recommend() now shows the evaluated lists.
    test = movielens.interactions.iloc[split.test]
    ranked = model.recommend(test["user"].to_numpy(), k=10)
    positions = [np.flatnonzero(r.items == t) for r, t in zip(ranked, test["item"], strict=True)]
    hr = np.mean([len(p) > 0 for p in positions])
    ndcg = np.mean([1 / np.log2(p[0] + 2) if len(p) else 0.0 for p in positions])
    assert out["users"] == movielens.n_users
    assert out["hr@10"] == pytest.approx(hr) and out["ndcg@10"] == pytest.approx(ndcg)
    assert out["coverage@10"] == pytest.approx(len({i for r in ranked for i in r.items}) / movielens.n_items)
    assert 0.08 < out["hr@10"] < 0.3  # measured 0.13; popularity gets 0.084


def test_sampled_negatives_inflate_the_numbers_and_are_seeded(movielens: Dataset) -> None:
    split = leave_last_out(movielens)
    users = np.arange(300)
    full = evaluate_ranking(_mf().fit(movielens, split), movielens, split, users=users)
    a = evaluate_ranking(_mf().fit(movielens, split), movielens, split, users=users, n_negatives=99, seed=1)
    b = evaluate_ranking(_mf().fit(movielens, split), movielens, split, users=users, n_negatives=99, seed=1)
    assert a == b
    assert a["hr@10"] > 2 * full["hr@10"]


def test_several_test_items_per_user_use_the_top_lists(movielens: Dataset) -> None:
    split = temporal(movielens)
    model = _mf().fit(movielens, split)
    out = evaluate_ranking(model, movielens, split, ks=(10,))
    test = movielens.interactions.iloc[split.test]
    wanted = test.groupby("user")["item"].agg(set)
    ranked = model.recommend(wanted.index.to_numpy(), k=10)
    hr = np.mean([bool(set(r.items.tolist()) & wanted[r.user]) for r in ranked])
    assert out["users"] == len(wanted) and "recall@10" in out
    assert out["hr@10"] == pytest.approx(hr)


def test_validation_ndcg_ranks_valid_items_against_training_history(movielens: Dataset) -> None:
    split = leave_last_out(movielens)
    model = _mf().fit(movielens, split)
    valid = movielens.interactions.iloc[split.valid]
    ranked = model.recommend(valid["user"].to_numpy(), k=10)
    expected = np.mean(
        [
            1 / np.log2(np.flatnonzero(r.items == t)[0] + 2) if t in r.items else 0.0
            for r, t in zip(ranked, valid["item"], strict=True)
        ]
    )
    assert validation_ndcg(model, valid, k=10) == pytest.approx(expected)
