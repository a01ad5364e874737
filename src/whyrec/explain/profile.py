"""A shopper's interest profile: what they care about, where they shop, what they pay, what they did lately.

`build_profile` is pure: callers (the serve pipeline, `whyrec explain --plot`) gather one user's
events, review texts, the catalog rows and the aspects of the items involved, and get back a
JSON-able dict. Aspects come from two sources: what the user's own reviews judge (their
sentiment, weighted most) and what the items they interacted with are known for (the item's
reviewers' sentiment, weighted by how strong the interaction was).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from whyrec.explain.aspects import extract_aspects

if TYPE_CHECKING:
    from whyrec.explain.aspects import AspectLexicon

# How much one interaction says about interest, by event type (strongest event per item counts).
EVENT_WEIGHTS = {"view": 1.0, "click": 1.0, "cart": 2.0, "purchase": 3.0, "rating": 3.0}
REVIEW_WEIGHT = 3.0  # one aspect judged in the user's own review, vs. EVENT_WEIGHTS for an item's aspect
ITEM_ASPECT_SHARE = 0.25  # an interacted item's aspect counts this share of the interaction's weight


def _strongest(events: Iterable[Mapping[str, Any]]) -> tuple[dict[Any, float], list[Mapping[str, Any]]]:
    """Per item, the weight of its strongest event; and the events newest first."""
    weight: dict[Any, float] = {}
    for e in events:
        w = EVENT_WEIGHTS.get(str(e["event"]), 1.0)
        weight[e["item"]] = max(weight.get(e["item"], 0.0), w)
    ordered = sorted(events, key=lambda e: (-int(e["timestamp"]), str(e["item"])))
    return weight, ordered


def _shares(totals: Mapping[str, float], top: int) -> list[dict[str, Any]]:
    """The `top` largest entries as {"name", "weight"}, weight = share of the total (largest first, then by name)."""
    whole = sum(totals.values())
    if whole <= 0:
        return []
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"name": name, "weight": round(w / whole, 4)} for name, w in ranked]


def build_profile(
    events: Sequence[Mapping[str, Any]],
    reviews: Sequence[str],
    catalog: Mapping[Any, Mapping[str, Any]],
    item_aspects: Mapping[Any, Mapping[str, float]],
    lexicon: AspectLexicon | None = None,
    *,
    top: int = 10,
    recent: int = 5,
) -> dict[str, Any]:
    """One user's profile as a JSON-able dict.

    events: the user's {"item", "event", "timestamp"} records (any order); reviews: their review
    texts; catalog: item -> {"title", "category", "brand", "price"} (missing items are fine);
    item_aspects: item -> {feature: net sentiment in [-1, 1]} as the item's reviewers judge it.
    Returns {"aspects": [{"feature", "weight", "sentiment", "from_reviews", "from_items"}],
    "categories"/"brands": [{"name", "weight"}], "price_band": {...} or None,
    "recent_items": [{"item", "title", "event", "timestamp"}], "counts": {...}}. Weights are shares
    of their list's total (they sum to 1 before truncation to `top`); sentiment is in [-1, 1].
    """
    weight, newest_first = _strongest(events)

    aspect_weight: dict[str, float] = defaultdict(float)
    aspect_signed: dict[str, float] = defaultdict(float)  # sum of weight * sentiment
    from_reviews: dict[str, int] = defaultdict(int)
    from_items: dict[str, int] = defaultdict(int)
    for text in reviews:
        if not isinstance(text, str):
            continue
        for a in extract_aspects(text, lexicon):
            aspect_weight[a.feature] += REVIEW_WEIGHT
            aspect_signed[a.feature] += REVIEW_WEIGHT * a.sentiment
            from_reviews[a.feature] += 1
    for item, w in weight.items():
        for feature, net in item_aspects.get(item, {}).items():
            share = w * ITEM_ASPECT_SHARE
            aspect_weight[feature] += share
            aspect_signed[feature] += share * float(np.clip(net, -1.0, 1.0))
            from_items[feature] += 1
    total = sum(aspect_weight.values())
    ranked = sorted(aspect_weight, key=lambda f: (-aspect_weight[f], f))[:top]
    aspects = [
        {
            "feature": f,
            "weight": round(aspect_weight[f] / total, 4),
            "sentiment": round(aspect_signed[f] / aspect_weight[f], 4),
            "from_reviews": from_reviews[f],
            "from_items": from_items[f],
        }
        for f in ranked
    ]

    categories: dict[str, float] = defaultdict(float)
    brands: dict[str, float] = defaultdict(float)
    prices: list[float] = []
    for item, w in weight.items():
        row = catalog.get(item) or {}
        if isinstance(row.get("category"), str) and row["category"]:
            categories[row["category"]] += w
        if isinstance(row.get("brand"), str) and row["brand"]:
            brands[row["brand"]] += w
        price = row.get("price")
        if isinstance(price, (int, float)) and np.isfinite(price):
            prices.append(float(price))
    price_band = None
    if prices:
        low, median, high = np.quantile(prices, [0.25, 0.5, 0.75])
        price_band = {
            "min": round(min(prices), 2),
            "low": round(float(low), 2),  # 25th percentile
            "median": round(float(median), 2),
            "high": round(float(high), 2),  # 75th percentile
            "max": round(max(prices), 2),
            "items": len(prices),
        }

    recent_items: list[dict[str, Any]] = []
    listed: set[Any] = set()
    for e in newest_first:
        if e["item"] in listed:
            continue
        listed.add(e["item"])
        title = (catalog.get(e["item"]) or {}).get("title")
        recent_items.append(
            {
                "item": e["item"],
                "title": title if isinstance(title, str) else None,
                "event": e["event"],
                "timestamp": int(e["timestamp"]),
            }
        )
        if len(recent_items) == recent:
            break

    return {
        "aspects": aspects,
        "categories": _shares(categories, top),
        "brands": _shares(brands, top),
        "price_band": price_band,
        "recent_items": recent_items,
        "counts": {"events": len(events), "items": len(weight), "reviews": len(reviews)},
    }
