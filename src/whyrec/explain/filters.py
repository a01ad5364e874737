"""Truth and safety: the generator proposes, these filters dispose (DESIGN, "Reasons that are true").

Grounding: every aspect a reason names must be one the item has (its reviews or catalog say so).
Safety: no price, offer, stock or urgency claims the catalog does not back, no medical or safety
claims, no offensive words. Both are rules plus small lexicons on purpose: they must be
auditable and never miss because a model was unsure. `generate_grounded` runs a reasoner through
both, retries a failing reason once with a hint (an aspect the item has), then falls back to
another reasoner (normally `template`, grounded by construction).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whyrec.explain.aspects import AspectLexicon
    from whyrec.explain.base import Reason, Reasoner, ReasonRequest

UNGROUNDED = "ungrounded:"  # + the aspect
UNSAFE = "unsafe:"  # + one of SAFETY_KINDS
UNSUPPORTED = "unsupported"  # set by a reasoner that had nothing of the item to write from: replace or withhold
UNKNOWN_WORD = "unknown word:"  # + the word; set by a reasoner whose text has a word in no dictionary or source
UNFINISHED = "unfinished"  # set by a reasoner whose text is cut off or doubles a word ("fast and fast")
FAULTY = "faulty"  # set by a reasoner whose best candidate still breaks what a shown reason must be (its aspect unsaid, …)
SAFETY_KINDS = ("price", "offer", "stock", "urgency", "medical", "offensive")


# --- grounding --------------------------------------------------------------------------------


def ground(reason: Reason, item_aspects: Collection[str], lexicon: AspectLexicon | None = None) -> Reason:
    """The reason with "ungrounded:<aspect>" flags for each named aspect the item does not have.

    Named aspects are the reasoner's own `reason.aspects` plus, with a lexicon, every lexicon
    feature the text mentions (a generator may name more than it reports). The returned reason
    lists them all in `aspects`, and its `evidence["item_aspects"]` keeps only aspects verified
    against `item_aspects`, so evidence after filtering never cites what the item lacks.
    """
    named = list(dict.fromkeys([*reason.aspects, *(lexicon.mentions(reason.text) if lexicon else [])]))
    have = set(item_aspects)
    claimed = [*reason.evidence.get("item_aspects", []), *named]
    evidence = {**reason.evidence, "item_aspects": [a for a in dict.fromkeys(claimed) if a in have]}
    flags = [f for f in reason.flags if not f.startswith(UNGROUNDED)] + [UNGROUNDED + a for a in named if a not in have]
    return dataclasses.replace(reason, aspects=named, evidence=evidence, flags=flags)


# --- safety -------------------------------------------------------------------------------------

_CURRENCY = r"(?:\$|us\$|usd\s?|€|£|eur\s?|gbp\s?)"
_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"
# "$9.99", "USD 10", "€5", "9.99 dollars", "10 bucks"; group 1/2 = whole/cents before or after the unit
_PRICE = re.compile(
    rf"(?<![\w$€£]){_CURRENCY}\s?{_AMOUNT}(?!\d)|(?<![\w.]){_AMOUNT}\s?(?:dollars?|bucks|euros?|pounds?\s+sterling)\b",
    re.IGNORECASE,
)
_BELOW = re.compile(r"\b(?:under|below|less than|no more than|at most)\s*$", re.IGNORECASE)

# Each kind: phrases that make the claim. Word boundaries keep "safely" or "curewood" out.
_CLAIMS: dict[str, tuple[str, ...]] = {
    "offer": (
        r"\d+\s?% off",
        r"\d+\s?percent off",
        r"half[- ]price",
        r"half off",
        r"\bon sale\b",
        r"\bsale price\b",
        r"\bdiscount(?:s|ed)?\b",
        r"\bcoupons?\b",
        r"\bpromo(?:tion(?:al)?)?\s?codes?\b",
        r"\bclearance\b",
        r"\bfree shipping\b",
        r"\bships free\b",
        r"\bfree gift\b",
        r"\bbuy one,? get one\b",
        r"\bbogo\b",
        r"\bsave (?:\$|€|£|\d+\s?%|up to)",
        r"\bmarked down\b",
        r"\bprice drop\b",
        r"\blowest price\b",
        r"\bcheapest\b",
        r"\bbest price (?:anywhere|online|guaranteed)\b",
        r"\bdeal of the day\b",
        r"\bprice match\b",
        r"\brebate\b",
        r"\bcashback\b",
        r"\bcash back\b",
    ),
    "stock": (
        r"\bin[- ]stock\b",
        r"\bout of stock\b",
        r"\bsold out\b",
        r"\bselling (?:out )?fast\b",
        r"\bonly \d+ left\b",
        r"\bonly (?:a few|one|two|three) left\b",
        r"\b\d+ left in stock\b",
        r"\blimited (?:stock|supply|quantities|quantity|availability)\b",
        r"\bwhile supplies last\b",
        r"\bships (?:today|tomorrow|same[- ]day|within)\b",
        r"\bsame[- ]day delivery\b",
        r"\bavailable now\b",
        r"\bready to ship\b",
        r"\balmost gone\b",
        r"\bback in stock\b",
    ),
    "urgency": (
        r"\blimited[- ]time\b",
        r"\btoday only\b",
        r"\bthis week only\b",
        r"\bhurry\b",
        r"\bact (?:now|fast)\b",
        r"\bends (?:soon|today|tonight|tomorrow)\b",
        r"\blast chance\b",
        r"\bdon'?t miss (?:out|this)\b",
        r"\border now\b",
        r"\bbuy now\b",
        r"\bbefore it'?s gone\b",
        r"\boffer expires\b",
        r"\bflash sale\b",
    ),
    "medical": (
        r"\bcur(?:e|es|ed|ing)\b",
        r"\bheals?\b",
        r"\bhealing\b",
        r"\bclinically (?:proven|tested|shown)\b",
        r"\bfda[- ](?:approved|cleared|certified)\b",
        r"\bdermatologist[- ](?:approved|recommended|tested)\b",
        r"\bdoctor[- ](?:approved|recommended)\b",
        r"\bmedical[- ]grade\b",
        r"\bprevents? (?:\w+ ){0,2}"
        r"(?:cancer|disease|infections?|acne|hair loss|wrinkles|aging|illness|colds?|flu|covid)\b",
        r"\b(?:anti-?cancer|cancer[- ]fighting)\b",
        r"\btreats? (?:\w+ ){0,2}(?:acne|eczema|psoriasis|"
        r"rosacea|arthritis|insomnia|depression|anxiety|pain|infections?|disease|diabetes)\b",
        r"\brelieves? (?:\w+ ){0,2}(?:pain|anxiety|stress|arthritis|migraines?|headaches?|symptoms)\b",
        r"\bboosts? (?:your )?immun\w*\b",
        r"\bimmune (?:system )?boost\w*\b",
        r"\bdetox(?:es|ify|ifies)?\b",
        r"\b(?:lose|losing) weight\b",
        r"\bweight loss\b",
        r"\bburns? fat\b",
        r"\bfat[- ]burning\b",
        r"\bkills? (?:\d+(?:\.\d+)?\s?% of )?(?:germs|bacteria|viruses)\b",
        r"\bantiviral\b",
        r"\bsafe for (?:babies|baby|infants|newborns|toddlers|kids|children|pregnan\w+|pets|dogs|cats|diabetics)\b",
        r"\bbaby[- ]safe\b",
        r"\bchild[- ]safe\b",
        r"\bnon[- ]?toxic\b",
        r"\bhypoallergenic\b",
        r"\b(?:100|completely|totally|perfectly|absolutely) ?%? safe\b",
        r"\bsafe to (?:eat|ingest|swallow|"
        r"charge|use (?:on|for|during|while)|leave|take)\b",
        r"\bcertified safe\b",
        r"\bwon'?t (?:catch fire|"
        r"overheat|explode)\b",
        r"\b(?:fire|explosion)[- ]?proof\b",
        r"\bno side effects\b",
        r"\bchemical[- ]free\b",
        r"\bcarcinogen[- ]free\b",
    ),
}
_CLAIM_PATTERNS = {kind: re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE) for kind, pats in _CLAIMS.items()}

# Profanity and insults (mild words spelled out; no slurs: a filter for shop copy need not list
# them to catch the words a product reason could plausibly produce). Matched whole-word, with
# common obfuscations ("sh!t", "f*ck", "a$$") folded by the letter classes below.
_OFFENSIVE_WORDS = (
    "shit", "shitty", "bullshit", "fuck", "fucking", "fucked", "crap", "crappy", "damn", "goddamn", "bitch",
    "bastard", "asshole", "ass", "dick", "piss", "pissed", "idiot", "idiots", "idiotic", "moron", "morons",
    "stupid", "dumb", "dumbass", "retard", "retarded", "loser", "losers", "jerk", "suck", "sucks", "wtf",
    "stfu", "screw you", "shut up", "hate you", "fat ass", "ugly people", "trashy",
)  # fmt: skip
_LEET = {"a": "a@4", "e": "e3", "i": "i!1|", "o": "o0", "s": "s$5", "t": "t7", "u": "uv", "l": "l1"}


def _obfuscatable(word: str) -> str:
    """A regex for `word` where each letter after the first may also be a look-alike symbol or a '*'.

    The first letter stays literal, so numbers ("$455" would read as "ass") never match.
    """
    parts = [re.escape(word[0])]
    for ch in word[1:]:
        parts.append(r"\s+" if ch == " " else f"[{re.escape(_LEET.get(ch, ch))}*]")
    return "".join(parts)


_OFFENSIVE = re.compile(
    r"(?<![\w$@*])(?:" + "|".join(_obfuscatable(w) for w in sorted(_OFFENSIVE_WORDS, key=len, reverse=True)) + r")(?![\w*])",
    re.IGNORECASE,
)


def _amount(whole: str, cents: str | None) -> tuple[float, bool]:
    """(value, written with cents) of an amount's matched digits."""
    value = float(whole.replace(",", ""))
    return (value + int(cents.ljust(2, "0")) / 100, True) if cents else (value, False)


