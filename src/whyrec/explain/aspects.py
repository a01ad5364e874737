"""Feature–opinion pairs from review text, the job Sentires does for PETER/PEPLER, offline.

Rule-based on purpose: no tagger, parser or model download. Words are sorted into classes
with small hand-written lexicons (`explain/lexicon/`: opinion words with polarity, function
words, frequent verbs, noun seeds, non-features) and word-shape rules; a feature is a run of
noun-like words that an opinion word qualifies through one of five patterns:

  1. predicative   "the zipper is not very sturdy"       <feature> [aux] <copula> ... <opinion>
  2. attributive   "great price", "too strong scent"      <opinion> <feature> [and <feature>]
  3. verb+adverb   "the pump works well"                  <feature> [aux] <verb> <opinion>
  4. opinion verb  "I love the smell"                     <love|like|hate|enjoy...> [det] <feature>
  5. feeling       "disappointed with all the ads"        <happy|disappointed...> <with|by|about|in> <feature>

A corpus-built `AspectLexicon` (features met often enough with an opinion, as Sentires keeps
frequent features) then filters the candidates for precision.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from whyrec.errors import ArtifactError, DataError

if TYPE_CHECKING:  # annotations only: extracting aspects needs no pandas
    import pandas as pd

LEXICON_FORMAT = 1
LEXICON_KIND = "whyrec.aspect_lexicon"  # marks the JSON file as an AspectLexicon
MAX_FEATURE_WORDS = 3  # longer noun runs are misparses far more often than real features
# AspectLexicon.build takes a feature for the product itself when at least PRODUCT_SHARE of its
# mentions after a determiner are after "this/these" (reviewers write "this shampoo", "this magazine",
# but "the scent", "the price"), judged only with PRODUCT_MIN_MENTIONS such mentions or more.
PRODUCT_SHARE = 0.4
PRODUCT_MIN_MENTIONS = 5

# --- sentence splitting -------------------------------------------------------------------

# Abbreviations whose period never ends a sentence, and ones whose period ends it only when
# a capitalised word follows ("... face, hands, etc. It works").
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "approx", "fl"})
_ABBREVIATIONS = frozenset({"etc", "oz", "lb", "lbs", "inc", "ltd", "co", "vol", "pp", "ft", "in", "pcs", "pkg"})
# A run of terminal punctuation (closing quotes/brackets included) before white space or the
# end; or a period glued to a capitalised word, as reviews often type it ("works well.The").
_BOUNDARY = re.compile(r"[.!?…]+[\"')\]]*(?=\s|$)|(?<=[a-z]{2})[.!?]+(?=[A-Z][a-z])|\n")
_WORD_BEFORE = re.compile(r"([A-Za-z]+(?:\.[A-Za-z]+)*)$")


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    """False for the period of an abbreviation or an initial, which does not end a sentence."""
    if match.group() != ".":
        return True
    before = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start())  # a window keeps it linear
    if before is None:
        return True
    word = before.group(1)
    if len(word) == 1 and word.isupper():  # an initial: "J. K. Rowling", "U.S."
        return False
    if "." in word:  # dotted abbreviations: "e.g.", "i.e.", "U.S."
        return False
    key = word.lower()
    if key in _TITLES:
        return False
    if key in _ABBREVIATIONS:
        following = text[match.end() :].lstrip()
        return following[:1].isupper()
    return True


def split_sentences(text: str) -> list[str]:
    """The sentences of a review, each a trimmed slice of `text` (original casing), in order.

    Splits after runs of . ! ? … (so "!!!" and "..." end one sentence), at line breaks and at
    a period glued to the next capitalised word; keeps abbreviations and initials whole.
    Pieces without a letter or digit (a lone "!!!") are dropped.
    """
    sentences = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if not _is_boundary(text, match):
            continue
        _append_piece(text, start, match.end(), sentences)
        start = match.end()
    _append_piece(text, start, len(text), sentences)
    return sentences


def _append_piece(text: str, start: int, end: int, out: list[str]) -> None:
    piece = text[start:end].strip()
    if any(ch.isalnum() for ch in piece):
        out.append(piece)


# --- words and their classes ----------------------------------------------------------------

_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+(?:[.,]\d+)*|[^\w\s]")

_NEGATORS = frozenset({"not", "never", "no", "hardly", "barely", "scarcely", "neither", "nor", "without"})
# Negated auxiliaries typed without the apostrophe ("doesnt"); the copulas among them act as "is not".
_BARE_NEGATIONS = frozenset(
    {"dont", "doesnt", "didnt", "cant", "wont", "couldnt", "wouldnt", "shouldnt", "havent", "hasnt", "hadnt"}
)
_BARE_NEGATED_COPULAS = frozenset({"isnt", "wasnt", "arent", "werent"})
_COPULAS = frozenset(
    {"is", "was", "are", "were", "be", "been", "being", "am", "'s", "'re", "seem", "seems", "seemed",
     "look", "looks", "looked", "feel", "feels", "felt", "smell", "smells", "smelled", "smelt",
     "taste", "tastes", "tasted", "sound", "sounds", "sounded", "appear", "appears", "appeared",
     "remain", "remains", "remained", "stay", "stays", "stayed", "become", "becomes", "became",
     "get", "gets", "got", "turned", "proved"}
)  # fmt: skip
_AUXILIARIES = frozenset(
    {"do", "does", "did", "will", "would", "can", "could", "should", "may", "might", "must",
     "has", "have", "had", "always", "really", "also", "still", "just", "definitely", "certainly"}
)  # fmt: skip
# Words allowed between a copula and its opinion: "is also really very nice".
_MODIFIERS = frozenset(
    {"very", "really", "so", "extremely", "super", "quite", "pretty", "rather", "fairly", "incredibly",
     "absolutely", "totally", "truly", "also", "just", "still", "always", "definitely", "certainly",
     "a", "an", "bit", "little", "somewhat", "all", "even", "more", "most", "less", "least", "simply",
     "especially", "particularly", "surprisingly", "amazingly", "exceptionally", "reasonably",
     "relatively", "generally", "usually", "consistently", "overall", "and", "too", "way", "much",
     "as", "kind", "of", "sort", "enough", "pleasantly", "nicely", "perfectly"}
)  # fmt: skip
_OPINION_VERBS = {
    "love": 1, "loves": 1, "loved": 1, "adore": 1, "adores": 1, "adored": 1, "like": 1, "likes": 1,
    "liked": 1, "enjoy": 1, "enjoys": 1, "enjoyed": 1, "appreciate": 1, "appreciates": 1,
    "appreciated": 1, "hate": -1, "hates": -1, "hated": -1, "dislike": -1, "dislikes": -1,
    "disliked": -1, "detest": -1, "detested": -1,
}  # fmt: skip
# "like" is a verb only after a subject or an adverb ("I like the", "really like the"),
# otherwise mostly a preposition ("smells like the ocean").
_LIKE_SUBJECTS = frozenset(
    {"i", "we", "you", "they", "he", "she", "really", "also", "just", "do", "did", "both", "all",
     "definitely", "still", "absolutely", "always", "truly", "especially", "particularly"}
)  # fmt: skip
# Words that say which thing a noun is ("the", "its", "all"); public for `voice.said_plainly`, which reads a phrase of
# them and an aspect as a subject alone.
DETERMINERS = frozenset({"the", "this", "that", "these", "those", "its", "their", "your", "his", "her", "a", "an", "all"})
_DEMONSTRATIVES = frozenset({"this", "these"})
_ARTICLES = frozenset({"the", "a", "an", "its", "their"})
_PERSONAL = frozenset({"my", "our", "me"})  # the reviewer's own things are not the product's
# Opinion adjectives of feeling that take their object after a preposition: "disappointed with the ads".
_FEELINGS = frozenset(
    {"happy", "pleased", "satisfied", "glad", "impressed", "disappointed", "unhappy", "dissatisfied",
     "thrilled", "delighted", "annoyed", "upset", "frustrated"}
)  # fmt: skip
# "Funny" praises a story and faults what the senses take in: "a funny taste", "funny colors" say "odd".
_ODD_OF_THE_SENSES = frozenset({"funny"})
_SENSES = frozenset(
    {"smell", "scent", "odor", "odour", "fragrance", "taste", "aftertaste", "flavor", "flavour", "color", "colour",
     "texture", "consistency", "feel"}
)  # fmt: skip
# Words between an opinion verb and its object: "love all the", "dislike a lot of", "enjoy every".
_QUANTIFIERS = DETERMINERS | {"every", "each", "some", "any", "many", "most", "lot", "lots", "of", "few", "both"}
_QUOTES = frozenset({'"', "'", "“", "”", "‘", "’"})
# Generic heads after an attribute noun: "good quality product" names the quality.
_GENERIC_HEADS = frozenset({"product", "item", "stuff", "thing", "one", "purchase", "buy", "deal", "choice", "option"})
# Tokens that end the clause a negation or a predicative opinion can reach across.
_CLAUSE_END = frozenset(
    {",", ";", ":", ".", "!", "?", "…", "(", ")", '"', "-", "–", "—", "but", "and", "or", "because",
     "although", "though", "however", "while", "whereas", "so", "for", "to", "with", "on", "in"}
)  # fmt: skip
# Plural-looking words that are singular or have no singular worth returning.
_INVARIANT_PLURALS = frozenset(
    {"news", "series", "species", "lens", "scissors", "tweezers", "pants", "jeans", "shorts",
     "clothes", "suds", "cosmetics", "electronics", "mathematics", "physics", "means", "goods",
     "canvas", "bias", "gas", "yes", "always", "perhaps", "sometimes", "its", "this", "thus", "has",
     "was", "does", "is", "his", "hers", "ours", "yours", "theirs", "less", "unless", "across",
     "eyeglasses", "glasses", "sunglasses", "diabetes", "mascaras"}
)  # fmt: skip
_IRREGULAR_PLURALS = {
    "teeth": "tooth", "feet": "foot", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
    "leaves": "leaf", "knives": "knife", "shelves": "shelf", "lives": "life", "halves": "half",
    "quizzes": "quiz", "indices": "index", "criteria": "criterion",
}  # fmt: skip
_ADJECTIVE_SUFFIXES = ("ous", "ful", "less", "able", "ible")


@dataclass(frozen=True)
class _Words:
    """The shipped word lists, loaded once on first use."""

    opinions: Mapping[str, int]
    adverbs: frozenset[str]  # opinion words that qualify verbs ("works well"), never a following noun
    function_words: frozenset[str]
    verbs: frozenset[str]
    nouns: frozenset[str]
    non_features: frozenset[str]


def _read_words(name: str) -> list[str]:
    text = (files("whyrec.explain") / "lexicon" / name).read_text(encoding="utf-8")
    return [w for line in text.splitlines() if not line.startswith("#") for w in line.split()]


@functools.cache
def _words() -> _Words:
    opinions: dict[str, int] = {}
    adverbs = set()
    text = (files("whyrec.explain") / "lexicon" / "opinions.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, polarity, *kind = line.split("\t")
            opinions[word] = int(polarity)
            if kind == ["adverb"]:
                adverbs.add(word)
    return _Words(
        opinions=opinions,
        adverbs=frozenset(adverbs),
        function_words=frozenset(_read_words("function_words.txt")),
        verbs=frozenset(_read_words("verbs.txt")),
        nouns=frozenset(_read_words("nouns.txt")),
        non_features=frozenset(_read_words("non_features.txt")),
    )


@functools.lru_cache(maxsize=1 << 16)
def _is_nounish(word: str) -> bool:
    """Could `word` (lower-case) be part of a feature noun phrase? Decided by lists and word shape."""
    w = _words()
    if word in w.nouns:
        return True
    if not word[0].isalpha() or len(word) < 2 or "'" in word:
        return False
    if word in w.function_words or word in w.verbs or word in w.opinions or word in _NEGATORS:
        return False
    if word.endswith("n't") or word.endswith("ing") or (word.endswith("ed") and len(word) > 4):
        return False
    if word.endswith("ly") and len(word) > 4:  # adverbs: "quickly", "nicely"
        return False
    return not word.endswith(_ADJECTIVE_SUFFIXES)


# Size words that sit between an opinion and its noun ("a cute little box") but never head or begin a feature
_SIZE_WORDS = frozenset({"little"})


def _is_modifier(word: str) -> bool:
    """A word that can modify a following noun in a run: an -ing word ("cleansing properties", "gardening information"),
    or a size word ("little")."""
    if word in _SIZE_WORDS:
        return True
    w = _words()
    return word.endswith("ing") and word.isalpha() and not (word in w.function_words or word in w.verbs or word in w.opinions)


def _in_run(tokens: list[_Token], i: int, next_in_run: bool) -> bool:
    """Is tokens[i] part of a noun run, given whether the token after it is?"""
    return _is_nounish(tokens[i].low) or (next_in_run and _is_modifier(tokens[i].low))


@functools.cache
def _plurals() -> Mapping[str, str]:
    """The shipped plurals whose suffix-rule singular is wrong ("movies" -> "movie"), written by scripts/plurals.py."""
    text = (files("whyrec.explain") / "lexicon" / "plurals.tsv").read_text(encoding="utf-8")
    return dict(line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))


@functools.lru_cache(maxsize=1 << 16)
def singular(word: str) -> str:
    """A plural noun's singular: the dictionary's where suffix rules err ("movies" -> "movie", "lenses" -> "lens"),
    otherwise by the rules."""
    return _plurals().get(word) or rule_singular(word)


def rule_singular(word: str) -> str:
    """A plural noun's singular by suffix rules ("batteries" -> "battery", "boxes" -> "box") and a few irregulars."""
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if len(word) <= 2 or word in _INVARIANT_PLURALS:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
        return word[:-1]
    return word


