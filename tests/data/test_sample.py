"""The bundled sample shop: deterministic, and shaped like a real shop in the ways models rely on."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from whyrec.data.sample import SPAN_DAYS, START, generate_sample
from whyrec.data.schema import Dataset

# Opinion words the test reads sentiment with (a fixed list, independent of the generator's choice per rating).
GOOD = set(
    "excellent great reliable impressive smooth sturdy snug comfortable light roomy generous breathable cool "
    "confident plush secure durable even solid perfect handy clear keen rich crisp effective superb soft robust "
    "ample fast".split()
)
BAD = set(
    "disappointing poor leaky flimsy cheap loose awkward stuffy cramped uncomfortable thin sweaty hot slippery hard "
    "fiddly flaky uneven patchy wobbly rattly useless fragile dull blunt muddy tinny weak short slow sluggish "
    "insufficient heavy bulky".split()
)


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return generate_sample(seed=0)


def test_same_seed_same_frames_other_seed_other_shop() -> None:
    a, b, c = (
        generate_sample(seed=7, n_users=60, n_items=40),
        generate_sample(seed=7, n_users=60, n_items=40),
        generate_sample(seed=8, n_users=60, n_items=40),
    )
    for table in ("interactions", "reviews", "items", "queries"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))
    assert a.user_ids == b.user_ids and a.item_ids == b.item_ids
    assert not a.interactions.equals(c.interactions)
    assert not a.items["title"].equals(c.items["title"])


def test_default_size() -> None:
    d = generate_sample()
    assert (d.n_users, d.n_items) == (400, 300)
    assert 20_000 <= len(d.interactions) <= 60_000
    assert len(d.reviews) >= 500


def test_every_item_has_a_full_catalog_row(shop: Dataset) -> None:
    items = shop.items
    assert sorted(items["item"]) == list(range(shop.n_items))
    for col in ("title", "category", "brand", "description"):
        assert items[col].map(lambda v: isinstance(v, str) and len(v) > 0).all(), col
    assert (items["price"] > 0).all()
    assert items["title"].is_unique
    depth = items["category"].str.count(" > ")
    assert (depth == 2).all() and 6 <= items["category"].nunique() <= 10
    # prices differ by category, as lognormal spreads around category medians
    medians = items.groupby("category")["price"].median()
    assert medians.max() / medians.min() > 4


def test_descriptions_state_true_attributes(shop: Dataset) -> None:
    phones = shop.items[shop.items["category"] == "Electronics > Audio > Headphones"]
    hours = phones["description"].str.extract(r"Battery life up to (\d+) hours")[0]
    assert hours.notna().all()
    pans = shop.items[shop.items["category"].str.endswith("Pans")]
    assert pans["description"].str.contains(r"Diameter: \d\d cm\.").all()


def test_popularity_is_long_tailed(shop: Dataset) -> None:
    counts = shop.interactions.groupby("item").size().sort_values(ascending=False)
    top = counts.iloc[: shop.n_items // 10].sum()
    assert top / counts.sum() > 0.4


def test_funnel_narrows_and_ratings_follow_purchases(shop: Dataset) -> None:
    ev = shop.interactions["event"].value_counts()
    assert ev["view"] > ev["cart"] > ev["purchase"] > ev["rating"] > 0
    inter = shop.interactions
    bought = inter[inter["event"] == "purchase"].set_index(["user", "item"])["timestamp"]
    rated = inter[inter["event"] == "rating"].set_index(["user", "item"])["timestamp"]
    assert rated.index.isin(bought.index).all()
    assert (rated > bought.reindex(rated.index)).all()
    assert inter["timestamp"].between(START, START + (SPAN_DAYS + 30) * 86_400).all()


def test_each_review_is_a_rating_interaction(shop: Dataset) -> None:
    ratings = shop.interactions[shop.interactions["event"] == "rating"]
    merged = shop.reviews.merge(ratings, on=["user", "item", "timestamp"], suffixes=("", "_event"))
    assert len(merged) == len(shop.reviews)
    assert (merged["rating"] == merged["rating_event"]).all()
    assert set(shop.reviews["rating"]) <= {1.0, 2.0, 3.0, 4.0, 5.0} and shop.reviews["rating"].nunique() >= 4


def tone(text: str) -> float:
    words = re.findall(r"[a-z]+", text.lower())
    good, bad = sum(w in GOOD for w in words), sum(w in BAD for w in words)
    return (good - bad) / (good + bad) if good + bad else np.nan


def test_review_sentiment_agrees_with_rating(shop: Dataset) -> None:
    tones = shop.reviews["text"].map(tone)
    assert tones.notna().mean() > 0.9
    assert tones.corr(shop.reviews["rating"], method="spearman") > 0.5


def test_review_opinions_agree_with_the_items_specs(shop: Dataset) -> None:
    """A positive word on battery life goes with more stated hours than a negative one, on the same item kind."""
    hours = shop.items.set_index("item")["description"].str.extract(r"Battery life up to (\d+) hours")[0].astype(float)
    phones = set(shop.items.loc[shop.items["category"].str.endswith("Headphones"), "item"])
    said = {True: [], False: []}
    for item, text in shop.reviews[["item", "text"]].itertuples(index=False):
        m = re.search(r"battery life (?:is|feels)(?: really)? (\w+)", text)
        if item in phones and m and (m.group(1) in GOOD or m.group(1) in BAD):
            said[m.group(1) in GOOD].append(hours[item])
    assert len(said[True]) >= 5 and len(said[False]) >= 5
    assert np.mean(said[True]) > np.mean(said[False]) + 5


def test_next_items_are_predictable_from_history(shop: Dataset) -> None:
    """The category of a user's last event is their most frequent earlier category far above chance."""
    category = shop.items.set_index("item")["category"]
    cats = category.reindex(shop.interactions["item"]).to_numpy()
    users = shop.interactions["user"].to_numpy()
    hits = popular = 0
    most_popular = pd.Series(cats).value_counts().index[0]
    for u in range(shop.n_users):
        seq = cats[users == u]
        guess = pd.Series(seq[:-1]).value_counts().index[0]
        hits += guess == seq[-1]
        popular += most_popular == seq[-1]
    assert hits / shop.n_users > 0.35
    assert hits > 2.5 * popular


def test_lids_bought_after_pans_fit_them(shop: Dataset) -> None:
    size = shop.items.set_index("item")["title"].str.extract(r"(\d\d cm)")[0]
    category = shop.items.set_index("item")["category"]
    buys = shop.interactions[shop.interactions["event"] == "purchase"]
    pairs = fits = 0
    for _, seq in buys.groupby("user")["item"]:
        items = seq.tolist()
        for a, b in itertools.pairwise(items):
            if category[a].endswith("Pans") and category[b].endswith("Lids"):
                pairs += 1
                fits += size[a] == size[b]
    assert pairs >= 30
    assert fits / pairs > 0.6  # sizes are one in three at random


@pytest.mark.parametrize("n_items", [9, 11, 37])
def test_small_shops_have_every_category_and_exact_sizes(n_items: int) -> None:
    d = generate_sample(seed=2, n_users=5, n_items=n_items)
    assert d.n_items == len(d.items) == n_items and d.n_users == 5
    assert d.items["category"].nunique() == 9


def test_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="n_items"):
        generate_sample(n_items=3)
