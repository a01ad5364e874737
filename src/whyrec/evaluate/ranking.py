"""Top-k ranking metrics over full rankings (seen items already excluded by the caller).

Definitions (binary relevance; ranks are 1-based in the formulas):
- HR@k       1 if any relevant item is in the top k, else 0.
- Recall@k   |top-k ∩ relevant| / |relevant|.
- MRR@k      1 / rank of the first relevant item in the top k; 0 if none is there.
- NDCG@k     DCG@k / IDCG@k with DCG@k = Σ over relevant items at rank r ≤ k of 1/log2(r + 1)
             and IDCG@k = Σ_{r=1}^{min(|relevant|, k)} 1/log2(r + 1) (all relevant items on top).
- Coverage@k |items in anyone's top k| / n_items (catalog coverage).
Per-user values are averaged over users. Item ids are dense ints; -1 in a ranked list is
padding (a list shorter than k) and is never relevant. One held-out item's full-ranking position and
the metrics of such ranks are in `whyrec.recommend.ranks`, which training's early stopping shares.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from whyrec.errors import DataError
from whyrec.recommend.ranks import check_k

Items = Sequence[int] | np.ndarray


def hit_rate(ranked: Items, relevant: Collection[int], k: int) -> float:
    """HR@k of one ranked list: 1.0 if a relevant item is among the first k, else 0.0."""
    hits, _ = _one_user(ranked, relevant, k)
    return float(_hr(hits, k)[0])


def recall(ranked: Items, relevant: Collection[int], k: int) -> float:
    """Recall@k of one ranked list: the share of the relevant items found in the first k."""
    hits, n_rel = _one_user(ranked, relevant, k)
    return float(_recall(hits, n_rel, k)[0])


def mrr(ranked: Items, relevant: Collection[int], k: int) -> float:
    """MRR@k of one ranked list: 1 / (1-based) rank of the first relevant item in the first k, 0 if none."""
    hits, _ = _one_user(ranked, relevant, k)
    return float(_mrr(hits, k)[0])


def ndcg(ranked: Items, relevant: Collection[int], k: int) -> float:
    """NDCG@k of one ranked list, binary relevance, IDCG from min(|relevant|, k) items (module docstring)."""
    hits, n_rel = _one_user(ranked, relevant, k)
    return float(_ndcg(hits, n_rel, k)[0])


def coverage(all_ranked_lists: Sequence[Items] | np.ndarray, n_items: int, k: int) -> float:
    """Catalog coverage@k: the share of the n_items catalog that appears in at least one top-k list."""
    check_k(k)
    if n_items < 1:
        raise DataError(f"n_items must be >= 1, got {n_items}", field="n_items")
    shown: set[int] = set()
    for row, ranked in enumerate(all_ranked_lists):
        top = _as_items(ranked, n_items, row)[:k]
        shown.update(int(i) for i in top[top >= 0])
    return len(shown) / n_items


def ranking_metrics(
    ranked: np.ndarray,
    relevant: Sequence[Items] | np.ndarray,
    ks: Sequence[int] = (5, 10),
    *,
    n_items: int,
) -> dict[str, float]:
    """HR, NDCG, Recall, MRR and Coverage at each k, averaged over users.

    `ranked` is (U, K) item ids, best first, -1 padded; K must be >= max(ks). `relevant` is
    either a (U,) int array (one held-out item per user, leave-one-out) or a list of U arrays
    of held-out items. Keys: "hr@k", "ndcg@k", "recall@k", "mrr@k", "coverage@k".
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or not np.issubdtype(ranked.dtype, np.integer) or ranked.shape[0] == 0:
        raise DataError(f"must be a non-empty 2-D int array (users, K), got shape {ranked.shape} {ranked.dtype}", field="ranked")
    ks = [check_k(k) for k in ks]
    if not ks:
        raise DataError("no cut-offs given", field="ks")
    if ranked.shape[1] < max(ks):
        raise DataError(f"has {ranked.shape[1]} columns, too few for @{max(ks)}", field="ranked")
    if n_items < 1:
        raise DataError(f"n_items must be >= 1, got {n_items}", field="n_items")
    hits, n_rel = _hit_matrix(ranked, relevant, n_items)  # (U, K) bool, (U,) int
    out: dict[str, float] = {}
    for k in ks:
        top = ranked[:, :k]
        out[f"hr@{k}"] = float(_hr(hits, k).mean())
        out[f"ndcg@{k}"] = float(_ndcg(hits, n_rel, k).mean())
        out[f"recall@{k}"] = float(_recall(hits, n_rel, k).mean())
        out[f"mrr@{k}"] = float(_mrr(hits, k).mean())
        out[f"coverage@{k}"] = np.unique(top[top >= 0]).size / n_items
    return out