def normalize_feature(phrase: str) -> str:
    """Lower-case words joined by one space, the last one singular: "Gift Cards" -> "gift card"."""
    words = [t.lower().replace("’", "'") for t in _TOKEN.findall(phrase) if t[0].isalpha()]
    if not words:
        return ""
    return " ".join([*words[:-1], singular(words[-1])])


def plural_parts(path: str, title: str) -> list[list[str]]:
    """The parts of a category path, in order and as written, whose last word is a plural of the noun `title` ends in:
    the catalog's name for the kind of item it is ("Outdoor > Jackets > Rain" for a "Vale Rain Jacket": [["Jackets"]];
    "Gift Cards" for a "Sears Gift Card"). A part written in the singular ("Rain", "Health") names no countable kind."""
    last = singular(title.split()[-1].lower()) if title.split() else ""
    out = []
    for part in path.split(">"):
        words = part.strip().split()
        head = words[-1].lower() if words else ""
        if head and head != last and singular(head) == last:
            out.append(words)
    return out


def category_heads(path: str) -> set[str]:
    """The head word of each segment of a category path: "Gift Cards > Restaurants" -> {"card", "restaurant"}."""
    return {normalize_feature(part).split(" ")[-1] for part in str(path).split(">")}


def product_type_aspects(paths: Mapping[int, str], have: Mapping[int, Iterable[str]]) -> dict[int, list[str]]:
    """Per item, its aspects that only name the product type: their head word heads a segment of the item's
    category path ("Gift Cards" -> "card") or the first segment of any path in the shop. Never praised as an aspect."""
    heads = {item: category_heads(path) for item, path in paths.items()}
    roots = {w for path in paths.values() for w in category_heads(str(path).split(">")[0])}
    out = {}
    for item, aspects in have.items():
        words = roots | heads.get(item, set())
        product = sorted({f for f in aspects if f.split()[-1] in words})
        if product:
            out[item] = product
    return out


