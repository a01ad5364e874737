"""Explanation-text metrics with PETER's definitions, so numbers compare with its published tables.

Sources: lileipisces/PETER `utils.py` (bleu_score, rouge_score, unique_sentence_percent,
feature_*), its `bleu.py` (TF-NMT compute_bleu) and `rouge.py` (TF-NMT rouge). Scales: BLEU and ROUGE ×100 as PETER prints them; USR, FMR, FCR and
distinct-n are ratios in [0, 1]; DIV is an average count of shared features (>= 0, lower = more
diverse). Every metric reads text through the one `tokenize` (whyrec.explain.tokens).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from whyrec.errors import DataError
from whyrec.explain.tokens import tokenize

Tokens = Sequence[str]

# PETER's rouge.py guards its F-measures with these; kept so values agree to the last digit.
_EPS_F = 1e-8
_EPS_LCS = 1e-12

_ROUGE_KEYS = tuple(f"rouge{n}_{m}" for n in ("1", "2", "L") for m in ("p", "r", "f"))


def bleu(generated: Sequence[Tokens], references: Sequence[Tokens], max_order: int = 4) -> float:
    """Corpus BLEU-`max_order` ×100, one reference per sentence, no smoothing (PETER's bleu_score).

    Clipped n-gram matches and candidate n-gram counts are summed over the corpus for each order
    1..max_order; BLEU = BP · exp(mean log precision), BP = exp(1 - ref_len/gen_len) when the
    generated corpus is shorter, else 1. Any order without a match gives 0. Computed here from
    tokens because PETER scores its own tokens; sacrebleu (tokenize="none") is the test oracle.
    """
    _check_pairs(generated, references)
    if max_order < 1:
        raise DataError(f"must be >= 1, got {max_order}", field="max_order")
    matches = [0] * max_order
    possible = [0] * max_order
    gen_len = ref_len = 0
    for gen, ref in zip(generated, references, strict=True):
        gen_len += len(gen)
        ref_len += len(ref)
        for n in range(1, max_order + 1):
            overlap = _ngram_counts(gen, n) & _ngram_counts(ref, n)  # counts clipped to the reference's
            matches[n - 1] += sum(overlap.values())
            possible[n - 1] += max(0, len(gen) - n + 1)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / p) for m, p in zip(matches, possible, strict=True)) / max_order
    brevity = 1.0 if gen_len > ref_len else math.exp(1.0 - ref_len / gen_len)
    return 100.0 * brevity * math.exp(log_precision)


def rouge(generated: Sequence[Tokens], references: Sequence[Tokens]) -> dict[str, float]:
    """ROUGE-1/2/L precision, recall and F ×100, averaged over sentence pairs (PETER's rouge_score).

    PETER's definitions, which differ from google's rouge_score package in two ways:
    ROUGE-N counts each distinct n-gram once (sets, not clipped counts), and ROUGE-L's F uses
    beta = P/R, i.e. F = (1 + beta²)·P·R / (R + beta²·P), not F1. ROUGE-L P and R are LCS/len(gen)
    and LCS/len(ref) in both. F-N = 2PR/(P + R + 1e-8). An empty text scores 0.
    """
    _check_pairs(generated, references)
    totals = dict.fromkeys(_ROUGE_KEYS, 0.0)
    for gen, ref in zip(generated, references, strict=True):
        for n in (1, 2):
            gen_set, ref_set = set(_ngrams(gen, n)), set(_ngrams(ref, n))
            common = len(gen_set & ref_set)
            p = common / len(gen_set) if gen_set else 0.0
            r = common / len(ref_set) if ref_set else 0.0
            totals[f"rouge{n}_p"] += p
            totals[f"rouge{n}_r"] += r
            totals[f"rouge{n}_f"] += 2.0 * p * r / (p + r + _EPS_F)
        lcs = lcs_length(gen, ref)
        p = lcs / len(gen) if gen else 0.0
        r = lcs / len(ref) if ref else 0.0
        beta2 = (p / (r + _EPS_LCS)) ** 2
        totals["rougeL_p"] += p
        totals["rougeL_r"] += r
        totals["rougeL_f"] += (1.0 + beta2) * r * p / (r + beta2 * p + _EPS_LCS)
    return {key: 100.0 * value / len(generated) for key, value in totals.items()}


def lcs_length(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence of two token lists.

    Bit-parallel (Allison & Dix 1986; Hyyrö 2004): bit i of `v` is 0 where the LCS row grows at
    a[i]; each token of b costs a few big-int operations instead of a len(a)-long table row.
    """
    if not a or not b:
        return 0
    positions: dict[str, int] = {}
    for i, token in enumerate(a):
        positions[token] = positions.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & positions.get(token, 0)
        v = ((v + u) | (v - u)) & full  # the carry out of bit len(a) - 1 is dropped
    return len(a) - v.bit_count()


def unique_sentence_ratio(generated: Sequence[Tokens]) -> tuple[float, int]:
    """USR and the number of unique sentences (PETER's unique_sentence_percent, O(n) with a set)."""
    if not generated:
        raise DataError("no sentences", field="generated")
    unique = len({tuple(sentence) for sentence in generated})
    return unique / len(generated), unique


def distinct_n(generated: Sequence[Tokens], n: int) -> float:
    """Distinct-n: distinct n-grams / all n-grams over the corpus (n-grams stay within a sentence); 0 if none."""
    if n < 1:
        raise DataError(f"must be >= 1, got {n}", field="n")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for sentence in generated:
        grams = _ngrams(sentence, n)
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def feature_key(feature: str) -> str:
    """A feature or aspect as the metrics compare it: its tokens joined by one space."""
    key = " ".join(tokenize(feature))
    if not key:
        raise DataError(f"feature {feature!r} has no tokens", field="feature")
    return key


def detect_features(generated: Sequence[Tokens], feature_vocab: Iterable[str]) -> list[set[str]]:
    """The vocabulary features each sentence contains (PETER's feature_detect), as feature keys.

    A feature matches where its tokens appear contiguously; for one-word features, as in
    PETER's vocabulary, that is PETER's token-in-set test.
    """
    vocab = {tuple(feature_key(f).split()) for f in feature_vocab}
    lengths = sorted({len(f) for f in vocab})
    found_per_sentence = []
    for sentence in generated:
        found = set()
        for size in lengths:
            for start in range(len(sentence) - size + 1):
                gram = tuple(sentence[start : start + size])
                if gram in vocab:
                    found.add(" ".join(gram))
        found_per_sentence.append(found)
    return found_per_sentence


def feature_matching_ratio(generated: Sequence[Tokens], features_true: Sequence[str]) -> float:
    """FMR: the share of sentences that contain the ground-truth feature of their (user, item) pair.

    PETER detects vocabulary features in each sentence and checks the true one is among them; the
    true feature is always in its vocabulary, so that is the same as checking the sentence contains it.
    """
    _check_pairs(generated, features_true, names=("generated", "features_true"))
    matched = sum(
        _contains(sentence, feature_key(feature).split()) for sentence, feature in zip(generated, features_true, strict=True)
    )
    return matched / len(generated)


def feature_coverage_ratio(detected: Sequence[set[str]], feature_vocab: Iterable[str]) -> float:
    """FCR: distinct vocabulary features found in any sentence / size of the whole feature vocabulary.

    As in PETER, the vocabulary is every feature of the dataset, not only the test pairs' features.
    """
    vocab = {feature_key(f) for f in feature_vocab}
    if not vocab:
        raise DataError("empty feature vocabulary", field="feature_vocab")
    covered = set().union(*detected) & vocab
    return len(covered) / len(vocab)


def feature_diversity(detected: Sequence[set[str]]) -> float:
    """DIV: mean over sentence pairs of the number of features both contain (PETER's feature_diversity).

    Lower is more diverse. Σ_pairs |A ∩ B| = Σ_features C(c_f, 2), with c_f the number of sentences
    containing feature f, so this is O(total features) rather than PETER's O(n²) pair loop.
    With fewer than two sentences there are no pairs and the value is 0.
    """
    n = len(detected)
    pairs = n * (n - 1) // 2
    if pairs == 0:
        return 0.0
    per_feature = Counter(feature for found in detected for feature in found)
    shared = sum(c * (c - 1) // 2 for c in per_feature.values())
    return shared / pairs


def grounding_rate(named_aspects_per_reason: Sequence[Sequence[str]], item_aspects: Sequence[set[str]]) -> float:
    """The share of reasons whose every named aspect is one the item has (compared as feature keys).

    A reason that names no aspect claims nothing about the item, so it counts as grounded.
    """
    _check_pairs(named_aspects_per_reason, item_aspects, names=("named_aspects_per_reason", "item_aspects"))
    grounded = 0
    for named, known in zip(named_aspects_per_reason, item_aspects, strict=True):
        known_keys = {feature_key(a) for a in known}
        grounded += all(feature_key(a) in known_keys for a in named)
    return grounded / len(named_aspects_per_reason)


def text_metrics(
    generated: Sequence[str],
    references: Sequence[str],
    features_true: Sequence[str] | None = None,
    feature_vocab: Iterable[str] | None = None,
) -> dict[str, float]:
    """All text metrics of generated explanations against references, one tokenisation.

    Keys: bleu1, bleu4, rouge{1,2,L}_{p,r,f} (×100); usr, distinct1, distinct2 (0–1); plus fmr
    (0–1) when `features_true` (one per sentence) is given, and fcr (0–1) and div (mean shared
    features per sentence pair) when `feature_vocab` (all features of the dataset) is given.
    """
    _check_pairs(generated, references)
    gen_tokens = [tokenize(t) for t in generated]
    ref_tokens = [tokenize(t) for t in references]
    out = {"bleu1": bleu(gen_tokens, ref_tokens, 1), "bleu4": bleu(gen_tokens, ref_tokens, 4)}
    out.update(rouge(gen_tokens, ref_tokens))
    out["usr"] = unique_sentence_ratio(gen_tokens)[0]
    out["distinct1"] = distinct_n(gen_tokens, 1)
    out["distinct2"] = distinct_n(gen_tokens, 2)
    if features_true is not None:
        out["fmr"] = feature_matching_ratio(gen_tokens, features_true)
    if feature_vocab is not None:
        vocab = list(feature_vocab)
        detected = detect_features(gen_tokens, vocab)
        out["fcr"] = feature_coverage_ratio(detected, vocab)
        out["div"] = feature_diversity(detected)
    return out


def _ngrams(tokens: Tokens, n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _ngram_counts(tokens: Tokens, n: int) -> Counter[tuple[str, ...]]:
    return Counter(_ngrams(tokens, n))


def _contains(tokens: Tokens, phrase: Tokens) -> bool:
    """Whether `phrase` occurs as a contiguous run of `tokens`."""
    size = len(phrase)
    return any(list(tokens[i : i + size]) == list(phrase) for i in range(len(tokens) - size + 1))


def _check_pairs(first: Sequence, second: Sequence, names: tuple[str, str] = ("generated", "references")) -> None:
    """Aligned, non-empty inputs, or a DataError naming the offending argument."""
    if len(first) == 0:
        raise DataError("no sentences to score", field=names[0])
    if len(second) != len(first):
        raise DataError(f"has {len(second)} entries for {len(first)} in {names[0]}", field=names[1])
