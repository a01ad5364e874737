"""Score a fitted Reasoner on the test reviews of a reviews split, with the one text-metric code.

References are built as the reasoners' training targets are (`explain.targets`): per test review
that judges an aspect, its most opinionated sentence and that sentence's feature (PETER's
protocol), or the whole review text (`full_text`, for XRec's paragraph-long explanations).
Besides PETER's text metrics: the grounding rate (every aspect a reason names is one the item
has in its training reviews or catalog), the safety-flag rate, reasons per second, and RMSE/MAE
for reasoners with a rating head.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from whyrec.data.schema import Dataset
from whyrec.data.split import Split
from whyrec.errors import ConfigError, DataError
from whyrec.evaluate.rating import mae, rmse
from whyrec.evaluate.text import feature_matching_ratio, grounding_rate, rouge, text_metrics
from whyrec.explain.aspects import AspectLexicon, explanation_targets
from whyrec.explain.base import Reasoner, ReasonRequest
from whyrec.explain.filters import check_safety
from whyrec.explain.targets import explanation_examples, item_aspect_sets
from whyrec.explain.tokens import tokenize

if TYPE_CHECKING:  # annotations only
    import pandas as pd

    from whyrec.artifact import Artifact

# (texts) -> (n, d) unit vectors; whyrec.embeddings.embed_texts fits.
Embedder = Callable[[Sequence[str]], np.ndarray]


def reference_records(dataset: Dataset, split: Split, lexicon: AspectLexicon, full_text: bool = False) -> pd.DataFrame:
    """The frame of test records to explain: row, user, item, rating, explanation (reference), feature (or None)."""
    if full_text:
        reviews = dataset.reviews.iloc[split.test]
        features = explanation_targets(reviews, lexicon)["feature"]
        frame = reviews.assign(row=split.test, explanation=reviews["text"], feature=features.where(features.notna(), None))
        frame = frame[frame["explanation"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
        return frame[["row", "user", "item", "rating", "explanation", "feature"]].reset_index(drop=True)
    return explanation_examples(dataset, lexicon, split.test)


def embedding_similarity(generated: Sequence[str], references: Sequence[str], embed: Embedder) -> float:
    """Mean cosine similarity of each generated text to its reference (unit vectors from `embed`)."""
    return float(np.mean(_cosines(generated, references, embed)))


def _cosines(generated: Sequence[str], references: Sequence[str], embed: Embedder) -> np.ndarray:
    """(n,) cosine similarity of each generated text to its reference (unit vectors from `embed`)."""
    if len(generated) != len(references) or not generated:
        raise DataError(f"{len(generated)} generated texts for {len(references)} references", field="references")
    return np.sum(embed(list(generated)) * embed(list(references)), axis=1)


def score_texts(
    generated: Sequence[str],
    references: Sequence[str],
    features_true: Sequence[str | None],
    lexicon: AspectLexicon,
    embed: Embedder | None = None,
) -> dict[str, float]:
    """PETER's text metrics (FMR over the records that have a true feature) plus embedding similarity."""
    vocab = sorted(lexicon.features)
    out = text_metrics(list(generated), list(references), feature_vocab=vocab or None)
    with_feature = [k for k, f in enumerate(features_true) if f]
    if with_feature:
        out["fmr"] = feature_matching_ratio(
            [tokenize(generated[k]) for k in with_feature], [features_true[k] for k in with_feature]
        )
    if embed is not None:
        out["embedding_sim"] = embedding_similarity(generated, references, embed)
    return out


def record_scores(
    generated: Sequence[str],
    references: Sequence[str],
    features_true: Sequence[str | None],
    embed: Embedder | None = None,
) -> dict[str, list[float]]:
    """Per record, the scores whose means are `score_texts`' ROUGE-L F, FMR (NaN where the record has no true feature)
    and embedding similarity: what a paired test of two systems on the same records compares."""
    gen, ref = [tokenize(t) for t in generated], [tokenize(t) for t in references]
    out = {
        "rougeL_f": [rouge([g], [r])["rougeL_f"] for g, r in zip(gen, ref, strict=True)],
        "fmr": [feature_matching_ratio([g], [f]) if f else float("nan") for g, f in zip(gen, features_true, strict=True)],
    }
    if embed is not None:
        out["embedding_sim"] = [float(x) for x in _cosines(generated, references, embed)]
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = 9999) -> tuple[float, float, int]:
    """Mean of a − b over the pairs where both are numbers, the two-sided p-value of a paired (sign-flip) permutation
    test of it (scipy's), and the number of pairs; (nan, nan, 0) without pairs."""
    from scipy.stats import permutation_test

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if not len(x):
        return float("nan"), float("nan"), 0
    if np.all(x == y):
        return 0.0, 1.0, len(x)
    test = permutation_test(
        (x, y),
        lambda u, v, axis: np.mean(u - v, axis=axis),
        permutation_type="samples",
        n_resamples=resamples,
        vectorized=True,
        random_state=seed,
    )
    return float(np.mean(x - y)), float(test.pvalue), len(x)