class _Token(NamedTuple):  # a tuple: sentences make many of them
    low: str  # lower-case, curly apostrophe straightened
    capital: bool  # written with a capital first letter


def _tokens(sentence: str) -> list[_Token]:
    """Words, numbers and single punctuation marks of a sentence."""
    return [_Token(w.lower(), w[0].isupper()) for w in _TOKEN.findall(sentence.replace("’", "'"))]


def _names_something(tokens: list[_Token], start: int, end: int) -> bool:
    """Is tokens[start:end] a proper name ("Marie Claire", "Biolage")? Capitalised words inside a
    sentence that is not itself written in capitals or title case ("Great Product, Great Price!")."""
    if start == 0 or not all(t.capital for t in tokens[start:end]):
        return False
    words = [t for t in tokens if t.low[0].isalpha()]
    return sum(t.capital for t in words) <= len(words) / 2


def _negates(word: str) -> bool:
    return word in _NEGATORS or word.endswith("n't") or word in _BARE_NEGATIONS or word in _BARE_NEGATED_COPULAS


def _copula_like(word: str) -> bool:
    """A copula, or its contraction with a pronoun or a negation: "it's", "isn't", "they're"."""
    if word in _COPULAS or word in _BARE_NEGATED_COPULAS:
        return True
    if word.endswith("n't"):
        return word[:-3] in _COPULAS or word == "ain't"
    return word.endswith(("'s", "'re"))


