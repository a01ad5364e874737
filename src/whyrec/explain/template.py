"""The `template` reasoner: aspect matching worded from the evidence, no language model.

The user's most-praised aspects (their training reviews) meet the item's best-reviewed aspects
(the item's training reviews, plus aspects its catalog text names): the first shared one makes
a personal reason. Without one, the item's aspect that reviewers of the items the user reviewed
also praise makes a history reason, else its best aspect an item-only reason; an item no review
judges gets its brand and "popular among {category}" (only when it is popular there). Item-only
reasons add the items the user reviewed from the same brand or category. Aspects that
only name the product type (the words of the item's or the shop's category: "gift card" in a
gift-card shop) are never praised.

The wording follows the evidence, so it is true and varies with it: "often" only from two or more
of the user's own reviews, "reviewers" only from two or more of the item's reviews ("one reviewer"
otherwise), the opinion word its reviewers used, how many praised it, and aspects written as the
reviews write them ("movies", "Biolage"), never re-derived from the lexicon's singular key. It is
also the fallback the grounding filter uses. Fast (dictionary look-ups) and deterministic.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whyrec.explain.aspects import normalize_feature, plural_parts, product_type_aspects
from whyrec.explain.base import (
    Reason,
    Reasoner,
    ReasonerConfig,
    ReasonRequest,
    TrainingReviews,
    first_listing,
    with_catalog,
)
from whyrec.explain.voice import at_words, attributive, count_words, review_day, when_reviewed

if TYPE_CHECKING:
    import pandas as pd

# Sentence parts, chosen by the evidence. Slots: {the_f} "the scent" / "Biolage", {f} the aspect as
# written, {adj} an opinion the item's reviewers used, {uadj} one the user used, {n}/{u}/{k} counts in
# words (item reviews praising it / the user's reviews praising it / reviewed items praised for it),
# {noun} "this one" / "this gift card", {noun_s} its possessive, {it} "it" / "them".
_YOURS_MANY = (
    "You often praise {the_f}",
    "You've praised {the_f} in {u} of your reviews",
    "Your reviews keep praising {the_f}",
)
_YOURS_MANY_ADJ = ("You often call {the_f} {uadj}",)
_YOURS_ONE = (
    "You praised {the_f} in an earlier review",
    "You've praised {the_f} before",
)
_YOURS_ONE_ADJ = ("You called {the_f} {uadj} in an earlier review",)
# What the item's reviewers (or its listing) say, by evidence class: clauses that also follow "You ...",
# and wordings that only stand alone.
_THEIRS = {
    "many_adj": (
        "reviewers call {noun_s} {f} {adj}",
        "{n} reviewers praise {noun_s} {f}, some calling {it} {adj}",
        "reviewers of {noun} find {the_f} {adj}",
    ),
    "many": ("{n} reviewers praise {noun_s} {f}", "reviewers of {noun} praise {the_f}"),
    "one_adj": ("one reviewer calls {noun_s} {f} {adj}", "a reviewer of {noun} found {the_f} {adj}"),
    "one": ("one reviewer praises {noun_s} {f}", "a reviewer of {noun} praises {the_f}"),
    "listed": ("{noun_s} listing names {the_f}", "the listing of {noun} mentions {the_f}"),
}
_ALONE = {
    "many_adj": ("praised by {n} reviewers: {noun_s} {adj} {f}", "{adj} {f}, say {n} reviewers of {noun}"),
    "many": ("praised by {n} reviewers: {noun_s} {f}",),
    "one_adj": ("{adj} {f}, says one reviewer of {noun}",),
    "one": ("praised by one reviewer: {noun_s} {f}",),
    "listed": (),
}
_JOINS = ("{yours}, and {theirs}.", "{yours} — {theirs}.")
_KIN = {
    True: "{theirs} — as do reviewers of {k} {items} you reviewed.",
    False: "{theirs} — as does a reviewer of an item you reviewed.",
}
# The item itself, when its reviews praise what only names its product type ("gift card" in a gift-card shop).
_PRODUCT = {
    "many_adj": ("reviewers call {noun} {adj}", "{n} reviewers praise {noun}, some calling it {adj}"),
    "many": ("{n} reviewers praise {noun}", "praised by {n} reviewers: {noun}"),
}


class TemplateConfig(ReasonerConfig):
    """How aspects are counted and how much evidence is cited."""

    use_catalog: bool = True  # count aspects the item's catalog text names as the item's
    max_history: int = 3  # history items cited per reason


@dataclass
class _AspectStats:
    """Positive/negative judgements of one feature, by one user or of one item."""

    positive: int = 0
    negative: int = 0
    opinions: Counter[str] = field(default_factory=Counter)  # positive opinion words -> reviews using them
    items: list[int] = field(default_factory=list)  # for a user: items whose review praised it, oldest first
    reviews: int = 0  # distinct reviews praising it

    @property
    def net(self) -> int:
        return self.positive - self.negative

    def to_json(self) -> list:
        return [self.positive, self.negative, dict(self.opinions), self.items, self.reviews]

    @classmethod
    def from_json(cls, data: list) -> _AspectStats:
        opinions = Counter({str(k): int(v) for k, v in data[2].items()})
        return cls(int(data[0]), int(data[1]), opinions, [int(i) for i in data[3]], int(data[4]))


def _ranked_praised(stats: dict[str, _AspectStats]) -> list[str]:
    """Features judged positively on balance, best first (net praise, then praise count, then name)."""
    good = [f for f, s in stats.items() if s.net > 0]
    return sorted(good, key=lambda f: (-stats[f].net, -stats[f].positive, f))


def seen_by_items(interactions: pd.DataFrame) -> dict[int, list[int]]:
    """item -> users with an event on it, from the shop's interactions (any kind: view, cart, purchase, rating)."""
    pairs = interactions[["user", "item"]].drop_duplicates()
    seen_by: dict[int, list[int]] = defaultdict(list)
    for user, item in zip(pairs["user"].to_numpy(), pairs["item"].to_numpy(), strict=True):
        seen_by[int(item)].append(int(user))
    return dict(seen_by)


