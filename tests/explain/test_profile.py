"""build_profile: hand-worked weights, the sample shop's shoppers, and invariants on any input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whyrec.data.sample import generate_sample
from whyrec.explain.aspects import AspectLexicon
from whyrec.explain.profile import EVENT_WEIGHTS, ITEM_ASPECT_SHARE, REVIEW_WEIGHT, build_profile

CATALOG = {
    "pan": {"title": "Steel Pan", "category": "Kitchen > Pans", "brand": "Ferro", "price": 40.0},
    "lid": {"title": "Glass Lid", "category": "Kitchen > Lids", "brand": "Ferro", "price": 10.0},
    "tent": {"title": "Dome Tent", "category": "Outdoor > Tents", "brand": "Fjell", "price": 200.0},
}


def test_weights_and_sentiment_worked_by_hand() -> None:
    events = [
        {"item": "pan", "event": "view", "timestamp": 1},
        {"item": "pan", "event": "purchase", "timestamp": 2},
        {"item": "tent", "event": "view", "timestamp": 3},
    ]
    reviews = ["The handle is sturdy."]
    aspects = {"pan": {"handle": 1.0, "weight": -1.0}, "tent": {"weight": 0.5}}
    p = build_profile(events, reviews, CATALOG, aspects)
    # handle: review 3 (+1) + pan purchase 3 * 0.25 (+1); weight: pan 0.75 (-1) + tent view 0.25 (+0.5)
    handle = REVIEW_WEIGHT + EVENT_WEIGHTS["purchase"] * ITEM_ASPECT_SHARE
    heft = EVENT_WEIGHTS["purchase"] * ITEM_ASPECT_SHARE + EVENT_WEIGHTS["view"] * ITEM_ASPECT_SHARE
    by_feature = {a["feature"]: a for a in p["aspects"]}
    assert [a["feature"] for a in p["aspects"]] == ["handle", "weight"]
    assert by_feature["handle"]["weight"] == pytest.approx(handle / (handle + heft), abs=1e-4)
    assert by_feature["handle"]["sentiment"] == 1.0
    assert by_feature["handle"]["from_reviews"] == 1 and by_feature["handle"]["from_items"] == 1
    assert by_feature["weight"]["sentiment"] == pytest.approx((0.75 * -1 + 0.25 * 0.5) / 1.0, abs=1e-4)
    # categories by strongest event per item: pan purchase 3, tent view 1
    assert p["categories"] == [{"name": "Kitchen > Pans", "weight": 0.75}, {"name": "Outdoor > Tents", "weight": 0.25}]
    assert p["brands"][0] == {"name": "Ferro", "weight": 0.75}
    assert p["price_band"]["min"] == 40.0 and p["price_band"]["max"] == 200.0 and p["price_band"]["items"] == 2
    assert [r["item"] for r in p["recent_items"]] == ["tent", "pan"]
    assert p["recent_items"][1] == {"item": "pan", "title": "Steel Pan", "event": "purchase", "timestamp": 2}
    assert p["counts"] == {"events": 3, "items": 2, "reviews": 1}


def test_negative_review_gives_negative_sentiment() -> None:
    p = build_profile([], ["The zipper is flimsy and the zipper broke."], {}, {})
    [zipper] = [a for a in p["aspects"] if a["feature"] == "zipper"]
    assert zipper["sentiment"] < 0 and zipper["from_reviews"] >= 1


def test_empty_history_gives_an_empty_profile() -> None:
    p = build_profile([], [], CATALOG, {})
    assert p["aspects"] == [] and p["categories"] == [] and p["price_band"] is None and p["recent_items"] == []


def test_sample_shopper_profile_reflects_their_reviews_and_shopping() -> None:
    shop = generate_sample(seed=1, n_users=60, n_items=50)
    lexicon = AspectLexicon.build(shop.reviews["text"])
    reviewer = int(shop.reviews["user"].value_counts().index[0])  # the most prolific reviewer
    own = shop.reviews[shop.reviews["user"] == reviewer]
    inter = shop.interactions[shop.interactions["user"] == reviewer]
    events = [
        {"item": int(i), "event": e, "timestamp": int(t)}
        for i, e, t in zip(inter["item"], inter["event"], inter["timestamp"], strict=True)
    ]
    catalog = {int(r["item"]): r for r in shop.items.to_dict("records")}
    p = build_profile(events, list(own["text"]), catalog, {}, lexicon)
    assert p["aspects"], "a shopper with reviews has reviewed aspects"
    named = {a.lower() for t in own["text"] for a in lexicon.mentions(t)}
    assert {a["feature"] for a in p["aspects"]} <= named
    # Their most frequent category by strongest event is the profile's first.
    top_category = p["categories"][0]["name"]
    assert top_category in {catalog[e["item"]]["category"] for e in events}
    assert p["recent_items"][0]["timestamp"] == max(e["timestamp"] for e in events)


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "item": st.sampled_from(sorted(CATALOG)),
                "event": st.sampled_from(sorted(EVENT_WEIGHTS)),
                "timestamp": st.integers(0, 10**9),
            }
        ),
        max_size=30,
    ),
    st.dictionaries(
        st.sampled_from(sorted(CATALOG)),
        st.dictionaries(st.sampled_from(["handle", "weight", "lid fit"]), st.floats(-3, 3)),
        max_size=3,
    ),
)
def test_invariants(events: list[dict], aspects: dict) -> None:
    p = build_profile(events, [], CATALOG, aspects, top=50)
    for name in ("aspects", "categories", "brands"):
        weights = [a["weight"] for a in p[name]]
        assert weights == sorted(weights, reverse=True)
        assert all(0 < w <= 1 for w in weights) and (not weights or math.isclose(sum(weights), 1, abs_tol=1e-3))
    assert all(-1 <= a["sentiment"] <= 1 for a in p["aspects"])
    stamps = [r["timestamp"] for r in p["recent_items"]]
    assert stamps == sorted(stamps, reverse=True) and len({r["item"] for r in p["recent_items"]}) == len(stamps)