def _auxiliary(word: str) -> bool:
    return word in _AUXILIARIES or word.endswith("n't") or word in _BARE_NEGATIONS


# --- the five patterns ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    start: int  # token index of the feature's first word (for ordering)
    feature: tuple[str, ...]
    opinion: str
    sentiment: int


def _opinion_at(tokens: list[_Token], j: int) -> tuple[str, int] | None:
    """The opinion at token j with its modifiers applied, or None if j holds no judgement.

    "too" makes anything negative, "<descriptive> enough" positive, and a negator within the
    three words before flips the polarity; the opinion text shows them: "not sturdy", "too strong".
    Descriptive words (polarity 0: "strong", "thick") judge only with one of these modifiers.
    """
    words = _words()
    word = tokens[j].low
    polarity = words.opinions.get(word)
    if polarity is None:
        return None
    if word == "pretty" and _grades_next(tokens, j, words.opinions):
        return None  # "pretty good", "pretty darn sturdy", "pretty sure": "pretty" modifies what follows, judges nothing
    opinion = word
    if j + 1 < len(tokens) and tokens[j + 1].low == "enough":
        opinion, polarity = f"{word} enough", 1
    k = j - 1
    while k >= 0 and j - k <= 3 and tokens[k].low in ("much", "way", "a", "bit", "little", "far"):
        k -= 1
    if k >= 0 and tokens[k].low == "too":
        opinion, polarity = f"too {opinion}", -1
        k -= 1
    negator = _negator_before(tokens, k)
    if negator is not None:
        return f"{negator} {opinion}", (-polarity if polarity else -1)
    return (opinion, polarity) if polarity else None


# Words that "pretty" grades as an adverb besides opinions and -ly adverbs: "pretty darn good", "pretty sure".
_GRADED = frozenset({"darn", "damn", "dang", "sure", "certain", "close", "well", "much", "very", "damned", "freaking"})


