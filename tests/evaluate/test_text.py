"""Text metrics: PETER's definitions, hand-worked values, reference packages on real XRec explanations."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.translate.bleu_score import corpus_bleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from whyrec.errors import DataError
from whyrec.evaluate.text import (
    bleu,
    detect_features,
    distinct_n,
    feature_coverage_ratio,
    feature_diversity,
    feature_matching_ratio,
    grounding_rate,
    lcs_length,
    rouge,
    text_metrics,
    unique_sentence_ratio,
)
from whyrec.explain.tokens import tokenize

N_REAL = 200


@pytest.fixture(scope="module")
def xrec(datasets_dir):
    """First 200 (generated, reference) explanation pairs of XRec's Amazon test set, tokenised."""
    path = datasets_dir / "xrec" / "amazon" / "tst_pred_ref.jsonl"
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(next(f)) for _ in range(N_REAL)]
    generated = [r["xrec_generated"] for r in rows]
    references = [r["reference"] for r in rows]
    return generated, references, [tokenize(t) for t in generated], [tokenize(t) for t in references]


def sacre(generated, references, order):
    """sacrebleu on our tokens: whitespace tokeniser, no smoothing, `order`-gram BLEU."""
    metric = BLEU(tokenize="none", smooth_method="none", max_ngram_order=order, force=True)
    return metric.corpus_score([" ".join(g) for g in generated], [[" ".join(r) for r in references]]).score


class OurTokenizer:
    """Lets google's rouge_score read text exactly as we do, so only the definitions differ."""

    def tokenize(self, text):
        return tokenize(text)


words = st.sampled_from(["the", "a", "fit", "size", "great", "small", "battery", "price", "is", "good"])
sentences = st.lists(words, max_size=12)


# ---- BLEU -------------------------------------------------------------------------------------
def test_bleu_worked_by_hand():
    gen, ref = [["the", "cat", "sat"]], [["the", "cat", "sat", "down"]]
    # unigram precision 3/3; generated length 3 < reference 4 -> BP = exp(1 - 4/3) = 0.716531
    assert bleu(gen, ref, 1) == pytest.approx(100 * math.exp(-1 / 3))
    assert bleu(gen, ref, 4) == 0.0  # no 4-gram to match
    gen = [["a", "b", "a", "b"], ["c", "d"]]
    ref = [["a", "b", "c"], ["c", "d"]]
    # unigrams: sentence 1 counts a:2 b:2 clipped to a:1 b:1 -> 2 of 4; sentence 2: 2 of 2 -> 4/6
    # bigrams: ab:2 ba:1 vs ab:1 bc:1 -> 1 of 3; cd -> 1 of 1 -> 2/4
    # lengths 6 > 5 -> BP = 1; BLEU-2 = sqrt(4/6 * 2/4) = sqrt(1/3) = 57.735
    assert bleu(gen, ref, 2) == pytest.approx(100 * math.sqrt(1 / 3))


def test_bleu_equals_sacrebleu_on_real_explanations(xrec):
    _, _, gen, ref = xrec
    for order in (1, 4):
        assert bleu(gen, ref, order) == pytest.approx(sacre(gen, ref, order), abs=1e-6)
    assert 30 < bleu(gen, ref, 1) < 60 and 5 < bleu(gen, ref, 4) < 30  # plausible for fluent LLM text


def test_bleu_differs_from_nltk_only_on_short_sentences(xrec):
    """nltk divides each sentence's n-gram count by max(1, count): a 2-token sentence adds a phantom 4-gram."""
    _, _, gen, ref = xrec
    for weights, order in (((1.0,), 1), ((0.25,) * 4, 4)):
        assert bleu(gen, ref, order) == pytest.approx(100 * corpus_bleu([[r] for r in ref], gen, weights), abs=1e-6)
    short_gen, short_ref = [["a", "b"], ["c", "d", "e", "f", "g"]], [["a", "b", "c"], ["c", "d", "e", "f", "g"]]
    ours = bleu(short_gen, short_ref, 4)
    assert ours == pytest.approx(sacre(short_gen, short_ref, 4), abs=1e-6)
    assert ours == pytest.approx(86.6877899750, abs=1e-6)  # PETER/TF-NMT: only the 2nd sentence has 4-grams
    nltk_value = 100 * corpus_bleu([[r] for r in short_ref], short_gen, (0.25,) * 4)
    assert nltk_value == pytest.approx(72.8954518363, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(sentences, sentences), min_size=1, max_size=8), st.sampled_from([1, 2, 4]))
