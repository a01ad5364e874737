"""The ranking written once in the base class: top-k order and its tie-breaking."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from whyrec.recommend.base import top_k

# Few distinct values, so ties (also at the k-th place) are the common case; -inf and NaN included.
_SCORES = arrays(
    np.float32,
    st.tuples(st.integers(1, 4), st.integers(1, 60)),
    elements=st.sampled_from([0.0, 1.0, 2.5, -3.0, -np.inf, np.nan]),
)


@given(scores=_SCORES, k=st.integers(0, 70))
def test_top_k_equals_a_full_sort_with_ties_to_the_lower_index(scores: np.ndarray, k: int) -> None:
    items, values = top_k(scores, k)
    assert len(items) == len(scores)
    for row, got, got_values in zip(scores, items, values, strict=True):
        finite = np.flatnonzero(np.isfinite(row))
        expected = finite[np.lexsort((finite, -row[finite]))][:k]
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got_values, row[expected])


def test_top_k_on_a_large_tied_row_keeps_the_lowest_indices() -> None:
    rng = np.random.default_rng(0)
    row = np.zeros((1, 5000), np.float32)
    row[0, rng.choice(5000, 100, replace=False)] = 1.0
    items, _ = top_k(row, 150)
    assert set(items[0][:100].tolist()) == set(np.flatnonzero(row[0]).tolist())
    np.testing.assert_array_equal(items[0][100:], np.setdiff1d(np.arange(200), np.flatnonzero(row[0]))[:50])
