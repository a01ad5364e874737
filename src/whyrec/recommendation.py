"""A served recommendation and the one function that builds it: rank, write reasons, filter, fall back.

The server, `whyrec recommend`, `whyrec explain` and the evaluation report's timing all call
`recommend`, so a reason that fails the grounding or safety filters is replaced by the fallback
reasoner's or withheld through every entry point, never shown (DESIGN, "Reasons that are true").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from whyrec.data.schema import IdMap
    from whyrec.explain.aspects import AspectLexicon
    from whyrec.explain.base import Reason, Reasoner
    from whyrec.recommend.base import Recommender

ATTRIBUTION_TOP = 3  # history items credited per recommendation ("because you bought ...")
CATALOG_FIELDS = ("title", "category", "brand", "price")


class ItemFacts(Protocol):
    """What reasons are checked against and what an answer shows of an item, by dense item id."""

    lexicon: AspectLexicon | None  # names the aspects a reason's text mentions

    def raw(self, item: int) -> str:
        """The item's raw id."""

    def aspects(self, item: int) -> Sequence[str]:
        """Aspects the item really has (its reviews or catalog say so), best first."""

    def praised(self, item: int) -> Sequence[str]:
        """Aspects the item's reviews praise more than they fault, best first: what a reason may be asked to praise."""

    def praised_with(self, item: int) -> Mapping[str, Sequence[str]]:
        """Per praised aspect, the adjectives the item's reviews praised it with, most used first ("sturdy", "pretty")."""

    def catalog(self, item: int) -> Mapping[str, Any] | None:
        """The item's catalog row; None when no catalog is known, so no stated price is backed."""


