"""Checks on the reasons shoppers are shown, through the served path (`whyrec.recommendation.recommend`).

A reason is written to the shopper, about this item, from evidence that is really there. These
checks read the shown text as a shopper would: first-person voice, running the item down, invented
words or numbers, plural or habitual claims the data does not support, aspects the item lacks,
repetition within one list and across shoppers, and whether the reason names what the shopper then
wrote about. `shown_checks` is pure; `collect_shown` gathers its inputs from an artifact and a store.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np

from whyrec.data.schema import written_once
from whyrec.explain.aspects import AspectLexicon, split_sentences
from whyrec.explain.voice import is_english, load_dictionary

if TYPE_CHECKING:
    import pandas as pd

    from whyrec.artifact import Artifact
    from whyrec.data.schema import Dataset
    from whyrec.explain.base import Reason, ReasonRequest

SHOWN_KEYS = (
    "voice", "positive", "words", "facts", "support", "grounded", "raw_grounded",
    "specific", "personal", "fmr", "embedding_sim", "lm_share", "n",
)  # fmt: skip

# Reviews that must judge a feature for the lexicon relevance is scored with (the reasoners' default, `ReasonerConfig`).
RELEVANCE_MIN_COUNT = 3
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "my", "me", "mine", "myself"})
# Phrases that run the item down; word-bounded, matched on lower-cased text.
_NEGATIVE = re.compile(
    r"\b(?:not worth|not (?:good|great|happy|sure|impressed)|issues?|problems?|disappoint\w*|broke|broken|"
    r"won't|doesn't|didn't|don't|isn't|wasn't|aren't|can't|couldn't|wouldn't|poor(?:ly)?|bad|worse|worst|"
    r"terrible|awful|horrible|cheaply|flimsy|waste|returned|refund|complain\w*|fell apart|stopped working)\b"
)
_PLURAL_CLAIM = re.compile(r"\b(?:reviewers|shoppers|buyers|customers|owners|readers|users|people|many|everyone)\b")
_HABIT_CLAIM = re.compile(r"\byou(?:'ve)? (?:often|usually|always|keep|tend to|regularly)\b|\byour go-to\b")


@dataclass(frozen=True)
class ShownReason:
    """One reason as shown (after the filters), with what the checks need to know about it."""

    user: int
    item: int
    text: str
    aspects: tuple[str, ...]  # aspects the text names
    lm: bool  # written by the configured language model, not by a fallback or a template
    grounded: bool  # every named aspect is one the item has
    # the generator's own first reason for this pair (before any filter) was grounded; None where it declined, writing
    # nothing, because it had nothing of the item to write from (the fallback's reason then counts against lm_share)
    raw_grounded: bool | None
    # words of the catalog titles of the items the reason cites as its evidence ("… who looked at the Cascade Daypack
    # you looked at"): quoted from the catalog, not invented
    cited: frozenset[str] = frozenset()
    # numbers of the day the shopper reviewed the item the reason cites ("… the item you reviewed on 4 July 2016"):
    # stated by their own review, not invented
    dated: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ItemEvidence:
    """What an item's reviews and catalog state: their words and numbers, and how many reviews mention each aspect."""

    words: frozenset[str]
    numbers: frozenset[str]
    review_mentions: Mapping[str, int]


def item_evidence(texts: Sequence[str], catalog: Sequence[str], lexicon: AspectLexicon) -> ItemEvidence:
    """ItemEvidence from an item's review texts and catalog field values."""
    words: set[str] = set()
    numbers: set[str] = set()
    mentions: Counter[str] = Counter()
    for text in [*texts, *catalog]:
        low = text.lower()
        words.update(_WORD.findall(low))
        numbers.update(_normal_number(n) for n in _NUMBER.findall(low))
    for text in texts:
        mentions.update(set(lexicon.mentions(text)))
    return ItemEvidence(frozenset(words), frozenset(numbers), dict(mentions))


def _date_numbers(day: str | None) -> frozenset[str]:
    """The day and year of an ISO date ("2016-07-04" -> {"4", "2016"}), as a reason writes them; none for None."""
    if day is None:
        return frozenset()
    at = date.fromisoformat(day)
    return frozenset({str(at.day), str(at.year)})


def _normal_number(raw: str) -> str:
    """'1,000' -> '1000', '24.90' -> '24.9', '5.0' -> '5': the same quantity written either way matches."""
    text = raw.replace(",", "")
    return text.rstrip("0").rstrip(".") if "." in text else text