def test_bleu_matches_sacrebleu_and_is_bounded(pairs, order):
    gen, ref = [list(p[0]) for p in pairs], [list(p[1]) for p in pairs]
    value = bleu(gen, ref, order)
    assert 0.0 <= value <= 100.0 + 1e-9
    assert value == pytest.approx(sacre(gen, ref, order), abs=1e-6)
    assert bleu(gen[::-1], ref[::-1], order) == pytest.approx(value)  # corpus statistics ignore order


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(words, min_size=4, max_size=12), min_size=1, max_size=6))
def test_bleu_of_a_perfect_copy_is_100(corpus):
    assert bleu(corpus, corpus, 4) == pytest.approx(100.0)


# ---- ROUGE ------------------------------------------------------------------------------------
def test_rouge_worked_by_hand_and_where_rouge_score_differs():
    gen, ref = "the cat the cat sat", "the cat sat on the mat"
    ours = rouge([tokenize(gen)], [tokenize(ref)])
    # ROUGE-1, sets: {the, cat, sat} vs {the, cat, sat, on, mat}: P = 3/3, R = 3/5, F = 2PR/(P+R) = 0.75
    assert (ours["rouge1_p"], ours["rouge1_r"]) == (pytest.approx(100.0), pytest.approx(60.0))
    assert ours["rouge1_f"] == pytest.approx(75.0, abs=1e-6)
    # ROUGE-2, sets: {the cat, cat the, cat sat} vs {the cat, cat sat, sat on, on the, the mat}:
    # 2 shared -> P = 2/3, R = 2/5, F = (8/15)/(16/15) = 0.5
    assert (ours["rouge2_p"], ours["rouge2_r"]) == (pytest.approx(200 / 3), pytest.approx(40.0))
    assert ours["rouge2_f"] == pytest.approx(50.0, abs=1e-6)
    # ROUGE-L: LCS "the cat sat" = 3 -> P = 3/5, R = 3/6; beta = P/R = 1.2, beta^2 = 1.44
    # F = 2.44 * 0.5 * 0.6 / (0.5 + 1.44 * 0.6) = 0.732 / 1.364 = 0.536657
    assert (ours["rougeL_p"], ours["rougeL_r"]) == (pytest.approx(60.0), pytest.approx(50.0))
    assert ours["rougeL_f"] == pytest.approx(100 * 0.732 / 1.364, abs=1e-6)

    google = rouge_scorer.RougeScorer(["rouge1", "rougeL"], tokenizer=OurTokenizer()).score(ref, gen)
    # rouge_score clips counts: the:2 cat:2 sat:1 vs the:2 cat:1 sat:1 on:1 mat:1 -> 4 shared,
    # P = 4/5, R = 4/6, F1 = 0.727273 (PETER: 1, 0.6, 0.75)
    assert (google["rouge1"].precision, google["rouge1"].recall) == (pytest.approx(0.8), pytest.approx(4 / 6))
    # same LCS P and R; rouge_score's F is F1 = 2 * 0.6 * 0.5 / 1.1 = 0.545455, PETER's 0.536657
    assert google["rougeL"].precision == pytest.approx(ours["rougeL_p"] / 100)
    assert google["rougeL"].recall == pytest.approx(ours["rougeL_r"] / 100)
    assert google["rougeL"].fmeasure == pytest.approx(0.6 / 1.1)


def test_rouge_l_precision_recall_equal_rouge_score_on_real_explanations(xrec):
    generated, references, gen, ref = xrec
    ours = rouge(gen, ref)
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=OurTokenizer())
    scores = [scorer.score(r, g)["rougeL"] for g, r in zip(generated, references, strict=True)]
    assert ours["rougeL_p"] == pytest.approx(100 * np.mean([s.precision for s in scores]), abs=1e-9)
    assert ours["rougeL_r"] == pytest.approx(100 * np.mean([s.recall for s in scores]), abs=1e-9)
    assert all(0.0 < v < 100.0 for v in ours.values())


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.permutations(["w0", "w1", "w2", "w3", "w4", "w5", "w6"]), min_size=2, max_size=2),
    st.integers(1, 7),
    st.integers(1, 7),
)
def test_rouge1_equals_rouge_score_without_repeated_words(perms, len_gen, len_ref):
    """With no word repeated, sets and clipped counts agree, so ROUGE-1 P/R/F match rouge_score."""
    gen, ref = perms[0][:len_gen], perms[1][:len_ref]
    ours = rouge([gen], [ref])
    google = rouge_scorer.RougeScorer(["rouge1"], tokenizer=OurTokenizer()).score(" ".join(ref), " ".join(gen))
    assert ours["rouge1_p"] == pytest.approx(100 * google["rouge1"].precision)
    assert ours["rouge1_r"] == pytest.approx(100 * google["rouge1"].recall)
    assert ours["rouge1_f"] == pytest.approx(100 * google["rouge1"].fmeasure, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(sentences, sentences), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_rouge_bounds_and_pair_order(pairs, rnd):
    gen, ref = [p[0] for p in pairs], [p[1] for p in pairs]
    values = rouge(gen, ref)
    assert all(0.0 <= v <= 100.0 + 1e-9 for v in values.values())
    order = list(range(len(gen)))
    rnd.shuffle(order)
    assert rouge([gen[i] for i in order], [ref[i] for i in order]) == pytest.approx(values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(words, min_size=2, max_size=12), min_size=1, max_size=6))