class ReasonCache(Protocol):
    """Checked reasons and attributions kept per (user, item) by the caller, as `Recommendation.cached` payloads."""

    def get(self, items: Sequence[int]) -> dict[int, dict[str, Any]]: ...

    def put(self, payloads: Mapping[int, dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class RecordedFacts:
    """An artifact without its store: aspects from the reasoner's record of each item and no catalog, so
    answers show ids and back no stated price."""

    item_ids: IdMap
    recorded: Mapping[int, Sequence[str]]
    lexicon: AspectLexicon | None = None

    @classmethod
    def of(cls, reasoner: Reasoner | None, item_ids: IdMap) -> RecordedFacts:
        if reasoner is None:
            return cls(item_ids, {})
        return cls(item_ids, reasoner.item_aspects(), reasoner.lexicon)

    def raw(self, item: int) -> str:
        return self.item_ids.raw[item]

    def aspects(self, item: int) -> Sequence[str]:
        return self.recorded.get(item, ())

    def praised(self, item: int) -> Sequence[str]:
        return self.recorded.get(item, ())  # the reasoner's record keeps no sentiment; it lists its best first

    def praised_with(self, item: int) -> Mapping[str, Sequence[str]]:
        return {}  # the reasoner's own record has them, where it keeps any

    def catalog(self, item: int) -> Mapping[str, Any] | None:
        return None


@dataclass(frozen=True)
class Reasons:
    """A reasoner behind the filters: its reasons are grounded and screened against `facts`; a failing one is
    retried with a hint, then replaced by `fallback`'s (normally `template`), else withheld."""

    reasoner: Reasoner
    facts: ItemFacts
    fallback: Reasoner | None = None
    known_users: int | None = None  # users the reasoner was fitted with; any other is asked about as unknown (-1)

    def write(self, user: int, items: Sequence[int], listed: Sequence[str] = ()) -> list[Reason]:
        """One checked reason per item, in order, none repeating another or one of `listed` (the reasons the shopper's
        list already has) where the filters can help it; `evidence["generated_by"]` names the reasoner that wrote it."""
        from whyrec.explain.base import ReasonRequest
        from whyrec.explain.filters import generate_grounded

        known = self.known_users is None or 0 <= user < self.known_users
        asked = user if known else -1
        aspects = {int(i): list(self.facts.aspects(int(i))) for i in items}
        praised = {int(i): list(self.facts.praised(int(i))) for i in items}
        requests = [
            ReasonRequest(
                asked,
                int(i),
                praised=tuple(praised[int(i)]),
                praised_with=tuple((f, tuple(w)) for f, w in self.facts.praised_with(int(i)).items() if w),
            )
            for i in items
        ]
        catalog = {int(i): self.facts.catalog(int(i)) for i in items}
        return generate_grounded(
            self.reasoner, self.fallback, requests, aspects, self.facts.lexicon, catalog, praised, listed=tuple(listed)
        )


@dataclass(frozen=True)
class Recommendation:
    """One recommended item as every entry point shows it."""

    item: str  # raw id
    score: float  # the recommender's score (an ordering, not a probability)
    title: str | None = None
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    reason: str | None = None  # the text shown; None when there is no reasoner or every candidate failed the filters
    reasoner: str | None = None  # which reasoner wrote `reason` (the main one or its fallback)
    aspects: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()  # grounding/safety flags of a withheld reason; empty when shown
    attribution: Mapping[str, Any] | None = None  # "because you bought": history items the recommender credits

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "title": self.title,
            "category": self.category,
            "brand": self.brand,
            "price": self.price,
            "score": self.score,
            "reason": self.reason,
            "reasoner": self.reasoner,
            "aspects": list(self.aspects),
            "evidence": dict(self.evidence),
            "flags": list(self.flags),
            "attribution": None if self.attribution is None else dict(self.attribution),
        }


@dataclass(frozen=True)
class Answer:
    """One shopper's recommendations; `fallback` marks popular items for a shopper the model does not know."""

    user: int
    items: list[Recommendation]
    fallback: bool
    cached: int = 0  # items whose reason came from the cache


@dataclass(frozen=True)
class Draft:
    """A ranked answer whose missing reasons are not written yet: everything `recommend` does with the recommender,
    so that a server can write the reasons (the slow part) without holding the lock that guards its model."""

    user: int
    items: list[int]
    scores: list[float]
    fallback: bool
    payloads: dict[int, dict[str, Any]]  # complete ones, from the cache
    attributions: dict[int, dict[str, Any]]  # for the items still without a reason
    refreshed: tuple[int, ...] = ()  # cached reasons whose stale attribution was computed again: to cache again

    @property
    def missing(self) -> list[int]:
        return [i for i in self.items if i not in self.payloads]

    def refreshed_payloads(self) -> dict[int, dict[str, Any]]:
        """The cached payloads whose attribution this draft computed again, to put back in the cache."""
        return {i: self.payloads[i] for i in self.refreshed}


def recommend(
    model: Recommender,
    user: int,
    k: int,
    facts: ItemFacts,
    *,
    reasons: Reasons | None = None,
    cache: ReasonCache | None = None,
    attribute: bool = True,
    exclude: Collection[int] = (),
    items: Sequence[int] | None = None,
) -> Answer:
    """Top-k for a dense user id (-1 = unknown: popular items), each with a checked reason and attribution.

    `exclude` drops items (e.g. dismissed ones) before the cut to k; `items` explains those items
    instead of ranking (`whyrec explain`). Reasons and attributions found in `cache` are reused and
    fresh ones are put there, so cached and fresh answers go through the same filters.
    """
    drafted = draft(model, user, k, facts, cache=cache, attribute=attribute, exclude=exclude, items=items)
    fresh = write(drafted, reasons, facts)
    if cache is not None and (fresh or drafted.refreshed):
        cache.put({**drafted.refreshed_payloads(), **fresh})
    return answer(drafted, facts, fresh)


def draft(
    model: Recommender,
    user: int,
    k: int,
    facts: ItemFacts,
    *,
    cache: ReasonCache | None = None,
    attribute: bool = True,
    exclude: Collection[int] = (),
    items: Sequence[int] | None = None,
) -> Draft:
    """`recommend`'s ranking, cache reads and attributions (see there): all it asks of the recommender."""
    if items is None:
        [ranked] = model.recommend([user], k=k + len(exclude))
        keep = [j for j, i in enumerate(ranked.items) if int(i) not in exclude][:k]
        chosen = [int(ranked.items[j]) for j in keep]
        scores = [float(ranked.scores[j]) for j in keep]
        fallback = bool(ranked.fallback)
    else:
        chosen = [int(i) for i in items]
        fallback = not 0 <= user < model.n_users
        source = model.popularity[None, :] if fallback else model.score(np.asarray([user]))
        scores = [float(s) for s in np.asarray(source)[0, chosen]]
    payloads = cache.get(chosen) if cache is not None else {}
    missing = [i for i in chosen if i not in payloads]
    stale = [i for i in chosen if i in payloads and "attribution" not in payloads[i]]  # the shopper's events since
    wanted = missing + stale
    credited = attribution(model, user, wanted, facts) if attribute and not fallback and wanted else None
    found = dict(zip(wanted, credited or [_no_attribution() for _ in wanted], strict=True))
    payloads.update({i: {**payloads[i], "attribution": found[i]} for i in stale})
    attributions = {i: found[i] for i in missing}
    return Draft(user, chosen, scores, fallback, payloads, attributions, tuple(stale))


def write(drafted: Draft, reasons: Reasons | None, facts: ItemFacts) -> dict[int, dict[str, Any]]:
    """Cacheable JSON per missing item of `drafted`: the checked reason (raw ids and titles only) and the attribution.
    Asks nothing of the recommender."""
    missing = drafted.missing
    listed = [p["reason"]["text"] for p in drafted.payloads.values() if p.get("reason")]  # cached: kept distinct from
    written = reasons.write(drafted.user, missing, listed) if reasons is not None and missing else [None] * len(missing)
    return {
        item: {"reason": None if r is None else _reason_json(r, facts), "attribution": drafted.attributions[item]}
        for item, r in zip(missing, written, strict=True)
    }


def answer(drafted: Draft, facts: ItemFacts, fresh: Mapping[int, Mapping[str, Any]]) -> Answer:
    """The answer of `drafted` with `fresh` payloads for its missing items."""
    payloads = {**drafted.payloads, **fresh}
    out = [_recommendation(facts, item, score, payloads[item]) for item, score in zip(drafted.items, drafted.scores, strict=True)]
    return Answer(drafted.user, out, drafted.fallback, cached=len(drafted.payloads))


def _reason_json(reason: Reason, facts: ItemFacts) -> dict[str, Any]:
    evidence = dict(reason.evidence)
    generated_by = evidence.pop("generated_by", None)
    if "history_items" in evidence:  # dense ids are internal: raw ids, titles, and which of the reason's aspects each has
        evidence["history_items"] = [
            {**_titled(facts, int(h)), "aspects": _shared(reason.aspects, facts.aspects(int(h)))}
            for h in evidence["history_items"]
        ]
    return {
        "text": reason.text,
        "reasoner": generated_by,
        "aspects": list(reason.aspects),
        "evidence": evidence,
        "flags": list(reason.flags),
    }


def _recommendation(facts: ItemFacts, item: int, score: float, payload: Mapping[str, Any]) -> Recommendation:
    row = facts.catalog(item) or {}
    reason = payload.get("reason")
    shown = reason is not None and not reason["flags"]
    price = row.get("price")
    return Recommendation(
        item=facts.raw(item),
        score=score,
        **{k: row.get(k) for k in ("title", "category", "brand")},
        price=None if price is None or (isinstance(price, float) and np.isnan(price)) else float(price),
        reason=reason["text"] if shown else None,
        reasoner=reason.get("reasoner") if shown else None,
        aspects=tuple(reason["aspects"]) if reason else (),
        evidence=reason["evidence"] if reason else {},
        flags=tuple(reason["flags"]) if reason else (),
        attribution=payload.get("attribution"),
    )


def _titled(facts: ItemFacts, item: int) -> dict[str, Any]:
    return {"item": facts.raw(item), "title": (facts.catalog(item) or {}).get("title")}


def _shared(wanted: Sequence[str], has: Collection[str]) -> list[str]:
    """The aspects of `wanted` (in its order) that `has` holds too."""
    held = set(has)
    return [a for a in wanted if a in held]


def _no_attribution() -> dict[str, Any]:
    return {"method": "none", "items": [], "aspects": []}


def attribution(model: Recommender, user: int, items: Sequence[int], facts: ItemFacts) -> list[dict[str, Any]]:
    """ "Because you bought ...": the history items the recommender itself credits, and the aspects they share.

    Each credited item names only the shared aspects it has itself (and is credited positively for), so a
    page can say "A, which shares its fit" without implying B shares it too; `aspects` sums those credits.
    """
    from whyrec.recommend.attribution import aspect_credit, attribute

    if not 0 <= user < model.n_users:
        return [_no_attribution() for _ in items]
    out = []
    for item, found in zip(items, attribute(model, user, list(items), top=ATTRIBUTION_TOP), strict=True):
        history = [(int(h), w) for h, w in found.history]
        shared = aspect_credit(history, {h: facts.aspects(h) for h, _ in history}, facts.aspects(int(item)))
        names = [a for a, _ in shared]
        out.append(
            {
                "method": found.method,
                "items": [
                    {**_titled(facts, h), "weight": round(w, 6), "aspects": _shared(names, facts.aspects(h)) if w > 0 else []}
                    for h, w in history
                ],
                "aspects": [{"aspect": a, "weight": round(w, 6)} for a, w in shared],
            }
        )
    return out