def shown_checks(
    shown: Sequence[ShownReason],
    evidence: Mapping[int, ItemEvidence],
    user_mentions: Mapping[int, Mapping[str, int]],
    dictionary: frozenset[str],
) -> dict[str, float | int]:
    """The shares in `SHOWN_KEYS` over shown reasons (relevance, fmr and embedding_sim, comes from `relevance`).

    voice: first-person singular; positive: runs the item down; words: a word in no dictionary and nowhere in the
    item's reviews or catalog (nor in the titles of items the reason cites); facts: a number none of them states, nor
    the date of the shopper's own review the reason cites; support: credits reviewers/shoppers (plural) in one sentence
    with an aspect fewer than 2 of the item's reviews mention, or says "often"/"usually" of the shopper from fewer than
    2 of their own reviews (`user_mentions`: a review Amazon files under several variants counts once); grounded /
    raw_grounded: every named aspect is the item's, after the filters / in the generator's first drafts (declined
    ones, with no text, aside); specific: mean over shoppers of distinct reasons per reason in their list; personal:
    share of (item, two shoppers) pairs that got the identical reason; lm_share: share written by the language model.
    """
    n = len(shown)
    if not n:
        return {"n": 0}
    counts: Counter[str] = Counter()
    for r in shown:
        low = r.text.lower()
        tokens = _WORD.findall(low)
        have = evidence.get(r.item, ItemEvidence(frozenset(), frozenset(), {}))
        counts["voice"] += any(t in _FIRST_PERSON for t in tokens)
        counts["positive"] += bool(_NEGATIVE.search(low))
        # a word before an apostrophe counts as the word ("Zappo's"), for the item's words as for the dictionary
        counts["words"] += any(
            not is_english(t, dictionary) and not is_english(t, have.words) and t not in r.cited for t in tokens
        )
        counts["facts"] += any(_normal_number(x) not in have.numbers | r.dated for x in _NUMBER.findall(low))
        # a plural claim credits the crowd with the aspects of its own sentence ("Many shoppers who looked at … also
        # looked at this one." after "The knob is great." credits them with no aspect)
        weak = [a for a in r.aspects if have.review_mentions.get(a, 0) < 2]
        plural = any(
            _PLURAL_CLAIM.search(sentence) and any(re.search(rf"\b{re.escape(a)}", sentence) for a in weak)
            for sentence in split_sentences(low)
        )
        mine = user_mentions.get(r.user, {})
        habit = bool(_HABIT_CLAIM.search(low)) and any(mine.get(a, 0) < 2 for a in r.aspects)
        counts["support"] += plural or habit
        counts["grounded"] += r.grounded
        counts["raw_grounded"] += bool(r.raw_grounded)
        counts["drafted"] += r.raw_grounded is not None
        counts["lm_share"] += r.lm
    out: dict[str, float | int] = {k: counts[k] / n for k in ("voice", "positive", "words", "facts", "support", "grounded")}
    out["raw_grounded"] = counts["raw_grounded"] / counts["drafted"] if counts["drafted"] else 1.0
    out["specific"] = specificity(shown)
    out["personal"] = shared_reason_rate(shown)
    out["lm_share"] = counts["lm_share"] / n
    out["n"] = n
    return out


def user_mentions(reviews: pd.DataFrame, users: Collection[int], lexicon: AspectLexicon) -> dict[int, Counter[str]]:
    """Per shopper of `users`, the reviews of theirs that mention each aspect, a review Amazon files under several
    variants of one product (`written_once`) once: the count "often" needs two of."""
    mentions: dict[int, Counter[str]] = defaultdict(Counter)
    written = reviews.iloc[written_once(reviews)]
    for user, text in zip(written["user"], written["text"], strict=True):
        if int(user) in users and isinstance(text, str):
            mentions[int(user)].update(set(lexicon.mentions(text)))
    return dict(mentions)


def specificity(shown: Sequence[ShownReason]) -> float:
    """Mean over shoppers of (distinct reasons in their list) / (reasons in it)."""
    lists: dict[int, list[str]] = defaultdict(list)
    for r in shown:
        lists[r.user].append(r.text)
    return float(np.mean([len(set(texts)) / len(texts) for texts in lists.values()]))


