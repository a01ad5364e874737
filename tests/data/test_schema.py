"""Dataset helpers: a review Amazon files under several variants of one product counted once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from whyrec.data.schema import review_copies, written_once


def _reviews(rows: list[tuple[int, int, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "text", "timestamp"])


def test_a_review_filed_under_variants_is_written_once() -> None:
    # All Beauty's shape: the four listings of one shampoo show the same reviews, so shopper 0's review on each is one
    # review; the same words written a month later on another product are a second review.
    pool = [(u, i, f"Review {u}.", 100 + u) for u in (1, 2, 3) for i in (1, 12, 28, 39)]
    mine = [(0, i, "Smells lovely.", 100) for i in (1, 12, 28, 39)] + [(0, 5, "Smells lovely.", 2_700_000)]
    reviews = _reviews([*pool, *mine, (4, 5, "Nice.", 50)])
    copies = review_copies(reviews)
    assert copies == {13: 12, 14: 12, 15: 12, **{r: r - r % 4 for r in range(12) if r % 4}}
    assert written_once(reviews).tolist() == [0, 4, 8, 12, 16, 17]
    # of a subset, in any order: the first copy the subset holds
    assert written_once(reviews, np.array([15, 14, 17])).tolist() == [14, 17]


def test_one_text_pasted_under_gift_cards_bought_together_is_a_review_of_each() -> None:
    # Gift Cards' shape: shopper 0 pasted one text under three restaurants' cards, whose other reviews differ.
    others = [(u, i, f"Card {i} from {u}.", 100 + u) for u in (1, 2, 3) for i in (7, 8, 9)]
    reviews = _reviews([*others, *[(0, i, "Great gifts for the whole family.", 100) for i in (7, 8, 9)]])
    assert review_copies(reviews) == {} and len(written_once(reviews)) == len(reviews)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.sampled_from(["a", "b", ""]), st.integers(0, 2)), max_size=30),
    st.data(),
)
def test_a_copy_points_back_to_a_kept_review_with_its_author_text_and_time(
    rows: list[tuple[int, int, str, int]], data: st.DataObject
) -> None:
    reviews = _reviews(rows)
    subset = sorted(data.draw(st.lists(st.sampled_from(range(len(rows))), unique=True) if rows else st.just([])))
    copies = review_copies(reviews, np.array(subset, dtype=np.int64))
    key = lambda r: (rows[r][0], rows[r][2], rows[r][3])  # noqa: E731
    assert all(c in subset and f in subset and f < c and f not in copies and key(f) == key(c) for c, f in copies.items())
    kept = written_once(reviews, np.array(subset, dtype=np.int64)).tolist()
    assert kept == [r for r in subset if r not in copies]
    assert {key(r) for r in kept} == {key(r) for r in subset}  # every review is kept once at least