def co_viewers(seen_by: dict[int, list[int]], history: dict[int, list[int]], user: int, item: int) -> dict[int, set[int]]:
    """The shopper's other items that others who looked at `item` looked at too: history item -> those other shoppers
    (only items with some; nothing for an unknown user)."""
    here = set(seen_by.get(item, ())) - {user}
    shared = {j: here & set(seen_by.get(j, ())) for j in history.get(user, []) if j != item} if user >= 0 else {}
    return {j: who for j, who in shared.items() if who}


def ties(seen_by: dict[int, list[int]], shared: dict[int, set[int]]) -> dict[int, float]:
    """How tied each of the shopper's items in `shared` (`co_viewers`) is to the item: item-kNN's cosine over who looked
    at them, its shared shoppers over the square root of its own (the item's count is the same for all and left out),
    so a link through an item everyone looked at counts for less than one through a like item."""
    return {j: len(who) / math.sqrt(len(seen_by[j])) for j, who in shared.items()}


def histories(seen_by: dict[int, list[int]]) -> dict[int, list[int]]:
    """user -> items, from item -> users."""
    out: dict[int, list[int]] = defaultdict(list)
    for item, users in seen_by.items():
        for user in users:
            out[user].append(item)
    return dict(out)


def _written(counts: Counter[tuple[str, bool]], key: str, singular: bool = False) -> str | None:
    """The form most occurrences write (lower-case; ties: the key), cased as most telling occurrences case it.

    `singular`: only forms that are the key itself ("gift card", not "gift cards"). None without occurrences.
    """
    lower: Counter[str] = Counter()
    for (written, _), n in counts.items():
        if not singular or written.lower() == key:
            lower[written.lower()] += n
    if not lower:
        return None
    form = min(lower, key=lambda w: (-lower[w], w != key, w))
    cased = Counter({w: n for (w, telling), n in counts.items() if telling and w.lower() == form})
    if cased:
        best = min(cased, key=lambda w: (-cased[w], w))
        if 2 * cased[best] > cased.total():
            return best
    return form


def _is_plural(form: str, key: str) -> bool:
    """Whether the written form is the plural of the lexicon's singular key (its last word differs)."""
    return form.lower().split()[-1] != key.split()[-1]


