"""Evaluate stage: metrics as pure functions over arrays and token lists (ranking, rating, text)."""

from whyrec.evaluate.ranking import (
    coverage,
    hit_rate,
    mrr,
    ndcg,
    ranking_metrics,
    recall,
)
from whyrec.evaluate.rating import mae, rmse
from whyrec.evaluate.text import (
    bleu,
    detect_features,
    distinct_n,
    feature_coverage_ratio,
    feature_diversity,
    feature_key,
    feature_matching_ratio,
    grounding_rate,
    rouge,
    text_metrics,
    unique_sentence_ratio,
)

__all__ = [
    "bleu",
    "coverage",
    "detect_features",
    "distinct_n",
    "feature_coverage_ratio",
    "feature_diversity",
    "feature_key",
    "feature_matching_ratio",
    "grounding_rate",
    "hit_rate",
    "mae",
    "mrr",
    "ndcg",
    "ranking_metrics",
    "recall",
    "rmse",
    "rouge",
    "text_metrics",
    "unique_sentence_ratio",
]