def _catalog_amounts(row: Mapping[str, Any]) -> set[float]:
    """Money amounts the catalog backs: its price, and amounts its title/description state ("$25 gift card")."""
    found: set[float] = set()
    price = row.get("price")
    if isinstance(price, (int, float)) and not math.isnan(price):
        found.add(round(float(price), 2))
    for key in ("title", "description"):
        text = row.get(key)
        if isinstance(text, str):
            for m in _PRICE.finditer(text):
                whole, cents = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
                found.add(round(_amount(whole, cents)[0], 2))
    return found


def _price_supported(value: float, with_cents: bool, below: bool, backed: set[float]) -> bool:
    """Whether a stated amount agrees with the catalog: equal to a backed amount (to the cent, or to the
    whole unit when written without cents: "$25" for 24.99), or above it after "under/below"."""
    for amount in backed:
        if below and amount <= value:
            return True
        if abs(amount - value) < 0.005 or (not with_cents and round(amount) == value):
            return True
    return False


def check_safety(text: str, item_catalog_row: Mapping[str, Any] | None = None) -> list[str]:
    """Safety flags ("unsafe:<kind>", kinds in SAFETY_KINDS order) for a reason about one catalog item.

    `item_catalog_row` maps catalog fields (price, title, description; a pandas Series works) for the
    price check; without it any stated price is unbacked. Offers, stock, urgency and medical/safety
    claims are flagged whatever the catalog says: it has no field that could back them.
    """
    found: set[str] = set()
    backed = _catalog_amounts(item_catalog_row) if item_catalog_row is not None else set()
    for m in _PRICE.finditer(text):
        whole, cents = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value, with_cents = _amount(whole, cents)
        below = bool(_BELOW.search(text, 0, m.start()))
        if not _price_supported(value, with_cents, below, backed):
            found.add("price")
    for kind, pattern in _CLAIM_PATTERNS.items():
        if pattern.search(text):
            found.add(kind)
    if _OFFENSIVE.search(text):
        found.add("offensive")
    return [UNSAFE + k for k in SAFETY_KINDS if k in found]