class TemplateReasoner(Reasoner):
    """Aspect-based reasons worded from their evidence; see the module docstring."""

    name = "template"
    config_class = TemplateConfig
    config: TemplateConfig
    format_version = 3
    json_parts = ("profiles.json",)

    def __init__(self, config: TemplateConfig | None = None) -> None:
        super().__init__(config)
        self.users: dict[int, dict[str, _AspectStats]] = {}
        self.items: dict[int, dict[str, _AspectStats]] = {}
        self.reviewed: dict[int, list[int]] = {}  # user -> items they reviewed, in review order
        self.reviewed_on: dict[int, dict[int, int]] = {}  # user -> item -> unix time of their review (every review)
        self.variants: dict[int, dict[int, list[int]]] = {}  # user -> item -> other listings its review is filed under
        self.catalog: dict[int, list[str]] = {}  # item -> aspects its catalog text names
        self.product: dict[int, list[str]] = {}  # item -> its aspects that only name the product type (never praised)
        self.noun: dict[int, str] = {}  # item -> its product type as reviews write it ("gift card"), when they do
        self.forms: dict[int, dict[str, str]] = {}  # item -> aspect -> as its reviews/catalog write it (where not the key)
        self.shop_forms: dict[str, str] = {}  # aspect -> as the shop's reviews write it (where not the key)
        self.path: dict[int, str] = {}  # item -> category path
        self.kind: dict[int, str] = {}  # item -> what a shopper calls its category's items ("power banks"), where known
        self.popular: set[int] = set()  # items reviewed at least as often as their category's median
        self.brand: dict[int, str] = {}
        self.seen_by: dict[int, list[int]] = {}  # item -> users with an event on it (the shop's interactions)
        self._history: dict[int, list[int]] = {}  # user -> items they had an event on (derived from seen_by)
        self._clashes: dict[str, bool] = {}  # template -> its fixed words name a lexicon aspect (derived, not saved)

    # ---- fitting ---------------------------------------------------------------------------
    def _fit_reviews(self, reviews: TrainingReviews) -> None:
        """Count who praises what in the training reviews (per distinct review), and how reviews write each aspect."""
        self._clashes = {}
        users: dict[int, dict[str, _AspectStats]] = defaultdict(dict)
        items: dict[int, dict[str, _AspectStats]] = defaultdict(dict)
        reviewed: dict[int, list[int]] = defaultdict(list)
        counted: set[tuple[int, str, str]] = set()  # (row, feature, opinion or "") already counted as praise
        written: dict[int, dict[str, Counter[tuple[str, bool]]]] = defaultdict(lambda: defaultdict(Counter))
        occurrences: dict[str, list[tuple[str, str, bool]]] = {}
        # a review Amazon files under several variants is the shopper's once ("You often praise the scent" of one review
        # would overclaim); each listing keeps its copy
        once = reviews.once
        mentions = reviews.mentions[["row", "user", "item", "feature", "opinion", "sentiment", "sentence"]]
        for row, user, item, feature, opinion, sentiment, sentence in mentions.itertuples(index=False):
            user, item = int(user), int(item)
            mine = row in once
            if mine and item not in reviewed[user]:
                reviewed[user].append(item)
            first = (row, feature, "") not in counted
            fresh = (row, feature, opinion) not in counted
            for owner in (users[user], items[item]) if mine else (items[item],):
                stats = owner.setdefault(feature, _AspectStats())
                if sentiment > 0:
                    stats.positive += 1
                    stats.reviews += first
                    stats.opinions[opinion] += fresh
                else:
                    stats.negative += 1
            if sentiment > 0:
                counted |= {(row, feature, ""), (row, feature, opinion)}
                if mine and item not in users[user][feature].items:
                    users[user][feature].items.append(item)
            if sentence not in occurrences:
                occurrences[sentence] = self.lexicon.occurrences(sentence)
            written[item][feature].update((w, telling) for f, w, telling in occurrences[sentence] if f == feature)
        self.users, self.items, self.reviewed = dict(users), dict(items), dict(reviewed)
        self.reviewed_on, self.variants = reviews.reviewed_on, reviews.variants
        self.seen_by = seen_by_items(reviews.dataset.interactions)
        self._history = histories(self.seen_by)
        self.catalog = {i: sorted(f) for i, f in reviews.catalog.items()} if self.config.use_catalog else {}
        self._fit_catalog(reviews, written)

    def _fit_catalog(self, reviews: TrainingReviews, written: dict[int, dict[str, Counter[tuple[str, bool]]]]) -> None:
        """Brand, product-type aspects, written forms per item; the category of items reviewed at least as often as its median."""
        dataset = reviews.dataset
        counts = dataset.reviews["item"].iloc[reviews.rows].value_counts()
        catalog = dataset.items.assign(
            path=dataset.items["category"].map(lambda c: c.strip() if isinstance(c, str) and c.strip() else None),
            n=dataset.items["item"].map(counts).fillna(0),
        )
        self.brand = {int(i): str(b) for i, b in zip(catalog["item"], catalog["brand"], strict=True) if isinstance(b, str) and b}
        self.path = {int(i): str(p) for i, p in zip(catalog["item"], catalog["path"], strict=True) if p}
        self.kind = {
            int(i): kind
            for i, p, t in zip(catalog["item"], catalog["path"], catalog["title"], strict=True)
            if p and isinstance(t, str) and (kind := _kind_of(p, t))
        }
        self.popular = set()
        for _, group in catalog.dropna(subset=["path"]).groupby("path"):
            median = float(group["n"].median())
            self.popular.update(int(i) for i, n in zip(group["item"], group["n"], strict=True) if n > 0 and n >= median)
        for row in dataset.items.itertuples(index=False):
            for text in (row.title, row.brand, row.category, row.description):
                if isinstance(text, str) and text:
                    for feature, form, telling in self.lexicon.occurrences(text):
                        if feature not in written[int(row.item)]:  # review forms first; the catalog's for catalog-only aspects
                            written[int(row.item)].setdefault(f"catalog:{feature}", Counter())[form, telling] += 1
        shop: dict[str, Counter[tuple[str, bool]]] = defaultdict(Counter)
        for per_item in written.values():
            for feature, occurrences in per_item.items():
                if not feature.startswith("catalog:"):
                    shop[feature].update(occurrences)
        self.shop_forms = {f: form for f, c in shop.items() if (form := _written(c, f)) and form != f}
        self.forms = {}
        for item, per_item in written.items():
            forms = {}
            for feature, occurrences in per_item.items():
                key = feature.removeprefix("catalog:")
                form = _written(occurrences, key)
                if form and form != self.shop_forms.get(key, key):
                    forms[key] = form
            if forms:
                self.forms[item] = forms
        self._fit_products(catalog["path"], dataset.items["item"], shop)

    def _fit_products(self, paths: Any, item_ids: Any, shop: dict[str, Counter[tuple[str, bool]]]) -> None:
        """Per item, its aspects whose head word heads a segment of its category path or one of the shop's top categories."""
        known = {int(i): p for i, p in zip(item_ids, paths, strict=True) if isinstance(p, str) and p}
        have = {i: [*self.items.get(i, {}), *self.catalog.get(i, [])] for i in sorted(set(self.items) | set(self.catalog))}
        self.product, self.noun = product_type_aspects(known, have), {}
        for item, product in self.product.items():
            stats = self.items.get(item, {})
            for feature in sorted(product, key=lambda f: (-(stats[f].reviews if f in stats else 0), f)):
                if (
                    feature in stats
                    and stats[feature].reviews >= 2
                    and (noun := _written(shop.get(feature, Counter()), feature, singular=True))
                ):
                    self.noun[item] = noun
                    break

    # ---- generating ------------------------------------------------------------------------
    def _reviewed_aspects(self, item: int) -> list[str]:
        """The item's review aspects as the model knows them: best-reviewed first, then the rest."""
        stats = self.items.get(item, {})
        praised = _ranked_praised(stats)
        return [*praised, *sorted(set(stats) - set(praised))]

    def _form(self, item: int, feature: str) -> str:
        """The aspect as the item's reviews (or catalog) write it, else as the shop's reviews do."""
        return self.forms.get(item, {}).get(feature) or self.shop_forms.get(feature, feature)

    def _kin(self, user: int, item: int, feature: str) -> dict[int, int]:
        """Items the user reviewed (not this one) that reviewers praise for `feature`, with how many praise it."""
        kin = {}
        for j in self.reviewed.get(user, []):
            stats = self.items.get(j, {}).get(feature)
            if j != item and stats is not None and stats.net > 0 and stats.reviews:
                kin[j] = stats.reviews
        return kin

    def _one(self, request: ReasonRequest) -> Reason:
        item_stats = self.items.get(request.item, {})
        product = set(self.product.get(request.item, ()))
        best = [f for f in _ranked_praised(item_stats) if f not in product]
        listed = [f for f in self.catalog.get(request.item, []) if f not in item_stats and f not in product]
        user_stats = self.users.get(request.user, {}) if request.user >= 0 else {}
        liked = [f for f in _ranked_praised(user_stats) if f in best or f in listed]
        kin: dict[str, dict[int, int]] = {}
        if request.hint is not None and (request.hint in best or request.hint in listed):
            feature = request.hint
        elif liked:
            feature = liked[0]
        elif best:
            kin = {
                f: k
                for f in best
                if (item_stats[f].reviews >= 2 or f == best[0]) and (k := self._kin(request.user, request.item, f))
            }
            feature = max(kin, key=lambda f: (len(kin[f]), -best.index(f))) if kin else best[0]
        else:
            return self._product(request)
        personal = feature in user_stats and user_stats[feature].net > 0
        stats = item_stats.get(feature)
        slots = self._slots(request, feature, stats, user_stats.get(feature) if personal else None)
        cls = self._evidence_class(stats, slots)
        if personal:
            u = user_stats[feature].reviews
            yours = (
                (_YOURS_MANY + (_YOURS_MANY_ADJ if slots["uadj"] else ()))
                if u >= 2
                else (_YOURS_ONE + (_YOURS_ONE_ADJ if slots["uadj"] else ()))
            )
            options = tuple(j.format(yours=y, theirs=t) for j in _JOINS for y in yours for t in _THEIRS[cls])
            kind, history = "personal", user_stats[feature].items[-self.config.max_history :]
        elif feature in kin:
            items = list(kin[feature])[-self.config.max_history :]
            plural = sum(kin[feature].values()) >= 2 and stats is not None and stats.reviews >= 2
            slots |= {"k": count_words(len(kin[feature])), "items": "item" if len(kin[feature]) == 1 else "items"}
            options = tuple(_KIN[plural].format(theirs=t, k="{k}", items="{items}") for t in _THEIRS[cls])
            kind, history = "history", items
        else:
            options = tuple(t + "." for t in (*_THEIRS[cls], *_ALONE[cls]))
            kind, history = "item", []
        text = self._wording(options, request, slots)
        if kind == "item":
            tail, history = self._alike(request)
            text += tail
        evidence = {
            "item_aspects": [feature],
            "history_items": history,
            "kind": kind,
            "item_reviews": stats.reviews if stats else 0,  # the item's training reviews praising it
            "user_reviews": user_stats[feature].reviews if personal else 0,  # the user's own reviews praising it
            "opinion": slots["adj"] or None,
            "listed": feature in self.catalog.get(request.item, []),
        }
        score = stats.positive / (stats.positive + stats.negative) if stats else 0.5
        aspects = list(dict.fromkeys([*self.lexicon.mentions(text), feature]))
        return Reason(request.user, request.item, text, aspects, evidence, score)

    def _slots(
        self, request: ReasonRequest, feature: str, stats: _AspectStats | None, mine: _AspectStats | None
    ) -> dict[str, str]:
        """The words a wording is filled with, from the item's and the user's evidence for `feature`."""
        form = self._form(request.item, feature)
        # a personal reason names no aspect but the one the user praises ("this gift card" is one)
        noun = f"this {self.noun[request.item]}" if request.item in self.noun and mine is None else "this one"
        return {
            "f": form,
            "the_f": form if form[0].isupper() else f"the {form}",
            "it": "them" if _is_plural(form, feature) else "it",
            "noun": noun,
            "noun_s": f"{noun}'s",
            "n": count_words(stats.reviews) if stats else "",
            "u": count_words(mine.reviews) if mine else "",
            "adj": self._adjective(stats, mine, request) if stats else "",
            "uadj": self._adjective(mine, None, request) if mine else "",
        }

    def _adjective(self, stats: _AspectStats, mine: _AspectStats | None, request: ReasonRequest) -> str:
        """An opinion two or more reviews used (one will do when only one praises it); the user's own first, else by the pair."""
        usable = {w: n for w, n in stats.opinions.items() if n and attributive(w, self.lexicon)}
        enough = sorted(w for w, n in usable.items() if n >= min(2, stats.reviews))
        if not enough:
            return ""
        shared = [w for w in enough if mine is not None and mine.opinions.get(w)]
        top = max(usable[w] for w in enough)
        common = [w for w in enough if 2 * usable[w] >= top]  # the opinions used about as often as the most used one
        return shared[0] if shared else common[(request.user * 7919 + request.item) % len(common)]

    @staticmethod
    def _evidence_class(stats: _AspectStats | None, slots: dict[str, str]) -> str:
        """Which wordings the evidence allows: plural claims only from two or more praising reviews."""
        if stats is None or stats.reviews == 0:
            return "listed"
        return ("many" if stats.reviews >= 2 else "one") + ("_adj" if slots["adj"] else "")

    def _wording(self, options: tuple[str, ...], request: ReasonRequest, slots: dict[str, str]) -> str:
        """The pair's wording filled in, or the next one whose fixed words name no aspect.

        A shop's lexicon can hold a template word ("care" in beauty shops' "hair care"); a reason
        that named it would cite an aspect the item may not have, so that wording is skipped.
        """
        blank = dict.fromkeys(slots, ",")
        start = (request.user * 7919 + request.item) % len(options)
        for template in [*options[start:], *options[:start]]:
            if template not in self._clashes:
                self._clashes[template] = bool(self.lexicon.mentions(template.format(**blank)))
            if not self._clashes[template]:
                text = template.format(**slots)
                return text[0].upper() + text[1:]
        text = options[start].format(**slots)
        return text[0].upper() + text[1:]

    def _product(self, request: ReasonRequest) -> Reason:
        """No aspect but the product type: the item itself, when two or more reviews praise it as that; else `_fallback`."""
        stats = self.items.get(request.item, {})
        noun = self.noun.get(request.item)
        feature = next((f for f in self.product.get(request.item, []) if normalize_feature(noun or "") == f), None)
        if feature is None or stats[feature].net <= 0:
            return self._fallback(request)
        slots = self._slots(request, feature, stats[feature], None)
        text = self._wording(tuple(t + "." for t in _PRODUCT["many_adj" if slots["adj"] else "many"]), request, slots)
        evidence = {
            "item_aspects": [feature],
            "history_items": [],
            "kind": "product",
            "item_reviews": stats[feature].reviews,
            "user_reviews": 0,
            "opinion": slots["adj"] or None,
            "listed": feature in self.catalog.get(request.item, []),
        }
        score = stats[feature].positive / (stats[feature].positive + stats[feature].negative)
        return Reason(
            request.user, request.item, text, list(dict.fromkeys([*self.lexicon.mentions(text), feature])), evidence, score
        )

    def _fallback(self, request: ReasonRequest) -> Reason:
        """No aspect to cite: the item's brand and category (if popular there), or either, or a plain line."""
        category = self.kind.get(request.item) if request.item in self.popular else None
        brand = self.brand.get(request.item)
        if category and brand:
            text, kind = f"From {brand}, popular among {category}.", "category"
        elif category:
            text, kind = f"Popular among {category}.", "category"
        elif brand:
            text, kind = f"From {brand}.", "brand"
        elif linked := self._co_viewed(request):
            text, found = linked
            return Reason(request.user, request.item, text, self.lexicon.mentions(text), {"item_aspects": []} | found, 0.0)
        else:
            text, kind = "Picked for you.", "none"
        tail, alike = self._alike(request)
        evidence = {"item_aspects": [], "history_items": alike, "kind": kind}
        return Reason(request.user, request.item, f"{text}{tail}", self.lexicon.mentions(f"{text}{tail}"), evidence, 0.0)

    def _co_viewed(self, request: ReasonRequest, turn: int = 0) -> tuple[str, dict[str, Any]] | None:
        """A true co-occurrence line, worded by `turn` (`co_viewed_line`), with its evidence (kind, the shoppers behind
        it, the shopper's items they looked at, and the one named); None where nobody links the item to the shopper's.

        Of the shopper's items those shoppers looked at, the one most tied to this item (item-kNN's cosine) that the
        shopper's review dates (`when_reviewed`; a listing their review is filed under as another variant goes by that
        review) is named by that date: "A shopper who looked at the item you reviewed in July 2016 also looked at this
        one." Where none can be, the line counts ("… an item you looked at …"; the listings of one review count once),
        which reads the same to every shopper. Any event (view, cart, purchase, rating) counts as looking at an item, so
        the claim holds for every kind.
        """
        user, item = request.user, request.item
        shared = co_viewers(self.seen_by, self._history, user, item)
        if not shared:
            return None
        times, variants = self.reviewed_on.get(user, {}), self.variants.get(user, {})
        tied = ties(self.seen_by, shared)
        for j in sorted(shared, key=lambda j: -tied[j]):  # stable: equal ties in the shopper's order
            if when := when_reviewed(times, first := first_listing(variants, j)):
                n = len(shared[j])
                evidence = {"history_items": [j], "kind": "co-viewed", "shoppers": n, "looked_at": 1}
                day = review_day(times[first]).isoformat()
                return co_viewed_line(n, f"the item you reviewed {at_words(when)}", turn), evidence | {"reviewed_on": day}
        n = len(set().union(*shared.values()))  # shoppers behind the link
        mine = len({first_listing(variants, j) for j in shared})
        what = "an item" if mine == 1 else f"{count_words(mine)} items" if n == 1 else "items"
        evidence = {"history_items": [], "kind": "co-viewed", "shoppers": n, "looked_at": mine}
        return co_viewed_line(n, f"{what} you looked at", turn), evidence

    def _alike(self, request: ReasonRequest) -> tuple[str, list[int]]:
        """The sentence " You've reviewed two items from Voltix." (else among its category's: "… two items among power
        banks."), and those items; ("", []) without any."""
        reviewed = [j for j in self.reviewed.get(request.user, []) if j != request.item] if request.user >= 0 else []
        for by, what in ((self.brand, "from"), (self.path, "among")):
            mine = by.get(request.item)
            same = [j for j in reviewed if mine is not None and by.get(j) == mine]
            named = mine if by is self.brand else self.kind.get(request.item)
            if same and named:
                text = f" You've reviewed {count_words(len(same))} {'item' if len(same) == 1 else 'items'} {what} {named}."
                if not self.lexicon.mentions(text):
                    return text, same[-self.config.max_history :]
        return "", []

    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        """One reason per request; a co-view line already given to a shopper in this call is worded anew (`co_viewed_line`),
        so a list of items known only by who looked at them does not repeat one sentence."""
        self._require_fitted()
        out = [self._one(r) for r in requests]
        given: dict[int, Counter[str]] = defaultdict(Counter)
        for k, (request, reason) in enumerate(zip(requests, out, strict=True)):
            if reason.evidence.get("kind") == "co-viewed":
                turn = given[reason.user][reason.text]
                given[reason.user][reason.text] += 1
                if turn and (linked := self._co_viewed(request, turn)):
                    out[k] = replace(reason, text=linked[0])
        return out

    def forget_user(self, user: int) -> bool:
        """Drop the user's aspect profile and review list. Item counts and the lexicon keep their reviews until refitted."""
        self.users.pop(user, None)
        self.reviewed.pop(user, None)
        self.reviewed_on.pop(user, None)
        self.variants.pop(user, None)
        for item in self._history.pop(user, []):
            self.seen_by[item] = [u for u in self.seen_by[item] if u != user]
        return True

    def item_aspects(self) -> dict[int, list[str]]:
        """Per item the model knows, its aspects, best-reviewed first (for the grounding filter)."""
        return with_catalog({i: self._reviewed_aspects(i) for i in self.items}, self.catalog)

    # ---- persistence -----------------------------------------------------------------------
    def _json_parts(self) -> dict[str, Any]:
        """profiles.json: aspect counts per user and item, reviewed items, catalog and product-type aspects, written forms."""
        profiles = {
            "users": {str(u): {f: s.to_json() for f, s in st.items()} for u, st in self.users.items()},
            "items": {str(i): {f: s.to_json() for f, s in st.items()} for i, st in self.items.items()},
            "reviewed": {str(u): items for u, items in self.reviewed.items()},
            "reviewed_on": {str(u): {str(i): at for i, at in times.items()} for u, times in self.reviewed_on.items()},
            "variants": {str(u): {str(i): v for i, v in by.items()} for u, by in self.variants.items()},
            "catalog": {str(i): f for i, f in self.catalog.items()},
            "product": {str(i): f for i, f in self.product.items()},
            "noun": {str(i): n for i, n in self.noun.items()},
            "forms": {str(i): f for i, f in self.forms.items()},
            "shop_forms": self.shop_forms,
            "path": {str(i): c for i, c in self.path.items()},
            "kind": {str(i): k for i, k in self.kind.items()},
            "popular": sorted(self.popular),
            "brand": {str(i): b for i, b in self.brand.items()},
            "seen_by": {str(i): u for i, u in self.seen_by.items()},
        }
        return {"profiles.json": profiles}

    def _restore(self, path: Path, meta: dict[str, Any], parts: dict[str, Any]) -> None:
        profiles = parts["profiles.json"]
        self.users = {int(u): {f: _AspectStats.from_json(s) for f, s in st.items()} for u, st in profiles["users"].items()}
        self.items = {int(i): {f: _AspectStats.from_json(s) for f, s in st.items()} for i, st in profiles["items"].items()}
        self.reviewed = {int(u): [int(i) for i in items] for u, items in profiles["reviewed"].items()}
        # artifacts saved before review times were kept: co-view lines count the shopper's items, as they did
        times = profiles.get("reviewed_on", {})
        self.reviewed_on = {int(u): {int(i): int(at) for i, at in t.items()} for u, t in times.items()}
        variants = profiles.get("variants", {})
        self.variants = {int(u): {int(i): [int(j) for j in v] for i, v in by.items()} for u, by in variants.items()}
        self.catalog = {int(i): list(f) for i, f in profiles["catalog"].items()}
        self.product = {int(i): list(f) for i, f in profiles["product"].items()}
        self.noun = {int(i): n for i, n in profiles["noun"].items()}
        self.forms = {int(i): dict(f) for i, f in profiles["forms"].items()}
        self.shop_forms = dict(profiles["shop_forms"])
        self.path = {int(i): c for i, c in profiles["path"].items()}
        # artifacts saved before kinds were kept: no category named to a shopper (its path is no words to show one)
        self.kind = {int(i): k for i, k in profiles.get("kind", {}).items()}
        self.popular = {int(i) for i in profiles["popular"]}
        self.brand = {int(i): b for i, b in profiles["brand"].items()}
        self.seen_by = {int(i): [int(u) for u in users] for i, users in profiles["seen_by"].items()}
        self._history = histories(self.seen_by)


