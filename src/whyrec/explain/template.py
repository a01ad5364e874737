"""The `template` reasoner: aspect matching worded by a few fixed sentences, no language model.

The user's most-praised aspects (their training reviews) meet the item's best-reviewed aspects
(the item's training reviews, plus aspects its catalog text names): the first shared one makes
a personal reason. Without one, the item's best aspect makes an item-only reason; an item no
review judges gets "Popular in {category}" (only when it is popular there) or its brand. Every
sentence it writes is true of the training data by construction, so it is also the fallback the
grounding filter uses. Fast (dictionary look-ups) and deterministic.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whyrec.explain.base import Reason, Reasoner, ReasonerConfig, ReasonRequest, TrainingReviews, with_catalog

# Personal reasons: the user praises {feature}; reviewers praise the item's. With {opinion} only when
# the item's reviews give an adjective that reads well before the noun.
_PERSONAL = (
    "You often praise the {feature} — reviewers love this one's {opinion} {feature}.",
    "You care about the {feature}, and reviewers call this one's {feature} {opinion}.",
    "Reviewers rate the {feature} of this one {opinion}, and the {feature} is what you look for.",
)
_PERSONAL_PLAIN = (
    "You often praise the {feature} — reviewers praise this one's {feature} too.",
    "You care about the {feature}, and reviewers like this one's {feature}.",
)
_PERSONAL_CATALOG = ("You often praise the {feature} — this one's listing names it too.",)
_ITEM = (
    "Reviewers love this one's {opinion} {feature}.",
    "Reviewers say the {feature} is {opinion}.",
)
_ITEM_PLAIN = ("Reviewers praise the {feature} of this one.",)
# Opinions that do not read as an adjective before a noun ("love battery", "well battery").
_NOT_ATTRIBUTIVE = frozenset(
    f"{verb}{ending}" for verb in ("love", "like", "enjoy", "adore", "appreciate") for ending in ("", "s", "d", "ed")
) | {"well"}


class TemplateConfig(ReasonerConfig):
    """How aspects are counted and how much evidence is cited."""

    use_catalog: bool = True  # count aspects the item's catalog text names as the item's
    max_history: int = 3  # history items cited per reason


@dataclass
class _AspectStats:
    """Positive/negative judgements of one feature, by one user or of one item."""

    positive: int = 0
    negative: int = 0
    opinions: Counter[str] = field(default_factory=Counter)  # positive opinion words and their counts
    items: list[int] = field(default_factory=list)  # for a user: items whose review praised it, oldest first

    @property
    def net(self) -> int:
        return self.positive - self.negative

    def to_json(self) -> list:
        return [self.positive, self.negative, dict(self.opinions), self.items]

    @classmethod
    def from_json(cls, data: list) -> _AspectStats:
        return cls(int(data[0]), int(data[1]), Counter({str(k): int(v) for k, v in data[2].items()}), [int(i) for i in data[3]])


def _ranked_praised(stats: dict[str, _AspectStats]) -> list[str]:
    """Features judged positively on balance, best first (net praise, then praise count, then name)."""
    good = [f for f, s in stats.items() if s.net > 0]
    return sorted(good, key=lambda f: (-stats[f].net, -stats[f].positive, f))


def _adjective(stats: _AspectStats) -> str | None:
    """The most frequent positive opinion that reads well before the feature, if any."""
    usable = [(n, w) for w, n in stats.opinions.items() if " " not in w and w not in _NOT_ATTRIBUTIVE and not w.endswith("ly")]
    return min(usable, key=lambda nw: (-nw[0], nw[1]))[1] if usable else None


def _pick(options: tuple[str, ...], request: ReasonRequest) -> str:
    """A template chosen by the (user, item) pair: varied across pairs, fixed for one pair."""
    return options[(request.user * 7919 + request.item) % len(options)]


def _rotation(options: tuple[str, ...], request: ReasonRequest) -> list[str]:
    """All templates, the pair's `_pick` first, then the others in order."""
    first = options.index(_pick(options, request))
    return [*options[first:], *options[:first]]