def _grades_next(tokens: list[_Token], j: int, opinions: Mapping[str, int]) -> bool:
    """Whether the word at j is an adverb grading the next one (an opinion, an -ly adverb, `_GRADED`, an adjective by
    its suffix: "pretty comparable" judges no price)."""
    if j + 1 >= len(tokens):
        return False
    after = tokens[j + 1].low
    shaped = len(after) > 4 and after.endswith(("ly", *_ADJECTIVE_SUFFIXES))
    return after in opinions or after in _GRADED or shaped


def _negator_before(tokens: list[_Token], k: int) -> str | None:
    """The negator among the three tokens ending at k, within the clause ("not", "never", ...)."""
    for t in reversed(tokens[max(0, k - 2) : k + 1]):
        if t.low in _CLAUSE_END or _is_nounish(t.low):
            return None
        if _negates(t.low):
            return t.low if t.low in _NEGATORS - {"no", "without"} else "not"
    return None


def _noun_run_before(tokens: list[_Token], end: int) -> tuple[int, int] | None:
    """Token span [start, end) of the noun run ending at `end`, following "X of the Y" back to X."""
    start = end
    while start > 0 and _in_run(tokens, start - 1, start < end):
        start -= 1
    if start == end:
        return None
    # "the quality of the articles is" -> "quality" names the attribute, "articles" its owner
    before = start - 1
    if before >= 1 and tokens[before].low in DETERMINERS:
        before -= 1
    if before >= 1 and tokens[before].low == "of":
        head = _noun_run_before(tokens, before)
        if head is not None and _feature_words(tokens, *head):
            return head
    return start, end


def _noun_run_after(tokens: list[_Token], start: int) -> tuple[int, int] | None:
    """Token span [start, end) of the noun run starting at `start`, or None if none starts there."""
    end = start
    while end < len(tokens) and _in_run(tokens, end, end + 1 < len(tokens) and _is_nounish(tokens[end + 1].low)):
        end += 1
    return (start, end) if end > start else None


def _feature_words(tokens: list[_Token], start: int, end: int) -> tuple[str, ...]:
    """The feature named by tokens[start:end]: at most MAX_FEATURE_WORDS, generic heads trimmed.

    () when the run is the reviewer's own ("my hair"), a proper name, or headed by a non-feature
    ("this product", "great gift").
    """
    if start > 0 and tokens[start - 1].low in _PERSONAL:
        return ()
    while start < end and tokens[start].low in _SIZE_WORDS:  # "a cute little box" praises the box
        start += 1
    if _names_something(tokens, start, end):
        return ()
    words = [t.low for t in tokens[start:end]]
    # a generic head ends the phrase: "good quality product" -> "quality", "best product Pantene made" -> (); where nouns
    # follow it, the generic word and those before it only modify them: "amazon lightning deal gift cards" -> "gift card"
    generic = next((i for i, w in enumerate(words) if singular(w) in _GENERIC_HEADS), len(words))
    after = start + generic + 1  # a proper name after the generic word is its maker, not what it modifies
    if generic + 1 < len(words) and not _names_something(tokens, after, end):
        words = words[generic + 1 :][-MAX_FEATURE_WORDS:]
    else:
        words = words[:generic][-MAX_FEATURE_WORDS:]
    if not words or not _is_nounish(words[-1]) or singular(words[-1]) in _words().non_features:
        return ()
    return (*words[:-1], singular(words[-1]))


def _candidates(tokens: list[_Token]) -> list[_Candidate]:
    """Every (feature, opinion) the five patterns find in one sentence."""
    words = _words()
    found: list[_Candidate] = []
    for j, token in enumerate(tokens):
        if token.low in words.opinions:
            opinion = _opinion_at(tokens, j)
            if opinion is None:
                continue
            found.extend(_predicative(tokens, j, opinion))
            if token.low in _FEELINGS and j + 1 < len(tokens) and tokens[j + 1].low in ("with", "by", "about", "in"):
                found.extend(_Candidate(a, f, *opinion) for a, f in _objects(tokens, _skip_quantifiers(tokens, j + 2)))
            elif token.low not in words.adverbs:
                found.extend(_Candidate(a, f, *opinion) for a, f in _objects(tokens, _skip_adjectives(tokens, j + 1)))
        elif token.low in _OPINION_VERBS:
            found.extend(_opinion_verb(tokens, j))
    return found


def _skip_quantifiers(tokens: list[_Token], k: int) -> int:
    """Index of the first token from k on past at most four quantifiers/determiners ("all the", "a lot of")."""
    start = k
    while k < len(tokens) and k - start < 4 and tokens[k].low in _QUANTIFIERS:
        k += 1
    return k


def _skip_adjectives(tokens: list[_Token], k: int) -> int:
    """Index of the first token from k on that is not a quote or an adjective: 'nice "clean" scent'."""
    words = _words()
    start = k
    while (
        k < len(tokens)
        and k - start < 3
        and (tokens[k].low in _QUOTES or (tokens[k].low in words.opinions and tokens[k].low not in words.adverbs))
    ):
        k += 1
    return k