def _kind_of(path: str, title: str) -> str | None:
    """What a shopper calls the items of an item's category: the last part of its path written in the plural of the
    noun its title ends in, lower-cased ("Electronics > Power > Power Banks" for a "Voltaic Ridge Power Bank" -> "power
    banks"; "Outdoor > Jackets > Rain" for a rain jacket -> "jackets"); None where no part is ("Women" of a magazine
    names its readers, not it). The path itself is the catalog's filing, not words to show a shopper."""
    parts = plural_parts(path, title)
    return " ".join(w if any(c.isupper() for c in w[1:]) else w.lower() for w in parts[-1]) if parts else None


def co_viewed_line(shoppers: int, what: str, turn: int = 0) -> str:
    """Who else looked at an item: `shoppers` who looked at `what` (the shopper's items: "an item you looked at", "the
    item you reviewed in July 2016"), worded by `turn` (the same line given before in one list) so that a list does not
    repeat it."""
    who = "a shopper" if shoppers == 1 else f"{count_words(shoppers)} shoppers"
    wordings = (
        f"{who} who looked at {what} also looked at this one.",
        f"Also looked at by {who} who looked at {what}.",
        f"Looked at by {who} who also looked at {what}.",
        f"Of interest to {who} who looked at {what}.",
    )
    line = wordings[turn % len(wordings)]
    return line[0].upper() + line[1:]
