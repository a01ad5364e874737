"""Dataset helpers: a review Amazon files under several variants counted once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from whyrec.data.schema import written_once


def test_a_review_filed_under_variants_is_written_once() -> None:
    # All Beauty's shape: one shopper's review shows on four listings of one shampoo (same text, same time); the same
    # words written a month later about another product are a second review, and another shopper's are theirs.
    reviews = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 0, 1],
            "item": [1, 12, 28, 39, 5, 1],
            "text": ["Smells lovely."] * 4 + ["Smells lovely.", "Smells lovely."],
            "timestamp": [100, 100, 100, 100, 2_700_000, 100],
        }
    )
    assert written_once(reviews).tolist() == [0, 4, 5]
    # of a subset, in any order: the first copy the subset holds
    assert written_once(reviews, np.array([3, 2, 5])).tolist() == [2, 5]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["a", "b", ""]), st.integers(0, 2)), max_size=30), st.data())
def test_written_once_keeps_one_row_per_review(rows: list[tuple[int, str, int]], data: st.DataObject) -> None:
    reviews = pd.DataFrame(rows, columns=["user", "text", "timestamp"]).assign(item=range(len(rows)))
    subset = data.draw(st.lists(st.sampled_from(range(len(rows))), unique=True) if rows else st.just([]))
    kept = written_once(reviews, np.array(subset, dtype=np.int64))
    keys = [tuple(reviews.iloc[i][["user", "text", "timestamp"]]) for i in kept]
    assert list(kept) == sorted(kept) and set(kept) <= set(subset)
    assert len(keys) == len(set(keys)) == len({tuple(reviews.iloc[i][["user", "text", "timestamp"]]) for i in subset})
    assert all(min(j for j in subset if tuple(reviews.iloc[j][["user", "text", "timestamp"]]) == k) == i
               for i, k in zip(kept, keys, strict=True))  # fmt: skip
