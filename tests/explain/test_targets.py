"""Reasoner targets: PETER-style (user, item, explanation, feature) records and item aspects, on real reviews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whyrec.data.loaders import load
from whyrec.data.schema import Dataset, IdMap
from whyrec.explain.aspects import AspectLexicon, extract_aspects, split_sentences
from whyrec.explain.targets import aspect_mentions, catalog_aspects, explanation_examples, item_aspect_sets


@pytest.fixture(scope="module")
def gift_cards(datasets_dir: Path) -> Dataset:
    folder = datasets_dir / "amazon2018-gift-cards"
    return load("amazon", [folder / "Gift_Cards_5.json.gz"], meta=[folder / "meta_Gift_Cards.json.gz"], on_error="skip").dataset


@pytest.fixture(scope="module")
def lexicon(gift_cards: Dataset) -> AspectLexicon:
    return AspectLexicon.build(gift_cards.reviews["text"])


def test_examples_are_review_sentences_that_judge_their_feature(gift_cards: Dataset, lexicon: AspectLexicon) -> None:
    rows = np.arange(0, 1500, 3)  # a split part: every third review of the first 1500
    examples = explanation_examples(gift_cards, lexicon, rows)
    assert 50 < len(examples) < len(rows)  # reviews without an aspect are dropped, as PETER has none
    assert set(examples["row"]) <= set(rows)
    assert examples["row"].is_monotonic_increasing  # follows the order of `rows`
    for rec in examples.itertuples():
        review = gift_cards.reviews.iloc[rec.row]
        assert (rec.user, rec.item, rec.rating) == (review["user"], review["item"], review["rating"])
        assert rec.explanation in split_sentences(review["text"])
        judged = [a.feature for a in extract_aspects(rec.explanation, lexicon)]
        assert judged[0] == rec.feature and rec.feature in lexicon.features
        assert rec.sentiment in (-1, 1)
    top = examples["feature"].value_counts().index[0]
    assert "gift" in top or "card" in top  # what gift-card reviews judge most


def test_mentions_count_every_judged_aspect(gift_cards: Dataset, lexicon: AspectLexicon) -> None:
    rows = np.arange(200)
    mentions = aspect_mentions(gift_cards, lexicon, rows)
    texts = gift_cards.reviews["text"].iloc[rows]
    assert len(mentions) == sum(len(extract_aspects(t, lexicon)) for t in texts if isinstance(t, str))
    assert set(mentions["feature"]) <= lexicon.features
    assert set(mentions["row"]) <= set(rows)


def test_item_aspects_come_from_reviews_and_catalog(gift_cards: Dataset, lexicon: AspectLexicon) -> None:
    rows = np.arange(1000)
    have = item_aspect_sets(gift_cards, lexicon, rows)
    assert set(have) == set(range(gift_cards.n_items))
    for rec in aspect_mentions(gift_cards, lexicon, rows).itertuples():
        assert rec.feature in have[rec.item]
    from_catalog = catalog_aspects(gift_cards, lexicon)
    assert from_catalog and all(features <= have[item] for item, features in from_catalog.items())
    # with no review rows, only what catalogs name remains
    assert {i: f for i, f in item_aspect_sets(gift_cards, lexicon, rows=[]).items() if f} == from_catalog


def test_hand_worked_shop() -> None:
    reviews = pd.DataFrame(
        {
            "user": [0, 1, 1],
            "item": [0, 0, 1],
            "rating": [5.0, 2.0, 4.0],
            "text": ["Arrived fast. The zipper is sturdy and the hood is great.", "The zipper is flimsy.", "No opinion here."],
            "timestamp": [1, 2, 3],
        }
    )
    items = pd.DataFrame(
        {
            "item": [1],
            "title": ["Rain jacket with hood"],
            "category": ["Jackets"],
            "brand": ["X"],
            "price": [9.0],
            "description": [None],
        }
    )
    shop = Dataset(
        reviews.assign(event="rating"), IdMap.from_raw(["a", "b"]), IdMap.from_raw(["j0", "j1"]), reviews=reviews, items=items
    )
    lexicon = AspectLexicon(frozenset({"zipper", "hood"}))
    examples = explanation_examples(shop, lexicon)
    assert examples[["row", "explanation", "feature", "sentiment"]].values.tolist() == [
        [0, "The zipper is sturdy and the hood is great.", "zipper", 1],
        [1, "The zipper is flimsy.", "zipper", -1],
    ]
    assert item_aspect_sets(shop, lexicon) == {0: {"zipper", "hood"}, 1: {"hood"}}  # item 1: its title names a hood
    assert item_aspect_sets(shop, lexicon, rows=[1]) == {0: {"zipper"}, 1: {"hood"}}