def test_rouge_of_a_perfect_copy_is_100(corpus):
    values = rouge(corpus, corpus)
    assert values == pytest.approx(dict.fromkeys(values, 100.0), abs=1e-5)


def lcs_table(a, b):
    """Textbook O(len(a) * len(b)) dynamic programme, the reference for the bit-parallel version."""
    row = [0] * (len(b) + 1)
    for x in a:
        prev_diag, row[0] = 0, 0
        for j, y in enumerate(b, start=1):
            prev_diag, row[j] = row[j], prev_diag + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=70), st.lists(st.sampled_from("abcd"), max_size=70))
def test_lcs_bit_parallel_equals_dynamic_programme(a, b):
    assert lcs_length(a, b) == lcs_table(a, b) == lcs_length(b, a)


# ---- USR, distinct-n --------------------------------------------------------------------------
def naive_unique(sentences_):
    """PETER's pairwise check: keep a sentence unless an equal one was kept before. O(n²)."""
    kept = []
    for s in sentences_:
        if not any(list(s) == list(k) for k in kept):
            kept.append(s)
    return len(kept) / len(sentences_), len(kept)


def test_usr_worked_by_hand():
    assert unique_sentence_ratio([["a"], ["b"], ["a"]]) == (2 / 3, 2)
    assert unique_sentence_ratio([["a", "b"]] * 5) == (1 / 5, 1)  # n identical sentences -> 1/n
    assert unique_sentence_ratio([["a", "b"], ["b", "a"], ["a"]]) == (1.0, 3)  # order of words matters


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from("ab"), max_size=3), min_size=1, max_size=30))
def test_usr_equals_peters_pairwise_count(corpus):
    """A 2-letter alphabet and short sentences make duplicates frequent."""
    assert unique_sentence_ratio(corpus) == naive_unique(corpus)


def test_distinct_worked_by_hand():
    corpus = [["a", "b", "a"], ["a", "c"]]
    assert distinct_n(corpus, 1) == 3 / 5  # a b a a c -> {a, b, c}
    assert distinct_n(corpus, 2) == 1.0  # (a b) (b a) (a c); no bigram across sentences
    assert distinct_n([["a"]], 2) == 0.0  # no bigram at all


@settings(max_examples=100, deadline=None)
@given(st.lists(sentences, min_size=1, max_size=10), st.integers(1, 3))
def test_distinct_bounded_and_order_free(corpus, n):
    value = distinct_n(corpus, n)
    assert 0.0 <= value <= 1.0
    assert distinct_n(corpus[::-1], n) == value


# ---- features: FMR, FCR, DIV ------------------------------------------------------------------
VOCAB = ["screen", "Battery Life", "price", "sound"]


def test_feature_metrics_worked_by_hand():
    gen = [tokenize(t) for t in ("Great screen and battery life, fair price", "battery is weak", "the price is right")]
    detected = detect_features(gen, VOCAB)
    # multi-word features match as a contiguous run; "battery" alone is not "battery life"
    assert detected == [{"screen", "battery life", "price"}, set(), {"price"}]
    # FMR: sentence 1 has "screen" (yes), 2 lacks "battery life" (no), 3 has "price" (yes) -> 2/3
    assert feature_matching_ratio(gen, ["screen", "battery life", "Price"]) == pytest.approx(2 / 3)
    # FCR: screen, battery life, price of the 4-feature vocabulary -> 3/4
    assert feature_coverage_ratio(detected, VOCAB) == 0.75
    # DIV: |A∩B| = 0, |A∩C| = |{price}| = 1, |B∩C| = 0 over 3 pairs -> 1/3
    assert feature_diversity(detected) == pytest.approx(1 / 3)
    assert feature_diversity(detected[:1]) == 0.0  # no pairs


def naive_diversity(detected):
    """PETER's pair loop: mean |A ∩ B| over all sentence pairs."""
    pairs = list(combinations(detected, 2))
    return sum(len(a & b) for a, b in pairs) / len(pairs)


