"""Reasons as the server writes them: checked against the live shop, cached per shopper, item and model version.

`ShopFacts` is what grounding and safety check against (the store's catalog, prices included, and
the aspects its reviews and catalog text give each item). `ServedReasons` holds the artifact's
reasoner, a `template` fallback and an A/B experiment's arm reasoners, and answers through
`whyrec.recommendation`'s draft, write and answer (what `recommend`, the one path every entry point takes, is made of),
so that the server writes reasons without holding its model lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from whyrec import recommendation
from whyrec.data.schema import Dataset
from whyrec.explain.aspects import category_heads
from whyrec.recommendation import Answer, Draft, ReasonCache, Reasons

if TYPE_CHECKING:
    from whyrec.artifact import Artifact
    from whyrec.config import Experiment
    from whyrec.data.schema import IdMap
    from whyrec.data.store import Store
    from whyrec.explain.aspects import AspectLexicon
    from whyrec.explain.base import Reasoner
    from whyrec.serve.live import LiveRanking

CATALOG_COLUMNS = ("title", "category", "brand", "price", "description")


def net_sentiment(mentions: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per raw item, feature -> (positive - negative) / judgements, from aspect mentions."""
    out: dict[str, dict[str, float]] = {}
    if mentions.empty:
        return out
    grouped = mentions.groupby(["item", "feature"])["sentiment"].agg(["sum", "count"])
    for (item, feature), row in grouped.iterrows():
        out.setdefault(item, {})[feature] = float(row["sum"]) / float(row["count"])
    return out


def _path(row: Mapping[str, Any]) -> str | None:
    """The catalog row's category path, where it has one."""
    path = row.get("category")
    return path.strip() if isinstance(path, str) and path.strip() else None


class ShopFacts:
    """The live catalog and each item's aspects (with net sentiment), keyed by raw id; `ItemFacts` by dense id."""

    def __init__(self, item_ids: IdMap, lexicon: AspectLexicon | None) -> None:
        self.item_ids = item_ids
        self.lexicon = lexicon
        self.rows: dict[str, dict[str, Any]] = {}
        self.item_aspects: dict[str, dict[str, float]] = {}  # raw item -> feature -> net sentiment
        self.praise_words: dict[str, dict[str, list[str]]] = {}  # raw item -> feature -> adjectives praising it
        self.roots: set[str] = set()  # head words of the shop's top categories: product types, not aspects

    @classmethod
    def read(cls, shop: Dataset, item_ids: IdMap, lexicon: AspectLexicon | None) -> ShopFacts:
        """From the store's catalog and reviews; without a lexicon, one is built from the reviews."""
        from whyrec.explain.aspects import AspectLexicon
        from whyrec.explain.targets import aspect_mentions
        from whyrec.explain.voice import praise_words

        facts = cls(item_ids, lexicon or AspectLexicon.build(shop.reviews["text"]))
        raw_items = np.asarray(shop.item_ids.raw, dtype=object)
        for row in shop.items.to_dict("records"):
            facts.rows[raw_items[row["item"]]] = {k: row[k] for k in CATALOG_COLUMNS}
        for row in facts.rows.values():
            if isinstance(row["price"], float) and np.isnan(row["price"]):
                row["price"] = None
        mentions = aspect_mentions(shop, facts.lexicon).assign(item=lambda m: raw_items[m["item"].to_numpy()])
        facts.item_aspects = net_sentiment(mentions)
        facts.praise_words = praise_words(mentions, facts.lexicon)
        for item in facts.rows:
            facts.add_catalog_aspects(item)
        for row in facts.rows.values():
            if path := _path(row):
                facts.roots |= category_heads(path.split(">")[0])
        return facts

    def upsert(self, item: str, fields: Mapping[str, Any]) -> bool:
        """Replace an item's catalog row; True when it is new."""
        created = item not in self.rows
        self.rows[item] = {k: fields.get(k) for k in CATALOG_COLUMNS}
        self.add_catalog_aspects(item)
        return created

    def add_catalog_aspects(self, item: str) -> None:
        """Aspects the item's catalog text names count as the item's (neutral when no review judges them)."""
        row = self.rows.get(item, {})
        text = ". ".join(
            str(row[k]) for k in ("title", "category", "brand", "description") if isinstance(row.get(k), str) and row[k]
        )
        if self.lexicon is not None and text:
            aspects = self.item_aspects.setdefault(item, {})
            for feature in self.lexicon.mentions(text):
                aspects.setdefault(feature, 0.0)

    # ---- ItemFacts (dense ids) ----
    def raw(self, item: int) -> str:
        return self.item_ids.raw[item]

    def aspects(self, item: int) -> Sequence[str]:
        judged = self.item_aspects.get(self.item_ids.raw[item], {})
        return sorted(judged, key=lambda f: (-judged[f], f))  # best judged first, ties by name

    def praised(self, item: int) -> Sequence[str]:
        """Net-praised aspects, best first, less those that only name the product type (`product_type_aspects`'s rule:
        "amazon gift card" on a restaurant's gift card is what the item is, not what it is good at)."""
        raw = self.item_ids.raw[item]
        judged = self.item_aspects.get(raw, {})
        path = _path(self.rows.get(raw, {}))
        product = self.roots | (category_heads(path) if path else set())
        return [f for f in self.aspects(item) if judged[f] > 0 and f.split()[-1] not in product]

    def praised_with(self, item: int) -> Mapping[str, Sequence[str]]:
        return self.praise_words.get(self.item_ids.raw[item], {})

    def catalog(self, item: int) -> Mapping[str, Any] | None:
        return self.rows.get(self.item_ids.raw[item], {})