def shared_reason_rate(shown: Sequence[ShownReason]) -> float:
    """Share of (item, two shoppers) pairs where both shoppers were shown the identical reason; 0 with no such pair."""
    by_item: dict[int, list[str]] = defaultdict(list)
    for r in shown:
        by_item[r.item].append(r.text)
    pairs = same = 0
    for texts in by_item.values():
        for a, b in combinations(texts, 2):
            pairs += 1
            same += a == b
    return same / pairs if pairs else 0.0


def relevance(
    texts: Sequence[str],
    features: Sequence[str],
    references: Sequence[str],
    lexicon: AspectLexicon,
    embed: Callable[[Sequence[str]], np.ndarray] | None,
) -> dict[str, float]:
    """FMR (the reason names the aspect the shopper's held-out review is about) and embedding similarity to that review."""
    if not texts:
        return {}
    out = {"fmr": float(np.mean([f in lexicon.mentions(t) for t, f in zip(texts, features, strict=True)]))}
    if embed is not None:
        a, b = embed(list(texts)), embed(list(references))
        out["embedding_sim"] = float(np.mean(np.sum(a * b, axis=1)))
    return out


# ---- gathering the inputs from an artifact and its store -------------------------------------------


class _FirstDrafts:
    """A reasoner seen through the served path, keeping each pair's first (unfiltered) reason."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name
        self.first: dict[tuple[int, int], Reason] = {}

    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        out = self.inner.generate(requests)
        for req, reason in zip(requests, out, strict=True):
            if req.hint is None:
                self.first.setdefault((req.user, req.item), reason)
        return out


def collect_shown(
    artifact: Artifact,
    shop: Dataset,
    *,
    users: int = 100,
    k: int = 10,
    records: int = 300,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    dictionary: frozenset[str] | None = None,
) -> dict[str, float | int]:
    """`shown_checks` and `relevance` for the artifact's served reasons on `shop` (the store it serves).

    Shoppers are those with held-out reviews (the test part of the review split the reasoner was
    fitted on), up to `users` of them, seeded; each gets the top-k answer the server would give
    (reasons checked against the store's catalog and its reviews but the held-out ones, the
    template fallback in place).
    Relevance explains up to `records` held-out (shopper, item) reviews through the same path; their features are
    read with one lexicon built from the training reviews, whatever the reasoner's own, so rows compare on the same
    reviews.
    """
    from whyrec.explain.filters import ground
    from whyrec.recommendation import recommend

    if artifact.reasoner is None:
        return {"n": 0}
    lexicon = artifact.reasoner.lexicon
    drafts = _FirstDrafts(artifact.reasoner)
    split, facts, reasons, model = _served_path(artifact, shop, drafts)
    lm = artifact.reasoner.name != "template"

    raw_users = np.asarray(shop.user_ids.raw, dtype=object)
    raw_items = np.asarray(shop.item_ids.raw, dtype=object)
    test = shop.reviews.iloc[split.test]
    held = [u for u in artifact.user_ids.indices(raw_users[test["user"].to_numpy()]) if u >= 0]
    rng = np.random.default_rng(artifact.config.seed)
    chosen = rng.permutation(np.unique(held))[:users]

    shown: list[ShownReason] = []
    for uid in map(int, chosen):
        answer = recommend(model, uid, k, facts, reasons=reasons, attribute=False)
        for rec in answer.items:
            if rec.reason is None:
                continue
            item = artifact.item_ids.get(rec.item)
            have = set(facts.aspects(item))
            first = drafts.first.get((uid, item))
            raw_ok: bool | None = False  # no draft of the generator's own
            if first is not None:
                raw_ok = None if not first.text else not ground(first, have, lexicon).flags  # no text: declined
            shown.append(
                ShownReason(
                    uid,
                    item,
                    rec.reason,
                    rec.aspects,
                    lm and rec.reasoner == artifact.reasoner.name,
                    set(rec.aspects) <= have,
                    raw_ok,
                    frozenset(
                        w for h in rec.evidence.get("history_items", []) for w in _WORD.findall(str(h.get("title") or "").lower())
                    ),
                    _date_numbers(rec.evidence.get("reviewed_on")),
                )
            )

    # What each item's reviews and catalog state, and each shopper's own mentions in the training reviews.
    texts: dict[int, list[str]] = defaultdict(list)
    for item, text in zip(
        artifact.item_ids.indices(raw_items[shop.reviews["item"].to_numpy()]), shop.reviews["text"], strict=True
    ):
        if item >= 0 and isinstance(text, str):
            texts[int(item)].append(text)
    wanted = {r.item for r in shown}
    evidence = {
        i: item_evidence(texts.get(i, []), [str(v) for v in (facts.catalog(i) or {}).values() if v is not None], lexicon)
        for i in wanted
    }
    train = shop.reviews.iloc[split.train]
    train = train.assign(user=artifact.user_ids.indices(raw_users[train["user"].to_numpy()]))
    mentions = user_mentions(train, {r.user for r in shown}, lexicon)
    out = shown_checks(shown, evidence, mentions, dictionary if dictionary is not None else load_dictionary())

    scoring, kept = _held_out(artifact, shop, split, model, facts, reasons, records)
    out.update(relevance([r.reason for r in kept], [r.feature for r in kept], [r.reference for r in kept], scoring, embed))
    return {key: out[key] for key in SHOWN_KEYS if key in out}


@dataclass(frozen=True)
class HeldOutReason:
    """The reason served for a held-out (shopper, item) review, beside the aspect that review is about and its text."""

    user: int
    item: int
    feature: str
    reference: str
    reason: str


def held_out_reasons(artifact: Artifact, shop: Dataset, *, records: int = 300) -> tuple[AspectLexicon, list[HeldOutReason]]:
    """The records `collect_shown` scores relevance on, each with the reason the served path gives it, and the
    lexicon they are scored with; for pairing two artifacts record by record (`benchmarks/relevance_pairs.py`)."""
    if artifact.reasoner is None:
        return AspectLexicon(frozenset()), []
    split, facts, reasons, model = _served_path(artifact, shop, artifact.reasoner)
    return _held_out(artifact, shop, split, model, facts, reasons, records)


def _served_path(artifact: Artifact, shop: Dataset, reasoner: Any) -> tuple[Any, Any, Any, Any]:
    """The review split, shop facts, reasons (`reasoner` with the served fallback) and recommender the server would use.

    Served as the shop stood before the held-out reviews: the facts a reason is asked about and checked against
    would otherwise carry the very review relevance scores it by (its aspect, praised, hinted on the first try).
    """
    from whyrec.artifact import reasons_split
    from whyrec.recommendation import Reasons
    from whyrec.serve.reasons import ServedReasons, ShopFacts

    split = reasons_split(shop, artifact.config.seed)
    before = dataclasses.replace(shop, reviews=shop.reviews.drop(shop.reviews.index[split.test]))
    facts = ShopFacts.read(before, artifact.item_ids, artifact.reasoner.lexicon)
    served = ServedReasons(artifact, facts, version="evaluate")
    served.prepare(before, None)
    reasons = Reasons(reasoner, facts, served.fallback, known_users=len(artifact.user_ids))
    return split, facts, reasons, artifact.serving_recommender()


def _held_out(
    artifact: Artifact, shop: Dataset, split: Any, model: Any, facts: Any, reasons: Any, records: int
) -> tuple[AspectLexicon, list[HeldOutReason]]:
    """Up to `records` held-out reviews with an aspect, each with the reason the served path (`model`, `facts`,
    `reasons`, as `_served_path` gives them) writes for it, where it writes one.

    Relevance is scored with one lexicon, the same for every reasoner: each reasoner's own would pick other held-out
    records (prompt_lm's keeps aspects two reviews name, the template's three), so two rows' fmr would not be over the
    same reviews.
    """
    from whyrec.explain.targets import explanation_examples
    from whyrec.recommendation import recommend

    scoring = AspectLexicon.build(shop.reviews["text"].iloc[split.train], min_count=RELEVANCE_MIN_COUNT)
    examples = explanation_examples(shop, scoring, split.test).iloc[:records]
    rows = zip(
        artifact.user_ids.indices(np.asarray(shop.user_ids.raw, dtype=object)[examples["user"].to_numpy()]),
        artifact.item_ids.indices(np.asarray(shop.item_ids.raw, dtype=object)[examples["item"].to_numpy()]),
        examples["feature"],
        examples["explanation"],
        strict=True,
    )
    out = []
    for u, i, feature, reference in rows:
        if u < 0 or i < 0:
            continue
        text = recommend(model, int(u), 1, facts, reasons=reasons, attribute=False, items=[int(i)]).items[0].reason
        if text:
            out.append(HeldOutReason(int(u), int(i), feature, reference, text))
    return scoring, out
