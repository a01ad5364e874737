"""Reasons in a shopper-facing voice: training targets rewritten from review sentences, and what decoding may not say.

A shown reason is written to the shopper about the item, so the LM is not trained on a reviewer's
own sentence ("I love the smell but it broke") as PEPLER is. `shopper_sentence` keeps a positive
review sentence about an aspect only when, after light rules ("I think ..." dropped, "I love X" ->
"You'll love X"), it has no first person, no complaint or hedge, no story of the purchase and no
number the item's catalog does not state; `shopper_examples` builds training records from those.
The same word lists say what decoding bans (`FIRST_PERSON`, `COMPLAINT`, `CROWD`) and what the candidate
scorer checks (`voice_faults`).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whyrec.explain.aspects import DETERMINERS, AspectLexicon, extract_aspects, singular, split_sentences

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from whyrec.data.schema import Dataset

DICTIONARY = Path("/usr/share/dict/american-english")  # Debian's wamerican: what counts as an English word


@functools.cache
def load_dictionary(path: Path = DICTIONARY) -> frozenset[str]:
    """Lower-cased English words, one per line (Debian's wamerican list); read once per path."""
    from whyrec.errors import ConfigError

    try:
        return frozenset(w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines() if w.strip())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: English word list missing; install Debian's wamerican (`make setup` does)") from exc


def is_english(word: str, dictionary: Collection[str]) -> bool:
    """A lower-cased word, or its stem before an apostrophe ("card's", "you'll"), is in `dictionary`."""
    return word in dictionary or word.split("'")[0] in dictionary


# Words a shown reason never uses: the reviewer's own voice, and words that run the item down or hedge.
FIRST_PERSON = ("I", "I'm", "I've", "I'd", "I'll", "me", "my", "mine", "myself", "we", "our", "us", "ours")
COMPLAINT = (
    "not", "no", "never", "nothing", "but", "however", "although", "though", "except", "unfortunately", "wish", "hope",
    "disappointed", "disappointing", "problem", "problems", "issue", "issues", "broke", "broken", "waste", "return",
    "returned", "refund", "poor", "poorly", "bad", "worse", "worst", "terrible", "awful", "horrible", "cheaply", "flimsy",
    "complaint", "complain", "won't", "doesn't", "didn't", "don't", "isn't", "wasn't", "aren't", "can't", "couldn't",
    "wouldn't", "shouldn't", "haven't", "hasn't",
)  # fmt: skip
# Claims about other shoppers or the shopper's habits: the LM cannot count reviews, so it never makes them
# (the evidence clause does, from counts; `evaluate.shown`'s support check flags the unsupported ones).
CROWD = (
    "reviewers", "reviewer", "readers", "customers", "shoppers", "buyers", "owners", "users", "people", "everyone",
    "everybody", "folks", "many", "most", "often", "usually", "always",
)  # fmt: skip
# A review's story of its own purchase or of someone else: not something to tell another shopper.
_STORY = (
    "bought", "ordered", "purchased", "received", "got", "gave", "give", "given", "sent", "returned", "husband", "wife",
    "son", "daughter", "mom", "mother", "dad", "father", "friend", "friends", "kids", "family", "grandson", "granddaughter",
    "sister", "brother", "she", "he", "her", "his", "him", "pointless", "unless", "only", "boyfriend", "girlfriend", "yesterday", "today", "ago", "last", "again", "still", "years",
    "months", "weeks", "was", "were", "had", "did", "would", "could", "should", "might", "maybe", "if", "?",
)  # fmt: skip

_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*|\?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_BANNED_LOW = frozenset(w.lower() for w in (*FIRST_PERSON, *COMPLAINT, *_STORY))
_VOICE_LOW = frozenset(w.lower() for w in FIRST_PERSON)
_COMPLAINT_LOW = frozenset(w.lower() for w in COMPLAINT)
# Openers dropped before anything else: hedges and connectives a stand-alone sentence does not need.
_OPENERS = re.compile(
    r"^(?:(?:and|also|so|plus|overall|honestly|basically|really|well|oh|yes|wow|ok|okay)\b[,!]?\s+)+"
    r"|^i (?:think|feel|believe|find|found|would say|must say|have to say|can say)(?: that)?\s+",
    re.IGNORECASE,
)
# "(I) (really) love/like/enjoy ..." speaks for the reviewer; "You'll love ..." says the same to the shopper.
_I_LIKE = re.compile(r"^(?:i )?(?:really |just |absolutely |truly )?(love|like|enjoy|appreciate)[sd]?\b", re.IGNORECASE)


# Praise of the product as such ("a great product", "You'll love this item", "the product is fresh", "as good as the
# product", "a great bottle of product", "a great place to eat" of a restaurant's card): says nothing a shopper can use.
_PRAISE = r"(?:great|good|nice|excellent|wonderful|amazing|perfect|awesome|fantastic|lovely|fine|best)"
_FILLER_NOUN = r"(?:product|item|thing|stuff|purchase|buy|choice|place|one(?!-))s?"
_FILLER_NOUN_RE = re.compile(_FILLER_NOUN, re.IGNORECASE)
_FILLER = re.compile(
    rf"\b(?:{_PRAISE}|love (?:the|this|it as a))\s+{_FILLER_NOUN}\b"
    rf"|\b{_FILLER_NOUN} (?:is|are) (?:(?:very|really|so) )?{_PRAISE}\b"
    # "the product is fresh and light": whatever follows, it is said of the item as a whole, not of an aspect
    r"|\b(?:the|this|these) (?:product|item)s? (?:is|are)\b"
    # "great eat place", "a great pizza place": the venue praised with a word between
    rf"|\b{_PRAISE}\s+[a-z]+\s+places?\b"
    r"|\b(?:as|of|and|with) (?:the |this )?(?:product|item)s?\b",
    re.IGNORECASE,
)


# What stands before a product noun that ends a reason as a bare conjunct ("… and a gift.", "… and the magazine.").
_DETERMINER = r"(?:(?:the|an?|this|your) )"
# Where a clause ends: what may follow a product-type word standing alone ("a great gift." / "a great gift for ...").
_CLAUSE_END = r"(?=\s*(?:[.!,;]|$)|\s+(?:and|for|to)\b)"


def _as_such(text: str, product: Iterable[str]) -> bool:
    """`text` praises the product as such: "a great product", "the product is great", or so of one of `product`, the
    words that name the item itself, its product type or its brand ("the gift card is perfect", "the gift card worked"
    in a gift-card shop; "Texas Roadhouse is a great place", "You'll love Texas Roadhouse."; "The gift idea is Texas
    Roadhouse." names it in place of praise), or of the first word of one standing alone at a clause's end ("great
    gift." there, not "a great gift idea")."""
    if _FILLER.search(text):
        return True
    for noun in product:
        named = rf"{re.escape(noun)}s?"
        # "the gift card works" says of a gift card only that it is one; "Great selection and gift card." ends on it
        subject = rf"(?<!\bof )(?<!\bof the )\b{named}"  # after "of (the)" it is not: "The price of Panera Bread is good"
        praised = (
            rf"\b{_PRAISE}\s+{named}\b|{subject} (?:is|are) (?:an? )?(?:(?:very|really|so) )?{_PRAISE}\b|{subject} work(?:s|ed)?\b"
            rf"|\blove (?:the |this |these )?{named}\W*$|\b(?:is|are) {_DETERMINER}?{named}\W*$"
        )
        # a one-word type ends it only after a determiner: "all about home and garden" names the topic, not the item
        praised += rf"|\band {_DETERMINER}{'?' if ' ' in noun else ''}{named}\W*$"
        if " " in noun:
            first = rf"{re.escape(noun.split()[0])}s?"
            praised += rf"|\b{_PRAISE}\s+{first}{_CLAUSE_END}|\band {_DETERMINER}{first}\W*$"
        if re.search(praised, text, re.IGNORECASE):
            return True
    return False


def empty_praise(text: str, aspect: str | None, product: Iterable[str] = ()) -> tuple[bool, bool]:
    """(praises the product as such, `_as_such`; names `aspect` twice, in either number or as a word of its stem:
    "The bottle is a great bottle.", "Great recipes, great recipes.", "The recipe is good and the recipes are great.",
    "The information is informative.", "The balance is very balanced.")."""
    head = singular(aspect.split()[-1].lower()) if aspect else None
    if head is None:
        return _as_such(text, product), False
    words = [singular(t.lower()) for t in _TOKEN.findall(text)]
    # for a head of five letters or more, its first letters one short of the word and at most six: "inform" of
    # "information", "balanc" of "balance"; none for a shorter head ("tin" would take "tiny")
    stem = head[: min(6, len(head) - 1)] if len(head) >= 5 else None
    kin = stem is not None and any(w != head and w.startswith(stem) for w in words)
    return _as_such(text, product), words.count(head) > 1 or (head in words and kin)


# "The <aspect> is a great <noun>.": subject, verb, article, (adverb) adjective, noun, for `said_plainly`.
_NOUN_PRAISE = re.compile(r"^(the .+?) (is|are) (an? |the )?((?:(?:very|really|so|truly) )?[a-z-]+) ([a-z]+)\.?$", re.IGNORECASE)
# Words an echoing conjunct may add to what the first one said ("gentle on the skin and gentle on your skin too").
_ECHO_FILLER = frozenset({"the", "a", "an", "your", "you", "it", "its", "too", "also", "so", "very", "really", "on", "in", "for"})


def _singulars(text: str) -> set[str]:
    """The words of `text`, lower-case and singular: "Great Recipes" -> {"great", "recipe"}."""
    return {singular(t.lower()) for t in _TOKEN.findall(text)}


def said_plainly(text: str, aspect: str | None, product: Iterable[str] = (), alike: Iterable[str] = ()) -> str | None:
    """The text said plainly, or None where there is nothing to repair: a last conjunct (after "and" or a comma) that
    praises the product as such (`_as_such`, with the item's product-type words `product`), only echoes the first, or
    names `aspect` again, itself or one of the aspects `alike` that mean it ("The fragrance is beautiful and the scent is
    great."), is dropped ("The odor is pleasant and the product is great.", "The design is cute and the gift
    card is perfect.", "… gentle on the skin and gentle on your skin.", "Great recipes, great recipes.", "The recipe is
    good and the recipes are great." end at the first), as is a last sentence naming `aspect` again ("The article is
    fun. It has great articles …"), and "The bottle is a great bottle." / "… a great product."
    become "The bottle is great." (the praise of `aspect` without the noun that repeats it or stands for the product)."""
    text = text.strip()
    head = singular(aspect.split()[-1].lower()) if aspect else None
    same = {singular(a.split()[-1].lower()) for a in alike}
    *before, sentence = split_sentences(text) or [text]
    # a later sentence naming the aspect again goes whole: "… great. Also, the …"
    if before and head is not None and head in _singulars(" ".join(before)) and head in _singulars(sentence):
        return " ".join(before)
    for joint in (" and ", ", "):
        first, joined, last = sentence.rstrip(".!").rpartition(joint)
        if not (joined and first):
            continue
        said, added = _singulars(first), _singulars(last)
        if not said - DETERMINERS - {singular(w) for w in (aspect or "").lower().split()}:
            continue  # "The balance and all the good things … are great": a determiner and the aspect are no sentence
        if last.lower().startswith(first.lower() + " "):
            continue  # nor a subject whose predicate the last holds: "The value of a good food and the value … is amazing"
        conjunct = f"and {last}" if joint == " and " else last  # "and the product" is the product as such, as is "and gift card"
        again = head is not None and (head in said & added or (head in said and bool(same & added)))
        if _as_such(conjunct, product) or added - _ECHO_FILLER <= said or again:
            return " ".join([*before, first.rstrip(" ,;") + "."])
    match = _NOUN_PRAISE.match(text)
    if match is None or aspect is None:
        return None
    subject, verb, article, adjective, noun = match.groups()
    head = aspect.split()[-1].lower()
    if subject.lower() != f"the {aspect.lower()}" or not (noun.lower() in {head, head + "s"} or _FILLER_NOUN_RE.fullmatch(noun)):
        return None
    the = "the " if (article or "").strip().lower() == "the" else ""  # "the best", not "best"
    return f"{subject[:1].upper()}{subject[1:]} {verb} {the}{adjective}."


# A copula in the past after a short subject at a clause's start: "The gift idea was pretty fun", "… and the tins were cute".
_PAST_COPULA = re.compile(
    r"(^|[.!?;,] |\band )((?:the|this|these|those|its|their) (?:[a-z'-]+ ){0,2}[a-z'-]+) (was|were)\b", re.IGNORECASE
)


def in_present(text: str) -> str:
    """The text with a short subject's past copula in the present: a reason says what the item is, not what a reviewer
    once found ("The selection was great." -> "The selection is great."); other verbs are left as they are."""
    return _PAST_COPULA.sub(lambda m: f"{m[1]}{m[2]} {'is' if m[3].lower() == 'was' else 'are'}", text)


# Opinions that do not read as an adjective of the feature ("love battery", "well battery", "happy reading").
_NOT_ATTRIBUTIVE = frozenset(
    f"{verb}{ending}" for verb in ("love", "like", "enjoy", "adore", "appreciate") for ending in ("", "s", "d", "ed")
) | {"well", "happy", "pleased", "satisfied", "glad", "impressed", "thrilled", "delighted", "favorite", "favourite", "best"}


# Praise that fits any feature: a reason opening "The hood is great" says less than "The hood is adjustable".
PLAIN_PRAISE = frozenset(
    {"great", "good", "nice", "excellent", "perfect", "amazing", "awesome", "wonderful", "fantastic", "fine", "better",
     "superb", "outstanding", "decent", "ok", "okay", "terrific", "incredible", "fabulous", "cool", "solid", "quality"}
)  # fmt: skip


def attributive(opinion: str, lexicon: AspectLexicon) -> bool:
    """`opinion` reads as one adjective of a feature ("sturdy", not "love", "well", "really good" or an aspect word)."""
    return " " not in opinion and opinion not in _NOT_ATTRIBUTIVE and not opinion.endswith("ly") and not lexicon.mentions(opinion)


_COUNTS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def most_used_first(counts: Counter[str]) -> list[str]:
    """Keys, most frequent first, ties by name (Counter.most_common would keep insertion order)."""
    return [f for f, _ in sorted(counts.items(), key=lambda fc: (-fc[1], fc[0]))]


def praise_words(mentions: pd.DataFrame, lexicon: AspectLexicon, by: str = "item") -> dict[Any, dict[str, list[str]]]:
    """Per `by` ("item" or "user") and feature, the adjectives its positive aspect mentions praised it with ("pretty"
    bottles), most used first; only those that read as an adjective of the feature (`attributive`: not "love")."""
    counts: dict[Any, dict[str, Counter[str]]] = {}
    positive = mentions[mentions["sentiment"] > 0]
    for key, feature, opinion in zip(
        positive[by].tolist(), positive["feature"].tolist(), positive["opinion"].tolist(), strict=True
    ):
        if attributive(opinion, lexicon):
            counts.setdefault(key, {}).setdefault(feature, Counter())[opinion] += 1
    return {k: {f: most_used_first(c) for f, c in per.items()} for k, per in counts.items()}


def count_words(n: int) -> str:
    """A count in words ("two"), "many" from ten on: counts of reviews are never shown to a shopper as figures."""
    return _COUNTS[n] if n < len(_COUNTS) else "many"


# month names written out: strftime("%B") follows the process locale, and a reason is in English
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def review_day(at: int) -> date:
    """The day (UTC) of a review's unix time."""
    return datetime.fromtimestamp(at, UTC).date()


def when_reviewed(times: Mapping[int, int], item: int) -> str | None:
    """When the shopper reviewed `item`, as a link can tell that review from their others (`times`: their reviewed
    items -> unix time): "July 2016" where no other review of theirs is from that month, "4 July 2016" where none is
    from that day; None where one is, or where `item`'s time is not kept. Only the shopper's own review dates it: a
    date the shopper can check in their account, and no fact of the recommended item."""
    if item not in times:
        return None
    day = review_day(times[item])
    others = [review_day(at) for j, at in times.items() if j != item]
    month = f"{_MONTHS[day.month - 1]} {day.year}"
    if all((d.year, d.month) != (day.year, day.month) for d in others):
        return month
    return f"{day.day} {month}" if day not in others else None


def at_words(when: str) -> str:
    """A date of `when_reviewed` after a verb: "in July 2016", "on 4 July 2016"."""
    return f"on {when}" if when[0].isdigit() else f"in {when}"


def rewrite(sentence: str) -> str:
    """The sentence with hedging openers dropped and "(I) love X" turned to "You'll love X"; first letter upper-case."""
    text = " ".join(sentence.split()).strip(" -*\"'")
    for _ in range(3):
        shorter = _OPENERS.sub("", text)
        if shorter == text:
            break
        text = shorter
    text = _I_LIKE.sub(lambda m: f"You'll {m.group(1).lower()}", text)
    text = re.sub(r"\s*!+$", ".", text)
    if text and text[-1] not in ".!":
        text += "."
    return text[:1].upper() + text[1:]


def voice_faults(text: str) -> tuple[bool, bool]:
    """(speaks in the first person, runs the item down or hedges) for a generated or rewritten sentence."""
    words = {t.lower() for t in _TOKEN.findall(text)}
    return bool(words & _VOICE_LOW), bool(words & _COMPLAINT_LOW)


# A sentence cut off before its word ("The treat is the."): it ends on an article, conjunction, possessive or copula.
# Not prepositions: "a gift to be proud of", "easy to put on" end on one and are whole.
_CUT_OFF = re.compile(r"\b(?:the|a|an|and|or|but|your|their|its|is|are|was|were|than)\s*(?:[.!?]|$)", re.IGNORECASE)
# One word on both sides of "and"/"or": "The delivery is fast and fast."
_DOUBLED = re.compile(r"\b([a-z]+) (?:and|or) \1\b", re.IGNORECASE)
# "both" opening a pair its sentence never finishes: "You'll love both the meal." ("both of them", "them both" are whole)
_HALF_PAIR = re.compile(r"\bboth\s+(?!of\b|and\b)\w+(?![^.!?]*\band\b)", re.IGNORECASE)


# "It's a great article": the item said to be one of its own parts; the noun phrase runs to the first word that ends it
_ITEM_IS_A = re.compile(r"\b(?:it's|it is|this is|this one is)\s+an?\s+([a-z' -]+)", re.IGNORECASE)
_PHRASE_END = re.compile(r"\s(?:for|with|and|or|but|of|to|that|which|in|on|at|from|you|your)\b.*$")


def calls_item_an_aspect(text: str, lexicon: AspectLexicon) -> bool:
    """The text calls the item an aspect ("It's a great article." of a magazine, "It's a great section of the magazine"):
    an aspect is a part of the item or a thing about it, never the item. Read at the phrase's head noun, so "a great
    quality product" is not, nor "a great magazine with …" (praise of the product as such, `empty_praise`'s to judge)."""
    for match in _ITEM_IS_A.finditer(text):
        phrase = _PHRASE_END.sub("", match[1].lower()).split()[:4]
        if phrase and any(singular(phrase[-1]) == f.split()[-1] for f in lexicon.mentions(" ".join(phrase))):
            return True
    return False


def unfinished(text: str) -> bool:
    """A reply no shopper should read as written: a sentence cut off before its last word, a word doubled across
    "and" ("fast and fast"), or a pair opened with "both" and never closed ("You'll love both the meal.")."""
    return bool(_CUT_OFF.search(text) or _DOUBLED.search(text) or _HALF_PAIR.search(text))


def shopper_sentence(
    sentence: str, feature: str, lexicon: AspectLexicon, has: Collection[str], numbers: Collection[str], max_words: int
) -> str | None:
    """`sentence` (a positive review sentence about `feature`) rewritten for the shopper, or None where it cannot be.

    Kept only when the rewrite still names `feature`, names no aspect outside `has`, has no banned
    word (first person, complaint, hedge, purchase story), no number outside `numbers` (the item's
    catalog), and is 4 to `max_words` words long.
    """
    text = rewrite(sentence)
    tokens = _TOKEN.findall(text)
    if not 4 <= len(tokens) <= max_words or {t.lower() for t in tokens} & _BANNED_LOW:
        return None
    if any(n.replace(",", "") not in numbers for n in _NUMBER.findall(text)):
        return None
    named = lexicon.mentions(text)
    if feature not in named or not set(named) <= set(has):
        return None
    return text


def shopper_examples(dataset: Dataset, lexicon: AspectLexicon, rows: np.ndarray | Sequence[int]) -> pd.DataFrame:
    """Training records (as `targets.explanation_examples`) whose explanation is a review sentence rewritten for the shopper.

    Per review, its first positive aspect mention whose sentence survives `shopper_sentence`; the
    item's aspects are those its reviews at `rows` judge plus its catalog's. Reviews with none are dropped.
    """
    import pandas as pd

    from whyrec.explain.targets import EXAMPLE_COLUMNS, catalog_aspects

    frame = dataset.reviews.reset_index(drop=True)
    picked = frame.iloc[list(rows)]
    judged = [extract_aspects(t, lexicon) if isinstance(t, str) else [] for t in picked["text"]]
    has: dict[int, set[str]] = {int(i): set(f) for i, f in catalog_aspects(dataset, lexicon).items()}
    for item, aspects in zip(picked["item"], judged, strict=True):
        has.setdefault(int(item), set()).update(a.feature for a in aspects)
    numbers = _catalog_numbers(dataset)
    records = []
    for (row, review), aspects in zip(picked.iterrows(), judged, strict=True):
        item = int(review["item"])
        for a in aspects:
            if a.sentiment <= 0:
                continue
            text = shopper_sentence(a.sentence, a.feature, lexicon, has[item], numbers.get(item, ()), 25)
            if text is not None:
                records.append((int(row), int(review["user"]), item, float(review["rating"]), text, a.feature, a.opinion, 1))
                break
    out = pd.DataFrame(records, columns=list(EXAMPLE_COLUMNS))
    return out.astype({"row": "int64", "user": "int64", "item": "int64", "rating": "float32", "sentiment": "int8"})


def _catalog_numbers(dataset: Dataset) -> dict[int, set[str]]:
    """Per item, the numbers its catalog text states (commas dropped)."""
    out: dict[int, set[str]] = {}
    for row in dataset.items.itertuples(index=False):
        text = " ".join(str(getattr(row, f, "") or "") for f in ("title", "category", "brand", "description"))
        out[int(row.item)] = {n.replace(",", "") for n in _NUMBER.findall(text)}
    return out
