"""Where a held-out item ranks among all candidates, and HR/NDCG/MRR@k of those ranks.

Pure functions over arrays, shared by early stopping during training (`whyrec.recommend.validation`)
and the offline evaluation, so both measure a model the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from whyrec.errors import DataError

if TYPE_CHECKING:
    import scipy.sparse as sp


def check_k(k: int) -> int:
    """A ranking cut-off as an int >= 1; anything else is a DataError."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise DataError(f"cut-off must be an int >= 1, got {k!r}", field="k")
    return int(k)


def rank_of_target(
    scores: np.ndarray,
    target: np.ndarray,
    exclude_mask: np.ndarray | sp.spmatrix | sp.sparray | None = None,
) -> np.ndarray:
    """0-based full-ranking position of each user's held-out item (leave-one-out).

    rank[u] = number of other candidate items (not excluded, not the target) whose score is
    >= the target's. Ties count against the target (pessimistic), so a model that scores
    everything equal gets the worst rank, n_candidates - 1, never a perfect one.
    `scores` is (U, I); `target` is (U,); `exclude_mask` is a dense bool or sparse (U, I)
    matrix of items to leave out (e.g. seen items); the target itself must not be excluded.
    NaN scores are rejected: they compare false both ways and would let a broken model win.
    """
    import scipy.sparse as sp  # only for the sparse mask case; keeps this module numpy-only at import

    scores = np.asarray(scores)
    target = np.asarray(target)
    if scores.ndim != 2:
        raise DataError(f"must be 2-D (users, items), got {scores.ndim}-D", field="scores")
    n_users, n_items = scores.shape
    if target.shape != (n_users,) or not np.issubdtype(target.dtype, np.integer):
        raise DataError(f"must be ints of shape ({n_users},), got {target.dtype} {target.shape}", field="target")
    if n_users and (target.min() < 0 or target.max() >= n_items):
        raise DataError(f"item ids must lie in [0, {n_items})", field="target")
    nan_rows = np.flatnonzero(np.isnan(scores).any(axis=1))
    if nan_rows.size:
        raise DataError(f"NaN scores in row {nan_rows[0]} (0-based)", field="scores")
    rows = np.arange(n_users)
    beats = scores >= scores[rows, target][:, None]  # (U, I): candidates ranked at or above the target
    beats[rows, target] = False
    if exclude_mask is not None:
        if exclude_mask.shape != scores.shape:
            raise DataError(f"shape {exclude_mask.shape} != scores shape {scores.shape}", field="exclude_mask")
        if sp.issparse(exclude_mask):
            excluded_target = np.asarray(exclude_mask[rows, target]).ravel() != 0
            ex_rows, ex_cols = exclude_mask.nonzero()
            beats[ex_rows, ex_cols] = False
        else:
            mask = np.asarray(exclude_mask, dtype=bool)
            excluded_target = mask[rows, target]
            beats &= ~mask
        if excluded_target.any():
            row = np.flatnonzero(excluded_target)[0]
            raise DataError(f"row {row} (0-based) excludes its own target", field="exclude_mask")
    return beats.sum(axis=1)


def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """HR@k, NDCG@k and MRR@k from 0-based ranks of one held-out item per user (see rank_of_target).

    With a single relevant item: HR = Recall, NDCG = 1/log2(rank + 2), MRR = 1/(rank + 1), each 0
    when rank >= k. Coverage needs the lists themselves, so it is not here.
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0 or not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 0:
        raise DataError("must be a non-empty 1-D array of non-negative ints", field="ranks")
    out: dict[str, float] = {}
    for k in (check_k(k) for k in ks):
        inside = ranks < k
        out[f"hr@{k}"] = float(inside.mean())
        out[f"ndcg@{k}"] = float(np.where(inside, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
        out[f"mrr@{k}"] = float(np.where(inside, 1.0 / (ranks + 1.0), 0.0).mean())
    return out
