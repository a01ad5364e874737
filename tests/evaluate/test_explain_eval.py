"""Per-record explanation scores and the paired test that compares two systems on the same records."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whyrec.evaluate.explain_eval import paired_difference, record_scores, score_texts
from whyrec.explain.aspects import AspectLexicon

words = st.sampled_from(["the", "battery", "lasts", "price", "is", "great", "small", "fit", "good", "case"])
sentences = st.lists(words, min_size=1, max_size=10).map(" ".join)
LEXICON = AspectLexicon.build(
    ["The battery is great.", "Great battery life.", "The price is good.", "Good price for it.", "The case is small."] * 3
)


def hashed(texts):
    """Unit vectors from each text's words (a stand-in for MiniLM that needs no model): equal texts, equal vectors."""
    out = np.zeros((len(texts), 16))
    for k, text in enumerate(texts):
        for word in text.lower().split():
            out[k, int(hashlib.sha1(word.encode()).hexdigest(), 16) % 16] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(sentences, sentences, st.sampled_from([None, "battery", "price"])), min_size=1, max_size=8))
def test_record_scores_average_to_the_corpus_scores(records):
    """ROUGE-L F, FMR (over records with a true feature) and embedding similarity are means of the per-record scores."""
    generated, references, features = (list(x) for x in zip(*records, strict=True))
    corpus = score_texts(generated, references, features, LEXICON, hashed)
    per = record_scores(generated, references, features, hashed)
    assert len(per["rougeL_f"]) == len(generated)
    assert math.isclose(np.mean(per["rougeL_f"]), corpus["rougeL_f"], abs_tol=1e-9)
    assert math.isclose(np.mean(per["embedding_sim"]), corpus["embedding_sim"], abs_tol=1e-9)
    if any(features):
        assert math.isclose(np.nanmean(per["fmr"]), corpus["fmr"], abs_tol=1e-12)
    assert all(math.isnan(x) for x, f in zip(per["fmr"], features, strict=True) if f is None)


@pytest.fixture(scope="module")
def xrec(datasets_dir):
    """XRec's first 200 Amazon test records: its generated explanation and the reference."""
    with (datasets_dir / "xrec" / "amazon" / "tst_pred_ref.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(next(f)) for _ in range(200)]
    return [r["xrec_generated"] for r in rows], [r["reference"] for r in rows]


def test_the_paired_test_tells_a_real_gap_from_noise(xrec):
    """XRec's outputs against the references themselves: ROUGE-L far apart, p tiny; against themselves: no difference;
    against a shuffle of the same outputs the mean differences cancel in sign (swapping the systems) and p is the same."""
    generated, references = xrec
    features = [None] * len(generated)
    ours = record_scores(generated, references, features)["rougeL_f"]
    perfect = record_scores(references, references, features)["rougeL_f"]
    gap, p, n = paired_difference(ours, perfect)
    assert n == 200 and gap < -40 and p < 0.001
    assert paired_difference(ours, ours) == (0.0, 1.0, 200)
    shuffled = np.random.default_rng(0).permutation(ours)
    there, p_there, _ = paired_difference(ours, shuffled)
    back, p_back, _ = paired_difference(shuffled, ours)
    assert math.isclose(there, -back, abs_tol=1e-9) and math.isclose(p_there, p_back) and p_there > 0.05


def test_pairs_with_a_missing_score_are_left_out():
    """FMR is NaN where a record has no true feature: those pairs are not counted; without any pair, NaN."""
    diff, p, n = paired_difference([1.0, float("nan"), 1.0, 0.0], [0.0, 1.0, float("nan"), 0.0])
    assert (diff, n) == (0.5, 2) and 0 < p <= 1
    assert all(math.isnan(x) for x in paired_difference([float("nan")], [1.0])[:2])
