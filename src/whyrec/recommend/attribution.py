"""Which of a user's history items made the recommender score an item high ("because you bought X").

Weights come from the recommender itself, never from a separate model:
- "exact" (itemknn): a score is a sum of similarities to history items, so each term is that item's share.
- "occlusion": score(history) - score(history without item h), every h re-scored in one batch
  through the model's `score_without_each` (MF re-solves the user's factors, exactly by rank-one
  downdates for ALS; LightGCN re-propagates, SASRec re-reads the shortened sequence, content
  re-averages the profile).
- "lime": a weighted ridge fit of the scores of random sub-histories on which items they kept
  (Ribeiro et al., KDD 2016), for interactions that single deletions miss.
- "attention" (sasrec): attention rollout from the latest position; cheap, the same for every item,
  and not guaranteed to be faithful.
- "none": the scores do not depend on the history (popularity) or the user is unknown.
A model lists what it supports in `attribution_methods`; "auto" takes the first.
`aspect_credit` carries the history items' weights over to the aspects they share with the item.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from whyrec.errors import ConfigError, NotFoundError
from whyrec.recommend.base import Recommender

LIME_SAMPLES = 200  # random sub-histories per user for "lime"
LIME_KEEP = 0.5  # chance a history item stays in a sampled sub-history
LIME_KERNEL_WIDTH = 0.25  # LIME's text kernel (25 on cosine distance x 100)
LIME_RIDGE = 1.0  # LIME's default Ridge alpha


@dataclass(frozen=True)
class Attribution:
    """The history items behind one recommended item: (dense item id, weight), largest weight first."""

    method: str
    history: list[tuple[int, float]]


def attribute(
    recommender: Recommender, user: int, items: Sequence[int], *, top: int = 3, method: str = "auto"
) -> list[Attribution]:
    """For each item, the (at most `top`) history items with the largest positive weight for it.

    Items with no supporting history item (or an unknown user) get an empty history.
    """
    used, history, weights = history_weights(recommender, user, items, method=method)
    out = []
    for row in weights:  # (n_history,) per item
        order = np.lexsort((history, -row))
        kept = [(int(history[j]), float(row[j])) for j in order[:top] if row[j] > 0]
        out.append(Attribution(used, kept))
    return out


def aspect_credit(
    history: Sequence[tuple[Hashable, float]],
    aspects: Mapping[Hashable, Collection[str]],
    item_aspects: Collection[str],
    *,
    top: int = 3,
) -> list[tuple[str, float]]:
    """The item's aspects that credited history items also have, each weighted by the summed credit of those items.

    Pure bookkeeping over the recommender's own weights: it says which shared aspects the credited
    history carries ("you bought two light tents"), not that the model looked at aspects.
    """
    wanted = set(item_aspects)
    credit: dict[str, float] = {}
    for item, weight in history:
        if weight > 0:
            for aspect in wanted.intersection(aspects.get(item, ())):
                credit[aspect] = credit.get(aspect, 0.0) + weight
    return sorted(credit.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def history_weights(
    recommender: Recommender,
    user: int,
    items: Sequence[int],
    *,
    method: str = "auto",
    samples: int = LIME_SAMPLES,
    seed: int = 0,
) -> tuple[str, np.ndarray, np.ndarray]:
    """(method used, (H,) distinct history items ascending, (len(items), H) weights) for every history item.

    Signed: a negative weight means the item's score rises without that history item.
    """
    used = resolve_method(recommender, method)
    targets = np.asarray(items, dtype=np.int64).ravel()
    if len(targets) and (targets.min() < 0 or targets.max() >= recommender.n_items):
        raise NotFoundError(f"items {targets.tolist()} are not all known to recommender '{recommender.name}'")
    known = 0 <= user < recommender.n_users
    sequence = recommender.history(user) if known and used != "none" else np.empty(0, np.int64)
    history = np.unique(sequence)
    if used == "none" or not len(history) or not len(targets):
        return "none" if not len(history) else used, history, np.zeros((len(targets), len(history)), np.float32)
    if used == "exact":
        weights = recommender.contribution_matrix(history, targets)  # type: ignore[attr-defined]
    elif used == "attention":
        position = recommender.attention(sequence)  # type: ignore[attr-defined]  # (len(sequence),)
        per_item = np.bincount(np.searchsorted(history, sequence), weights=position, minlength=len(history))
        weights = np.broadcast_to(per_item, (len(targets), len(history)))
    elif used == "occlusion":
        weights = _occlusion(recommender, user, sequence, targets)
    else:
        weights = _lime(recommender, user, sequence, history, targets, samples, seed)
    return used, history, np.asarray(weights, dtype=np.float32)


def resolve_method(recommender: Recommender, method: str) -> str:
    """The method "auto" stands for with this model, or `method` itself if the model supports it."""
    offered = recommender.attribution_methods
    if method == "auto":
        return offered[0]
    if method not in offered:
        raise ConfigError(
            f"attribution method '{method}' is not available for recommender '{recommender.name}' "
            f"(it offers: auto, {', '.join(offered)})"
        )
    return method


def _without(sequence: np.ndarray, keep: np.ndarray, history: np.ndarray) -> np.ndarray:
    """`sequence` restricted to the history items whose `keep` flag is set, order kept."""
    return sequence[keep[np.searchsorted(history, sequence)]]


def _occlusion(recommender: Recommender, user: int, sequence: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(T, H): full-history score minus the score with every occurrence of history item h removed."""
    scores = recommender.score_without_each(user, sequence, targets)  # (H + 1, T), rows in `history` order
    return (scores[0][None, :] - scores[1:]).T


def _lime(
    recommender: Recommender,
    user: int,
    sequence: np.ndarray,
    history: np.ndarray,
    targets: np.ndarray,
    samples: int,
    seed: int,
) -> np.ndarray:
    """(T, H) coefficients of a kernel-weighted ridge fit of sub-history scores on the kept-item masks."""
    rng = np.random.default_rng([seed, user])
    masks = rng.random((samples, len(history))) < LIME_KEEP  # (S, H)
    masks[0] = True  # the full history anchors the fit, as in LIME
    scores = recommender.score_histories(user, [_without(sequence, m, history) for m in masks], targets)  # (S, T)
    kept = masks.sum(axis=1)
    distance = 1.0 - np.sqrt(kept / len(history))  # cosine distance between a mask and all-ones
    sample_weight = np.sqrt(np.exp(-(distance**2) / LIME_KERNEL_WIDTH**2))  # (S,) LIME's exponential kernel
    design = np.column_stack([masks.astype(np.float64), np.ones(samples)])  # (S, H + 1), intercept last
    weighted = design * sample_weight[:, None]
    penalty = LIME_RIDGE * np.eye(len(history) + 1)
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(design.T @ weighted + penalty, weighted.T @ scores.astype(np.float64))  # (H + 1, T)
    return coef[:-1].T