# ---- the arithmetic, shared by the one-user and batch forms; hits is (U, K) bool ----------------
def _discounts(k: int) -> np.ndarray:
    """1/log2(r + 1) for 1-based ranks r = 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _hr(hits: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].any(axis=1).astype(np.float64)


def _recall(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / n_rel


def _mrr(hits: np.ndarray, k: int) -> np.ndarray:
    top = hits[:, :k]
    first = top.argmax(axis=1)  # position of the first hit; 0 also when there is none, masked below
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def _ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    top = hits[:, :k]
    disc = _discounts(k)
    dcg = top @ disc  # (U, k) @ (k,) -> (U,)
    idcg = np.cumsum(disc)[np.minimum(n_rel, k) - 1]
    return dcg / idcg


# ---- input checks and the hit matrix ---------------------------------------------------------
def _as_items(ranked: Items, n_items: int | None, row: int) -> np.ndarray:
    """One ranked list as a 1-D int array, checked for range and duplicates."""
    arr = np.asarray(ranked)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"ranked list {row} (0-based) must be 1-D ints", field="ranked")
    if arr.min() < -1 or (n_items is not None and arr.max() >= n_items):
        raise DataError(f"ranked list {row} (0-based) has item ids outside [-1, {n_items})", field="ranked")
    items = arr[arr >= 0]
    if np.unique(items).size != items.size:
        raise DataError(f"ranked list {row} (0-based) repeats an item", field="ranked")
    return arr


def _one_user(ranked: Items, relevant: Collection[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(1, k) hit row and (1,) relevant count for the single-user functions."""
    check_k(k)
    top = _as_items(ranked, None, 0)[:k]
    rel = np.unique(np.asarray(list(relevant), dtype=np.int64))
    if rel.size == 0:
        raise DataError("no relevant items: the metric is undefined", field="relevant")
    hits = np.zeros((1, k), dtype=bool)
    hits[0, : top.size] = (top >= 0) & np.isin(top, rel)
    return hits, np.array([rel.size])


def _hit_matrix(ranked: np.ndarray, relevant: Sequence[Items] | np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(U, K) bool hits and (U,) distinct relevant counts, from (user, item) pairs encoded as one int."""
    n_users = ranked.shape[0]
    if ranked.size and (ranked.min() < -1 or ranked.max() >= n_items):
        raise DataError(f"item ids must lie in [-1, {n_items})", field="ranked")
    ordered = np.sort(ranked, axis=1)
    dup_rows = np.flatnonzero(((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any(axis=1))
    if dup_rows.size:
        raise DataError(f"row {dup_rows[0]} (0-based) repeats an item", field="ranked")
    if isinstance(relevant, np.ndarray) and relevant.ndim == 1 and np.issubdtype(relevant.dtype, np.integer):
        rel_users, rel_items = np.arange(relevant.size), relevant.astype(np.int64)
    else:
        lists = [np.asarray(r, dtype=np.int64).ravel() for r in relevant]
        rel_users = np.repeat(np.arange(len(lists)), [len(r) for r in lists])
        rel_items = np.concatenate(lists) if lists else np.empty(0, np.int64)
    if len(relevant) != n_users:
        raise DataError(f"has {len(relevant)} entries for {n_users} ranked rows", field="relevant")
    if rel_items.size and (rel_items.min() < 0 or rel_items.max() >= n_items):
        raise DataError(f"item ids must lie in [0, {n_items})", field="relevant")
    codes = np.unique(rel_users * n_items + rel_items)  # distinct (user, item) pairs
    n_rel = np.bincount(codes // n_items, minlength=n_users)
    empty = np.flatnonzero(n_rel == 0)
    if empty.size:
        raise DataError(f"row {empty[0]} (0-based) has no relevant items: the metric is undefined", field="relevant")
    ranked_codes = np.arange(n_users, dtype=np.int64)[:, None] * n_items + ranked  # (U, K)
    hits = (ranked >= 0) & np.isin(ranked_codes, codes)
    return hits, n_rel