class TemplateReasoner(Reasoner):
    """Aspect-based reasons from fixed templates; see the module docstring."""

    name = "template"
    config_class = TemplateConfig
    config: TemplateConfig
    format_version = 1
    json_parts = ("profiles.json",)

    def __init__(self, config: TemplateConfig | None = None) -> None:
        super().__init__(config)
        self.users: dict[int, dict[str, _AspectStats]] = {}
        self.items: dict[int, dict[str, _AspectStats]] = {}
        self.catalog: dict[int, list[str]] = {}  # item -> aspects its catalog text names
        self.category: dict[int, str] = {}  # item -> category path, only for items popular in it
        self.brand: dict[int, str] = {}
        self._clashes: dict[str, bool] = {}  # template -> its fixed words name a lexicon aspect (derived, not saved)

    def _fit_reviews(self, reviews: TrainingReviews) -> None:
        """Count who praises what in the training reviews."""
        self._clashes = {}
        users: dict[int, dict[str, _AspectStats]] = defaultdict(dict)
        items: dict[int, dict[str, _AspectStats]] = defaultdict(dict)
        mentions = reviews.mentions[["user", "item", "feature", "opinion", "sentiment"]]
        for user, item, feature, opinion, sentiment in mentions.itertuples(index=False):
            for owner in (users[int(user)], items[int(item)]):
                stats = owner.setdefault(feature, _AspectStats())
                if sentiment > 0:
                    stats.positive += 1
                    stats.opinions[opinion] += 1
                else:
                    stats.negative += 1
            if sentiment > 0 and int(item) not in users[int(user)][feature].items:
                users[int(user)][feature].items.append(int(item))
        self.users, self.items = dict(users), dict(items)
        self.catalog = {i: sorted(f) for i, f in reviews.catalog.items()} if self.config.use_catalog else {}
        self._fit_catalog(reviews)

    def _fit_catalog(self, reviews: TrainingReviews) -> None:
        """Brand per item, and the category of items reviewed at least as often as their category's median."""
        dataset = reviews.dataset
        counts = dataset.reviews["item"].iloc[reviews.rows].value_counts()
        catalog = dataset.items.assign(
            path=dataset.items["category"].map(lambda c: c.strip() if isinstance(c, str) and c.strip() else None),
            n=dataset.items["item"].map(counts).fillna(0),
        )
        self.brand = {int(i): str(b) for i, b in zip(catalog["item"], catalog["brand"], strict=True) if isinstance(b, str) and b}
        self.category = {}
        for path, group in catalog.dropna(subset=["path"]).groupby("path"):
            median = float(group["n"].median())
            self.category.update(
                {int(i): str(path) for i, n in zip(group["item"], group["n"], strict=True) if n > 0 and n >= median}
            )

    def _reviewed_aspects(self, item: int) -> list[str]:
        """The item's review aspects as the model knows them: best-reviewed first, then the rest."""
        stats = self.items.get(item, {})
        praised = _ranked_praised(stats)
        return [*praised, *sorted(set(stats) - set(praised))]

    def _one(self, request: ReasonRequest) -> Reason:
        item_stats = self.items.get(request.item, {})
        best = _ranked_praised(item_stats)
        listed = [f for f in self.catalog.get(request.item, []) if f not in item_stats]
        user_stats = self.users.get(request.user, {}) if request.user >= 0 else {}
        liked = _ranked_praised(user_stats)
        if request.hint is not None and (request.hint in best or request.hint in listed):
            chosen = [request.hint]
        else:
            chosen = [f for f in liked if f in best or f in listed][:1] or best[:1]
        if not chosen:
            return self._fallback(request)
        feature = chosen[0]
        personal = feature in liked
        history = user_stats[feature].items[-self.config.max_history :] if personal else []
        if feature in item_stats:
            stats = item_stats[feature]
            opinion = _adjective(stats)
            if personal:
                options = _PERSONAL if opinion else _PERSONAL_PLAIN
            else:
                options = _ITEM if opinion else _ITEM_PLAIN
            score = stats.positive / (stats.positive + stats.negative)
        else:  # named by the catalog only: no reviewer opinion to quote
            options, opinion, score = _PERSONAL_CATALOG, None, 0.5
        evidence = {
            "item_aspects": [feature],
            "history_items": history,
            "kind": "personal" if personal else "item",
        }
        return Reason(request.user, request.item, self._wording(options, request, feature, opinion), [feature], evidence, score)

    def _wording(self, options: tuple[str, ...], request: ReasonRequest, feature: str, opinion: str | None) -> str:
        """The pair's template filled in, or the next one whose fixed words name no other aspect.

        A shop's lexicon can hold a template word ("care" in beauty shops' "hair care"); a reason
        that named it would cite an aspect the item may not have, so that wording is skipped.
        """
        for template in _rotation(options, request):
            if template not in self._clashes:
                self._clashes[template] = bool(self.lexicon.mentions(template.format(feature=",", opinion=",")))
            if not self._clashes[template]:
                return template.format(feature=feature, opinion=opinion)
        return _pick(options, request).format(feature=feature, opinion=opinion)

    def _fallback(self, request: ReasonRequest) -> Reason:
        """No aspect to cite: the item's category (if popular there), its brand, or a plain line."""
        if request.item in self.category:
            text, kind = f"Popular in {self.category[request.item]}.", "category"
        elif request.item in self.brand:
            text, kind = f"From {self.brand[request.item]}.", "brand"
        else:
            text, kind = "Picked for you.", "none"
        return Reason(request.user, request.item, text, [], {"item_aspects": [], "history_items": [], "kind": kind}, 0.0)

    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        self._require_fitted()
        return [self._one(r) for r in requests]

    def forget_user(self, user: int) -> bool:
        """Drop the user's aspect profile. Item counts and the lexicon still include their reviews until refitted."""
        self.users.pop(user, None)
        return True

    def item_aspects(self) -> dict[int, list[str]]:
        """Per item the model knows, its aspects, best-reviewed first (for the grounding filter)."""
        return with_catalog({i: self._reviewed_aspects(i) for i in self.items}, self.catalog)

    # ---- persistence -----------------------------------------------------------------------
    def _json_parts(self) -> dict[str, Any]:
        """profiles.json: the aspect counts per user and item, catalog aspects, categories and brands."""
        profiles = {
            "users": {str(u): {f: s.to_json() for f, s in st.items()} for u, st in self.users.items()},
            "items": {str(i): {f: s.to_json() for f, s in st.items()} for i, st in self.items.items()},
            "catalog": {str(i): f for i, f in self.catalog.items()},
            "category": {str(i): c for i, c in self.category.items()},
            "brand": {str(i): b for i, b in self.brand.items()},
        }
        return {"profiles.json": profiles}

    def _restore(self, path: Path, meta: dict[str, Any], parts: dict[str, Any]) -> None:
        profiles = parts["profiles.json"]
        self.users = {int(u): {f: _AspectStats.from_json(s) for f, s in st.items()} for u, st in profiles["users"].items()}
        self.items = {int(i): {f: _AspectStats.from_json(s) for f, s in st.items()} for i, st in profiles["items"].items()}
        self.catalog = {int(i): list(f) for i, f in profiles["catalog"].items()}
        self.category = {int(i): c for i, c in profiles["category"].items()}
        self.brand = {int(i): b for i, b in profiles["brand"].items()}