def _objects(tokens: list[_Token], k: int) -> list[tuple[int, tuple[str, ...]]]:
    """(start, feature) of the noun run at k, and of a second one joined by "and"/"&" that ends
    the list there ("interesting pictures and ideas", not "great price and Amazon shipped")."""
    span = _noun_run_after(tokens, k)
    if span is None:
        return []
    spans = [span]
    end = span[1]
    if end + 1 < len(tokens) and tokens[end].low in ("and", "&"):
        second = _noun_run_after(tokens, end + 1)
        after = tokens[second[1]].low if second is not None and second[1] < len(tokens) else None
        # the list ends at the sentence, a clause or a preposition; a verb makes the noun its subject
        ends = after is None or after in _CLAUSE_END or (after in _words().function_words and not _copula_like(after))
        if second is not None and ends:
            spans.append(second)
    return [(start, feature) for start, stop in spans if (feature := _feature_words(tokens, start, stop))]


def _predicative(tokens: list[_Token], j: int, opinion: tuple[str, int]) -> list[_Candidate]:
    """Patterns 1 and 3: walk back from the opinion over modifiers to a copula or a verb, then a noun run."""
    k = j - 1
    while k >= 0 and j - k <= 5 and not _copula_like(tokens[k].low) and (
        tokens[k].low in _MODIFIERS or _negates(tokens[k].low) or tokens[k].low in _words().opinions
        or tokens[k].low == ","
    ):  # fmt: skip
        k -= 1
    if k < 0:
        return []
    verb = tokens[k].low
    if not _copula_like(verb):
        # pattern 3 needs a verb, and an opinion that ends its clause ("works well", not "works well with")
        if not (verb in _words().verbs or (verb.endswith("s") and not _is_nounish(verb))):
            return []
        if j + 1 < len(tokens) and tokens[j + 1].low not in _CLAUSE_END:
            return []
    if verb.endswith(("'s", "'re")):  # "it's great", "they're nice": a pronoun subject, no feature
        return []
    k -= 1
    while k >= 0 and _auxiliary(tokens[k].low):
        k -= 1
    span = _noun_run_before(tokens, k + 1)
    if span is None:
        return []
    feature = _feature_words(tokens, *span)
    return [_Candidate(span[0], feature, *opinion)] if feature else []


def _opinion_verb(tokens: list[_Token], j: int) -> list[_Candidate]:
    """Pattern 4: "I love the smell", "didn't like the texture", "enjoy reading all the stories"."""
    word = tokens[j].low
    if word == "like" and j > 0 and not (tokens[j - 1].low in _LIKE_SUBJECTS or _negates(tokens[j - 1].low)):
        return []
    k = j + 1
    # a gerund takes the object: "enjoy reading their stories", "hate paying shipping fees"
    if k + 1 < len(tokens) and tokens[k].low.endswith("ing"):
        if tokens[k + 1].low in _QUANTIFIERS or tokens[k].low not in _words().nouns:
            k += 1
    k = _skip_quantifiers(tokens, k)
    polarity = _OPINION_VERBS[word]
    negator = _negator_before(tokens, j - 1)
    opinion = (f"{negator} {word}", -polarity) if negator is not None else (word, polarity)
    return [_Candidate(start, feature, *opinion) for start, feature in _objects(tokens, k)]


# --- public API -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Aspect:
    """One feature a review sentence judges, with the judging words and their polarity."""

    feature: str  # normalised noun phrase, lower-case, last word singular: "battery life", "zipper"
    opinion: str  # the opinion word/phrase: "excellent", "cheap", "not sturdy"
    sentence: str  # the review sentence carrying it (original casing, trimmed)
    sentiment: int  # +1 / -1


def extract_aspects(text: str, lexicon: AspectLexicon | None = None) -> list[Aspect]:
    """Aspects of a review in reading order, one per feature per sentence (its first opinion).

    Without a lexicon every pattern match counts; with one, only features in it, where a
    longer phrase falls back to its lexicon suffix ("lavender scent" -> "scent").
    """
    aspects: list[Aspect] = []
    for sentence in split_sentences(text):
        seen: set[str] = set()
        for cand in sorted(_candidates(_tokens(sentence)), key=lambda c: c.start):
            feature = " ".join(cand.feature)
            if lexicon is not None:
                feature = lexicon.match(cand.feature)
            if feature and feature not in seen:
                seen.add(feature)
                aspects.append(Aspect(feature, cand.opinion, sentence, _sentiment_of(cand)))
    return aspects


def _sentiment_of(cand: _Candidate) -> int:
    """The candidate's polarity, turned where its opinion means "odd" of a sense's feature ("funny colors": -1)."""
    odd = cand.opinion.split()[-1] in _ODD_OF_THE_SENSES and singular(cand.feature[-1]) in _SENSES
    return -cand.sentiment if odd else cand.sentiment