feature_sets = st.lists(st.sets(st.sampled_from(["f0", "f1", "f2", "f3", "f4", "f5"])), min_size=2, max_size=25)


@settings(max_examples=100, deadline=None)
@given(feature_sets)
def test_diversity_by_counting_equals_pairwise(detected):
    assert feature_diversity(detected) == pytest.approx(naive_diversity(detected))
    assert 0.0 <= feature_diversity(detected) <= 6  # at most every feature shared by every pair


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(sentences, st.sampled_from(["battery", "price", "size", "fit"])), min_size=1, max_size=10))
def test_fmr_equals_peters_detect_then_check(pairs):
    """PETER: detect vocabulary features, then ask whether the true one is among them."""
    gen, truth = [p[0] for p in pairs], [p[1] for p in pairs]
    detected = detect_features(gen, ["battery", "price", "size", "fit", "great"])
    expected = sum(t in d for t, d in zip(truth, detected, strict=True)) / len(gen)
    assert feature_matching_ratio(gen, truth) == expected
    assert feature_matching_ratio([[t] for t in truth], truth) == 1.0  # each sentence is its feature


@settings(max_examples=100, deadline=None)
@given(st.lists(sentences, min_size=1, max_size=10))
def test_fcr_bounded_and_full_when_every_feature_is_said(corpus):
    vocab = ["battery", "price", "size", "fit"]
    assert 0.0 <= feature_coverage_ratio(detect_features(corpus, vocab), vocab) <= 1.0
    said_all = corpus + [["the", *vocab]]
    assert feature_coverage_ratio(detect_features(said_all, vocab), vocab) == 1.0


def test_grounding_rate_worked_by_hand():
    named = [["screen"], ["Battery Life", "price"], [], ["sound"]]
    item = [{"screen"}, {"battery life"}, {"anything"}, {"screen"}]
    # grounded: 1 yes; 2 no (price not on the item); 3 yes (names nothing); 4 no -> 2/4
    assert grounding_rate(named, item) == 0.5
    with pytest.raises(DataError) as err:
        grounding_rate(named, item[:2])
    assert err.value.field == "item_aspects"


# ---- text_metrics -----------------------------------------------------------------------------
ALL_KEYS = {
    "bleu1",
    "bleu4",
    "rouge1_p",
    "rouge1_r",
    "rouge1_f",
    "rouge2_p",
    "rouge2_r",
    "rouge2_f",
    "rougeL_p",
    "rougeL_r",
    "rougeL_f",
    "usr",
    "fmr",
    "fcr",
    "div",
    "distinct1",
    "distinct2",
}


def test_text_metrics_on_real_explanations(xrec):
    generated, references, gen, ref = xrec
    plain = text_metrics(generated, references)
    assert set(plain) == ALL_KEYS - {"fmr", "fcr", "div"}
    assert plain["bleu4"] == bleu(gen, ref, 4) and plain["rougeL_f"] == rouge(gen, ref)["rougeL_f"]
    assert plain["usr"] == 1.0  # XRec's 200 generations are all different
    assert 0.0 < plain["distinct1"] < plain["distinct2"] < 1.0
    vocab = ["story", "characters", "romance", "plot", "series", "writing", "mystery"]
    truth = ["story"] * N_REAL
    full = text_metrics(generated, references, features_true=truth, feature_vocab=vocab)
    assert set(full) == ALL_KEYS
    detected = detect_features(gen, vocab)
    assert full["fmr"] == sum("story" in d for d in detected) / N_REAL
    assert full["fcr"] == 1.0  # every one of these common aspects appears somewhere in 200 texts
    assert full["div"] == pytest.approx(naive_diversity(detected))
    perfect = text_metrics(references, references)
    assert perfect["bleu1"] == pytest.approx(100.0) and perfect["bleu4"] == pytest.approx(100.0)
    assert perfect["rougeL_f"] == pytest.approx(100.0, abs=1e-5)


def test_text_metrics_rejects_misaligned_input():
    with pytest.raises(DataError) as err:
        text_metrics(["a b"], ["a b", "c"])
    assert err.value.field == "references"
    with pytest.raises(DataError) as err:
        text_metrics(["a b"], ["a b"], features_true=["a", "b"])
    assert err.value.field == "features_true"
    with pytest.raises(DataError) as err:
        text_metrics([], [])
    assert err.value.field == "generated"
    with pytest.raises(DataError, match="no tokens"):
        text_metrics(["a b"], ["a b"], feature_vocab=["battery", " "])
