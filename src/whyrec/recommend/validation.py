"""Where each user's held-out item ranks under full ranking, as `Recommender.recommend` would show it.

History is excluded (except the held-out items themselves) and items with no training events are
scored -inf unless the model can score cold items. Early stopping uses `validation_ndcg` during
training; the offline evaluation protocol builds on the same functions, so both rank alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from whyrec.errors import ConfigError
from whyrec.recommend.base import Recommender, top_k
from whyrec.recommend.ranks import metrics_from_ranks, rank_of_target

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_BATCH = 512  # users scored at once: bounds memory at batch x n_items floats


def validation_ndcg(model: Recommender, valid: pd.DataFrame, k: int = 10, batch: int = DEFAULT_BATCH) -> float:
    """NDCG@k of each user's validation item ranked against all items outside their training history.

    For early stopping inside `_fit`: `model.seen` holds the training history then, and the model
    must be able to score mid-training. `valid` has one row per user (columns user, item).
    """
    if valid.empty:
        raise ConfigError("validation_ndcg needs at least one validation row")
    ranks, _ = full_ranks(model, valid[["user", "item"]], k, batch)
    return metrics_from_ranks(ranks, (k,))[f"ndcg@{k}"]


def full_ranks(model: Recommender, targets: pd.DataFrame, k: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """0-based rank of each row's item among all non-history items, and each user's top-k list."""
    users, items = targets["user"].to_numpy(), targets["item"].to_numpy()
    ranks = np.empty(len(users), dtype=np.int64)
    lists = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), batch):
        sl = slice(start, start + batch)
        scores, history = masked_scores(model, users[sl], [np.array([i]) for i in items[sl]])
        ranks[sl] = rank_of_target(scores, items[sl], exclude_mask=history)
        lists[sl] = top_outside(scores, history, k)
    return ranks, lists


def masked_scores(model: Recommender, users: np.ndarray, keep: list[np.ndarray]) -> tuple[np.ndarray, sp.csr_matrix]:
    """Scores with cold items at -inf, and the history to exclude (each user's `keep` items left in)."""
    scores = np.asarray(model.score(users), dtype=np.float32).copy()  # (B, n_items)
    if not model.scores_cold_items:
        scores[:, model.popularity == 0] = -np.inf
    history = model.seen[users].tocsr().astype(np.int8)
    rows = np.repeat(np.arange(len(users)), [len(k) for k in keep])
    kept = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, np.concatenate(keep))), shape=history.shape)
    return scores, ((history - kept) > 0).tocsr()  # history minus the kept targets


def top_outside(scores: np.ndarray, history: sp.csr_matrix, k: int) -> np.ndarray:
    """(B, k) best items per row outside `history`, best first, ties by lower id; -1 pads rows with too few."""
    scores = scores.copy()
    hist = history.tocoo()
    scores[hist.row, hist.col] = -np.inf
    out = np.full((len(scores), k), -1, dtype=np.int64)
    for row, items in enumerate(top_k(scores, k)[0]):
        out[row, : len(items)] = items
    return out