@dataclass(frozen=True)
class AspectLexicon:
    """The feature vocabulary of a corpus: features judged by an opinion in at least `min_count` reviews (or reviewers)."""

    features: frozenset[str]
    counts: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)  # reviews (reviewers) per feature
    min_count: int = 1
    # what `build` dropped as the product itself ("magazine"): never an aspect, but praise of it is praise of the item
    products: frozenset[str] = field(default_factory=frozenset, compare=False, hash=False)

    _first_words: frozenset[str] = field(init=False, repr=False, compare=False)  # of multi-word features
    _longest: int = field(init=False, repr=False, compare=False)  # words in the longest feature

    def __post_init__(self) -> None:
        features = frozenset(normalize_feature(f) for f in self.features) - {""}
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "_first_words", frozenset(f.split()[0] for f in features if " " in f))
        object.__setattr__(self, "_longest", max((f.count(" ") + 1 for f in features), default=0))

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 3, authors: Iterable[Hashable] | None = None) -> AspectLexicon:
        """Features that an opinion judges (pattern rules, no lexicon) in at least `min_count` reviews, or, given the
        author of each text, in the reviews of at least `min_count` reviewers: one reviewer who pastes a paragraph
        into six reviews ("unless you are getting a decent percentage off") or files an edit beside the original
        ("a natural plateau to the length") is one voice, not an aspect shoppers write about.

        Drops the product itself ("magazine", "shampoo"): reviews name it with "this/these"
        ("I love this shampoo") where they name its attributes with "the/its" ("the scent").
        """
        texts = list(texts)
        who = list(range(len(texts)) if authors is None else authors)  # no authors: every review its own voice
        voices: defaultdict[str, set[Hashable]] = defaultdict(set)
        for text, author in zip(texts, who, strict=True):
            if isinstance(text, str):
                for a in extract_aspects(text):
                    voices[a.feature].add(author)
        texts = [t for t in texts if isinstance(t, str)]
        counts = Counter({f: len(v) for f, v in voices.items()})
        frequent = cls(frozenset(f for f, c in counts.items() if c >= min_count))
        demonstrative: Counter[str] = Counter()  # mentions after "this/these"
        determined: Counter[str] = Counter()  # mentions after any determiner
        for text in texts:
            words = [t.low for t in _tokens(text)]
            for i, feature in frequent._scan(words):
                before = words[i - 1] if i else ""
                if before in _DEMONSTRATIVES or before in _ARTICLES:
                    determined[feature] += 1
                    demonstrative[feature] += before in _DEMONSTRATIVES
        products = frozenset(
            f
            for f in frequent.features
            if determined[f] >= PRODUCT_MIN_MENTIONS and demonstrative[f] / determined[f] >= PRODUCT_SHARE
        )
        kept = {f: counts[f] for f in sorted(frequent.features - products)}
        return cls(frozenset(kept), counts=kept, min_count=min_count, products=products)

    def match(self, words: tuple[str, ...]) -> str:
        """The longest suffix of a feature's words that is in the lexicon, or "" if none is."""
        for i in range(len(words)):
            phrase = " ".join(words[i:])
            if phrase in self.features:
                return phrase
        return ""

    def _scan(self, words: list[str]) -> Iterator[tuple[int, str]]:
        """(index, feature) of each lexicon feature in lower-case `words`, longest match first."""
        i = 0
        while i < len(words):
            if words[i] not in self._first_words and singular(words[i]) not in self.features:
                i += 1  # the common case: no feature starts here
                continue
            for n in range(min(self._longest, len(words) - i), 0, -1):
                phrase = " ".join([*words[i : i + n - 1], singular(words[i + n - 1])])
                if phrase in self.features:
                    yield i, phrase
                    i += n
                    break
            else:
                i += 1

    def mentions(self, text: str) -> list[str]:
        """Lexicon features that occur anywhere in `text` (judged or not), in order of first mention."""
        words = [t.low for t in _tokens(text)]
        return list(dict.fromkeys(feature for _, feature in self._scan(words)))

    def occurrences(self, text: str) -> list[tuple[str, str, bool]]:
        """(feature, its words as written, whether their casing is telling) for each lexicon feature in `text`.

        Casing is telling inside a sentence (not its first word) that is not written in capitals or
        title case: there "Biolage" is a name, where "Price is great" or "GREAT PRICE" says nothing.
        """
        found = []
        for sentence in split_sentences(text):
            written = _TOKEN.findall(sentence.replace("’", "'"))
            tokens = [_Token(w.lower(), w[0].isupper()) for w in written]
            letters = [t for t in tokens if t.low[0].isalpha()]
            plain = sum(t.capital for t in letters) <= len(letters) / 2
            for i, feature in self._scan([t.low for t in tokens]):
                found.append((feature, " ".join(written[i : i + feature.count(" ") + 1]), plain and i > 0))
        return found

    def save(self, path: str | Path) -> Path:
        """Write the lexicon as JSON: format version, min_count, feature -> review count and the products it dropped."""
        p = Path(path)
        counts = {f: int(self.counts.get(f, 0)) for f in sorted(self.features)}
        payload = {"format": LEXICON_FORMAT, "kind": LEXICON_KIND, "min_count": self.min_count, "features": counts,
                   "products": sorted(self.products)}  # fmt: skip
        p.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> AspectLexicon:
        p = Path(path)
        try:
            payload = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ArtifactError(f"{p}: aspect lexicon not found") from exc
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{p}: aspect lexicon is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("kind") != LEXICON_KIND:
            raise ArtifactError(f"{p}: not an aspect lexicon")
        if payload.get("format") != LEXICON_FORMAT:
            raise ArtifactError(f"{p}: aspect lexicon format {payload.get('format')} != {LEXICON_FORMAT}")
        features = payload.get("features")
        if not isinstance(features, dict) or not all(isinstance(c, int) for c in features.values()):
            raise ArtifactError(f"{p}: field 'features' must map feature -> review count")
        products = payload.get("products", [])  # lexicons saved before products were kept have none
        if not isinstance(products, list) or not all(isinstance(f, str) for f in products):
            raise ArtifactError(f"{p}: field 'products' must list words")
        return cls(frozenset(features), counts=features, min_count=int(payload.get("min_count", 1)), products=frozenset(products))


