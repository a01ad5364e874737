"""Rating errors: hand-worked values with and without PETER's clipping, sklearn as reference, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mean_absolute_error, mean_squared_error

from whyrec.errors import DataError
from whyrec.evaluate.rating import mae, rmse


def test_values_worked_by_hand():
    pred, true = [3.5, 5.5, 0.0], [4, 5, 1]
    # errors -0.5, 0.5, -1: MAE = 2/3; RMSE = sqrt((0.25 + 0.25 + 1) / 3) = sqrt(0.5)
    assert mae(pred, true) == pytest.approx(2 / 3)
    assert rmse(pred, true) == pytest.approx(math.sqrt(0.5))
    # clipped to [1, 5] as PETER does: predictions 3.5, 5, 1 -> errors -0.5, 0, 0
    assert mae(pred, true, min_rating=1, max_rating=5) == pytest.approx(0.5 / 3)
    assert rmse(pred, true, min_rating=1, max_rating=5) == pytest.approx(math.sqrt(0.25 / 3))
    # one bound alone clips one side only: 5.5 -> 5, 0.0 stays
    assert mae(pred, true, max_rating=5) == pytest.approx(1.5 / 3)


def test_bad_input_names_the_field():
    with pytest.raises(DataError) as err:
        rmse([1.0, 2.0], [1.0])
    assert err.value.field == "true"
    with pytest.raises(DataError) as err:
        mae([], [])
    assert err.value.field == "pred"
    with pytest.raises(DataError, match="non-finite") as err:
        rmse([1.0, float("nan")], [1.0, 2.0])
    assert err.value.field == "pred"
    with pytest.raises(DataError) as err:
        rmse([1.0], [1.0], min_rating=5, max_rating=1)
    assert err.value.field == "min_rating"


def test_movielens_user_mean_against_sklearn(datasets_dir):
    """u1 split: per-user mean rating from u1.base predicts u1.test; sklearn computes the same errors."""
    base = np.loadtxt(datasets_dir / "movielens-100k" / "u1.base", dtype=np.int64)
    test = np.loadtxt(datasets_dir / "movielens-100k" / "u1.test", dtype=np.int64)
    sums = np.bincount(base[:, 0], weights=base[:, 2], minlength=944)
    counts = np.bincount(base[:, 0], minlength=944)
    global_mean = base[:, 2].mean()
    user_mean = np.where(counts > 0, sums / np.maximum(counts, 1), global_mean)
    pred, true = user_mean[test[:, 0]], test[:, 2].astype(float)
    assert rmse(pred, true) == pytest.approx(math.sqrt(mean_squared_error(true, pred)), rel=1e-12)
    assert mae(pred, true) == pytest.approx(mean_absolute_error(true, pred), rel=1e-12)
    flat = np.full_like(true, global_mean)
    assert rmse(pred, true) < rmse(flat, true)  # personal means beat one global mean
    assert 0.9 < rmse(pred, true) < 1.2


ratings = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(ratings, ratings), min_size=1, max_size=40))
def test_invariants(pairs):
    pred, true = np.array(pairs).T
    r, a = rmse(pred, true), mae(pred, true)
    assert r >= 0.0 and a >= 0.0
    assert r >= a - 1e-12  # quadratic mean >= arithmetic mean of |error|
    assert (a == 0.0) == bool(np.all(pred == true))
    assert rmse(true, true) == mae(true, true) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(ratings, st.floats(1, 5)), min_size=1, max_size=40))
def test_clipping_never_hurts_when_truth_is_on_the_scale(pairs):
    pred, true = np.array(pairs).T
    assert rmse(pred, true, min_rating=1, max_rating=5) <= rmse(pred, true) + 1e-12
    assert mae(pred, true, min_rating=1, max_rating=5) <= mae(pred, true) + 1e-12