def screen(reason: Reason, item_catalog_row: Mapping[str, Any] | None = None) -> Reason:
    """The reason with its "unsafe:" flags set from `check_safety`."""
    flags = [f for f in reason.flags if not f.startswith(UNSAFE)] + check_safety(reason.text, item_catalog_row)
    return dataclasses.replace(reason, flags=flags)


# --- the pipeline -------------------------------------------------------------------------------


def _ordered(aspects: Collection[str]) -> list[str]:
    """Aspects in the caller's order when it gave one (best first), else sorted: set order varies by process."""
    return list(aspects) if isinstance(aspects, Sequence) else sorted(aspects)


def generate_grounded(
    reasoner: Reasoner,
    fallback: Reasoner | None,
    requests: list[ReasonRequest],
    item_aspects: Mapping[int, Collection[str]],
    lexicon: AspectLexicon | None = None,
    catalog: Mapping[int, Mapping[str, Any] | None] | None = None,
    praised: Mapping[int, Sequence[str]] | None = None,
    listed: Sequence[str] | None = None,
) -> list[Reason]:
    """One checked reason per request: grounded (and safe when `catalog` is given) where possible.

    Each reason is grounded against `item_aspects[item]` and screened against `catalog[item]` (a
    missing or None row backs no price); a failing one is regenerated once with the item's first
    `praised` aspect as a hint (default: its first aspect; never one its reviews fault, which the
    reasoner would then praise), then replaced by the fallback's reason. `evidence["generated_by"]` names the
    reasoner that wrote each (and `"hint"` a retry's); a reason that still fails keeps its flags, so
    callers withhold it.

    With `listed` (the requests complete one shopper's list, whose reasons so far are `listed`: a served top-k
    partly found in the cache) a reason that repeats one of the list word for word is retried about an aspect
    the list has not named, then replaced by the fallback's where that one is distinct, else kept; without it
    (the research protocol scores records one by one) repeats stand.
    """

    def check(reasons: list[Reason], by: Reasoner) -> list[Reason]:
        out = []
        for r in reasons:
            r = ground(r, item_aspects.get(r.item, ()), lexicon)
            if catalog is not None:
                r = screen(r, catalog.get(r.item))
            out.append(dataclasses.replace(r, evidence={**r.evidence, "generated_by": by.name}))
        return out

    def distinct(k: int, r: Reason) -> bool:
        """`r` in place of reason `k` repeats nothing else in the list."""
        return listed is None or r.text not in {*listed, *(o.text for j, o in enumerate(reasons) if j != k)}

    reasons = check(reasoner.generate(requests), reasoner)
    repeats = set() if listed is None else _repeated(reasons, listed)
    failing = [k for k, r in enumerate(reasons) if r.flags or k in repeats]
    hints = item_aspects if praised is None else praised
    # what the list already says: a repeat is retried about something else
    named = {a for t in listed or () for a in (lexicon.mentions(t) if lexicon is not None else ())}
    named |= {a for k, r in enumerate(reasons) if k in repeats or not r.flags for a in r.aspects}
    hinted = {
        k: [a for a in _ordered(hints.get(requests[k].item, ())) if k not in repeats or a not in named][:1] for k in failing
    }
    retry = [k for k in failing if hinted[k]]
    if retry:
        again = check(reasoner.generate([dataclasses.replace(requests[k], hint=hinted[k][0]) for k in retry]), reasoner)
        for k, r in zip(retry, again, strict=True):
            if not r.flags and distinct(k, r):
                reasons[k] = dataclasses.replace(r, evidence={**r.evidence, "hint": hinted[k][0]})
                repeats.discard(k)
    failing = [k for k, r in enumerate(reasons) if r.flags or k in repeats]
    if failing and fallback is not None:
        replaced = check(fallback.generate([requests[k] for k in failing]), fallback)
        for k, r in zip(failing, replaced, strict=True):
            if k not in repeats or (not r.flags and distinct(k, r)):  # a repeat no one can mend stays: it is true
                reasons[k] = r
    return reasons


def _repeated(reasons: Sequence[Reason], listed: Sequence[str]) -> set[int]:
    """Positions of unflagged reasons whose text is in `listed` or in an earlier unflagged reason."""
    seen, out = set(listed), set()
    for k, r in enumerate(reasons):
        if r.flags:
            continue
        if r.text in seen:
            out.add(k)
        seen.add(r.text)
    return out