def explanation_targets(reviews: pd.DataFrame, lexicon: AspectLexicon) -> pd.DataFrame:
    """Per review row (index kept): the explanation sentence and its feature, opinion, sentiment.

    As PETER/PEPLER's Sentires targets: the sentence is the review's most opinionated one (most
    aspects; the earliest on ties), the feature its first aspect. Reviews with no aspect get
    None / <NA>; the caller decides whether to drop them.
    """
    import pandas as pd

    if "text" not in reviews.columns:
        raise DataError("reviews frame has no text column", field="text")
    rows = []
    for text in reviews["text"]:
        aspects = extract_aspects(text, lexicon) if isinstance(text, str) else []
        if not aspects:
            rows.append((None, None, None, pd.NA))
            continue
        per_sentence = Counter(a.sentence for a in aspects)  # insertion order = reading order
        best = max(per_sentence, key=per_sentence.__getitem__)
        first = next(a for a in aspects if a.sentence == best)
        rows.append((first.sentence, first.feature, first.opinion, first.sentiment))
    out = pd.DataFrame(rows, index=reviews.index, columns=["sentence", "feature", "opinion", "sentiment"])
    out["sentiment"] = out["sentiment"].astype("Int8")
    return out


def _same_feature(a: str, b: str) -> bool:
    """Equal, or one ends with the other as whole words ("scent" ~ "lemon scent")."""
    return a == b or a.endswith(" " + b) or b.endswith(" " + a)


def aspect_scores(gold: Sequence[Sequence[tuple[str, int]]], predicted: Sequence[Sequence[tuple[str, int]]]) -> dict[str, float]:
    """Feature precision/recall/F1 and sentiment accuracy of predicted vs gold (feature, sentiment) per sentence.

    Within a sentence each gold feature matches at most one predicted one: equal first, then
    by head ("scent" ~ "lemon scent", the lenient score); `strict_*` count equal features only.
    Sentiment accuracy is over the lenient matches. Ratios with a zero denominator are 0.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    n_gold = sum(len(g) for g in gold)
    n_pred = sum(len(p) for p in predicted)
    strict = lenient = same_sentiment = 0
    for gold_aspects, pred_aspects in zip(gold, predicted, strict=True):
        free = list(range(len(pred_aspects)))  # predicted aspects not matched yet
        matched: set[int] = set()  # gold aspects matched
        for exact in (True, False):
            for gi, (gold_feature, gold_sentiment) in enumerate(gold_aspects):
                if gi in matched:
                    continue
                for pi in free:
                    feature, sentiment = pred_aspects[pi]
                    if feature == gold_feature if exact else _same_feature(feature, gold_feature):
                        free.remove(pi)
                        matched.add(gi)
                        lenient += 1
                        strict += exact
                        same_sentiment += sentiment == gold_sentiment
                        break

    def ratio(a: int, b: int) -> float:
        return a / b if b else 0.0

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    p, r = ratio(lenient, n_pred), ratio(lenient, n_gold)
    sp, sr = ratio(strict, n_pred), ratio(strict, n_gold)
    return {
        "precision": p, "recall": r, "f1": f1(p, r),
        "strict_precision": sp, "strict_recall": sr, "strict_f1": f1(sp, sr),
        "sentiment_accuracy": ratio(same_sentiment, lenient),
        "n_gold": n_gold, "n_predicted": n_pred, "n_matched": lenient,
    }  # fmt: skip