def score_generated(
    generated: Sequence[str],
    records: pd.DataFrame,
    dataset: Dataset,
    split: Split,
    lexicon: AspectLexicon,
    embed: Embedder | None = None,
) -> dict[str, Any]:
    """Text metrics of `generated` against `records` (from `reference_records`), plus grounding and safety.

    Grounding checks the aspects each text names (lexicon mentions) against what the item has in the
    split's training reviews or its catalog; safety counts texts with any `check_safety` flag.
    Usable for any generator's texts, e.g. XRec's published outputs.
    """
    out: dict[str, Any] = score_texts(generated, list(records["explanation"]), list(records["feature"]), lexicon, embed)
    have = item_aspect_sets(dataset, lexicon, rows=split.train)
    out["grounding"] = grounding_rate([lexicon.mentions(t) for t in generated], [have[int(i)] for i in records["item"]])
    catalog = dataset.items.drop_duplicates("item").set_index("item")
    flagged = [
        check_safety(t, catalog.loc[int(i)] if int(i) in catalog.index else None)
        for t, i in zip(generated, records["item"], strict=True)
    ]
    out["safety_flag_rate"] = sum(bool(f) for f in flagged) / len(flagged)
    out["n"] = len(generated)
    return out


def evaluate_reasoner(
    reasoner: Reasoner,
    dataset: Dataset,
    split: Split,
    lexicon: AspectLexicon,
    *,
    full_text: bool = False,
    feature_hints: bool = False,
    embed: Embedder | None = None,
    max_records: int | None = None,
    records: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Text metrics, grounding, safety, speed (and RMSE/MAE) of `reasoner` on the split's test reviews.

    `lexicon` defines the features (references, FMR/FCR/DIV, grounding); pass the same one to every
    reasoner compared. `feature_hints` gives each request its true feature (PETER+'s test protocol);
    `max_records` scores only the first records (quick runs); `records` replaces the test records
    built from the split (same columns as `reference_records`), e.g. to score only some of them.
    """
    if split.table != "reviews":
        raise ConfigError(f"explanations are scored on a reviews split, not a {split.table} split")
    if records is None:
        records = reference_records(dataset, split, lexicon, full_text)
    if max_records is not None:
        records = records.iloc[:max_records]
    if records.empty:
        raise DataError("no test review judges an aspect of the lexicon; nothing to score", field="reviews")
    requests = [
        ReasonRequest(int(u), int(i), f if feature_hints and isinstance(f, str) else None)
        for u, i, f in records[["user", "item", "feature"]].itertuples(index=False)
    ]
    started = time.perf_counter()
    reasons = reasoner.generate(requests)
    seconds = time.perf_counter() - started
    out = score_generated([r.text for r in reasons], records, dataset, split, lexicon, embed)
    out["reasons_per_s"] = len(requests) / max(seconds, 1e-9)

    predict = getattr(reasoner, "predict_ratings", None)
    truth = records["rating"].to_numpy(np.float64)
    if callable(predict) and np.isfinite(truth).all():
        pred = predict(records["user"].to_numpy(), records["item"].to_numpy())
        if np.isfinite(pred).all():
            train_ratings = dataset.reviews["rating"].iloc[split.train]
            bounds = {"min_rating": float(train_ratings.min()), "max_rating": float(train_ratings.max())}
            out["rmse"], out["mae"] = rmse(pred, truth, **bounds), mae(pred, truth, **bounds)
    return out


def evaluate_artifact_reasons(artifact: Artifact, dataset: Dataset) -> dict[str, Any]:
    """Text metrics of the artifact's reasoner on the test part of the review split it was fitted on.

    Kept in `artifact.metrics["text"]`; {} besides the split's name when no test review judges an
    aspect (too little text). The lexicon is rebuilt from the training reviews, as in the benchmark.
    """
    from whyrec.artifact import reasons_split

    split = reasons_split(dataset, artifact.config.seed)
    lexicon = AspectLexicon.build(dataset.reviews["text"].iloc[split.train])
    try:
        metrics = evaluate_reasoner(artifact.reasoner, dataset, split, lexicon)
    except DataError:
        metrics = {}
    artifact.metrics["text"] = {"split": "ratio 8:1:1 of reviews", "seed": artifact.config.seed, **metrics}
    return artifact.metrics["text"]