class _StoreCache:
    """A known shopper's reasons in the store's reason cache, under one model version."""

    def __init__(self, store: Store, user: str, version: str, item_ids: IdMap) -> None:
        self.store, self.user, self.version, self.item_ids = store, user, version, item_ids

    def get(self, items: Sequence[int]) -> dict[int, dict[str, Any]]:
        found = self.store.cached_reasons(self.user, [self.item_ids.raw[i] for i in items], self.version)
        return {i: found[self.item_ids.raw[i]] for i in items if self.item_ids.raw[i] in found}

    def put(self, payloads: Mapping[int, dict[str, Any]]) -> None:
        self.store.put_reasons(self.user, self.version, {self.item_ids.raw[i]: p for i, p in payloads.items()})


class _MemoryCache:
    """Reasons for shoppers the store does not know, in memory (reading never creates a user in the store)."""

    def __init__(self, held: dict[str, dict[str, dict[str, Any]]], version: str, item_ids: IdMap) -> None:
        self.held, self.version, self.item_ids = held, version, item_ids

    def get(self, items: Sequence[int]) -> dict[int, dict[str, Any]]:
        raw = self.item_ids.raw
        return {i: self.held[raw[i]][self.version] for i in items if self.version in self.held.get(raw[i], {})}

    def put(self, payloads: Mapping[int, dict[str, Any]]) -> None:
        for i, p in payloads.items():
            self.held.setdefault(self.item_ids.raw[i], {})[self.version] = p


@dataclass(frozen=True)
class Pending:
    """A served answer drafted with the live model, its missing reasons not yet written (`ServedReasons.draft`)."""

    drafted: Draft
    reasons: Reasons | None
    cache: ReasonCache


class ServedReasons:
    """The artifact's reasoner (or an A/B arm's) behind the filters and the fallback, with the reason cache."""

    def __init__(self, artifact: Artifact, facts: ShopFacts, version: str) -> None:
        self.artifact = artifact
        self.facts = facts
        self.version = version
        self.reasoner: Reasoner | None = artifact.reasoner
        self.fallback: Reasoner | None = None
        self.arm_reasoners: dict[str, Reasoner | None] = {}
        self._anonymous: dict[str, dict[str, dict[str, Any]]] = {}  # raw item -> model version -> payload

    def prepare(self, shop: Dataset, experiment: Experiment | None) -> None:
        """Fit the template fallback over the store's reviews and route the experiment's arms."""
        if self.reasoner is not None:
            self.fallback = self.reasoner if self.reasoner.name == "template" else self._fit_fallback(shop)
        if experiment is not None:
            from whyrec.serve.experiment import route_arms

            held = {r.name: r for r in (self.reasoner, self.fallback) if r is not None}
            self.arm_reasoners = route_arms(experiment, self.artifact.recommender.name, held)

    def _fit_fallback(self, shop: Dataset) -> Reasoner:
        """A template reasoner over the store's reviews in the artifact's dense ids, for reasons the main one fails."""
        from whyrec.explain.template import TemplateReasoner

        art = self.artifact
        users = art.user_ids.indices(np.asarray(shop.user_ids.raw, dtype=object)[shop.reviews["user"].to_numpy()])
        items = art.item_ids.indices(np.asarray(shop.item_ids.raw, dtype=object)[shop.reviews["item"].to_numpy()])
        reviews = shop.reviews.assign(user=users, item=items)[(users >= 0) & (items >= 0)]
        catalog = shop.items.assign(
            item=art.item_ids.indices(np.asarray(shop.item_ids.raw, dtype=object)[shop.items["item"].to_numpy()])
        )
        data = Dataset(art.interactions, art.user_ids, art.item_ids, reviews=reviews, items=catalog[catalog["item"] >= 0])
        return TemplateReasoner().fit(data)

    def draft(
        self, live: LiveRanking, store: Callable[[], Store], user: str, k: int, exclude: set[int], arm: str | None
    ) -> Pending:
        """The ranked answer for a raw user id, cached per (user, item, model version and arm), with attribution: all
        that needs the live model. Its missing reasons are then written by `write`."""
        uid = live.user_ids.get(user)
        reasoner = self.reasoner if arm is None else self.arm_reasoners[arm]
        version = self.version if arm is None else f"{self.version}:{arm}"
        reasons = None if reasoner is None else Reasons(reasoner, self.facts, self.fallback, known_users=live.trained_users)
        cache = (
            _StoreCache(store(), user, version, live.item_ids)
            if uid >= 0
            else _MemoryCache(self._anonymous, version, live.item_ids)
        )
        return Pending(recommendation.draft(live.model, uid, k, self.facts, cache=cache, exclude=exclude), reasons, cache)

    def write(self, pending: Pending) -> tuple[Draft, dict[int, dict[str, Any]]]:
        """The checked reasons of the items still missing once the cache is read again (a request for the same shopper
        may have written them meanwhile), and the draft with what that second read found."""
        drafted = pending.drafted
        found = {i: {"attribution": drafted.attributions[i], **p} for i, p in pending.cache.get(drafted.missing).items()}
        drafted = replace(drafted, payloads={**drafted.payloads, **found})
        return drafted, recommendation.write(drafted, pending.reasons, self.facts)

    def answer(
        self, live: LiveRanking, store: Callable[[], Store], user: str, k: int, exclude: set[int], arm: str | None
    ) -> Answer:
        """`draft`, `write` and the cache filled at once, for a caller with no lock to spare (a batch worker)."""
        pending = self.draft(live, store, user, k, exclude, arm)
        drafted, fresh = self.write(pending)
        if fresh or drafted.refreshed:
            pending.cache.put({**drafted.refreshed_payloads(), **fresh})
        return recommendation.answer(drafted, self.facts, fresh)

    def forget_item(self, item: str) -> None:
        """Drop in-memory reasons about an item whose catalog row changed."""
        self._anonymous.pop(item, None)
