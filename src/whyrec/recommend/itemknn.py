"""Item-based k-nearest neighbours: an item scores by its similarity to what the user already has.

Similarity is cosine between items' binary user columns, shrunk towards zero when few users
back it (Koren's shrinkage): sim(i, j) = |U_i & U_j| / (sqrt(|U_i| |U_j|) + shrink).
Written with scipy.sparse rather than implicit's CosineRecommender, which has no shrinkage.
A score is a plain sum of similarities, so each history item's contribution is exact (`contributions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import NonNegativeFloat, PositiveInt

from whyrec.recommend.base import ArraySpec, Recommender, RecommenderConfig, TrainData, histories_matrix


class ItemKNNConfig(RecommenderConfig):
    """Neighbourhood size and shrinkage of the item-item similarity."""

    k: PositiveInt = 100  # neighbours kept per history item (the k most similar items)
    shrink: NonNegativeFloat = 10.0  # added to the cosine denominator; damps similarities backed by few users


def item_similarity(seen: sp.csr_matrix, k: int, shrink: float) -> sp.csr_matrix:
    """(n_items, n_items) shrunk cosine, zero diagonal, each row pruned to its k largest entries."""
    x = seen.tocsc().astype(np.float32)
    co = (x.T @ x).tocsr()  # (n_items, n_items) co-occurrence counts
    co = co - sp.diags(co.diagonal(), format="csr")  # an item is not its own neighbour
    co.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())  # sqrt(|U_i|)
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    co.data = co.data / (norms[rows] * norms[co.indices] + shrink)
    return _top_k_per_row(co, k)


def _top_k_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest values of each row (ties broken by lower column index)."""
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    # Sort all entries by (row, -value, column); the first k of each row are kept.
    order = np.lexsort((m.indices, -m.data, rows))
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    pruned = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    pruned.sort_indices()
    return pruned


class ItemKNN(Recommender):
    """score(u, j) = sum over u's seen items i of sim(i, j), reading `self.seen` so observe() needs no hook."""

    name = "itemknn"
    config_class = ItemKNNConfig
    config: ItemKNNConfig
    attribution_methods = ("exact", "occlusion", "lime")
    state_arrays: ClassVar[dict[str, ArraySpec]] = {
        "sim_data": ArraySpec(("nnz",)),
        "sim_indices": ArraySpec(("nnz",), "i", 0, "items"),
        "sim_indptr": ArraySpec((None,), "i", 0, None),
    }

    def _fit(self, data: TrainData) -> None:
        self.similarity = item_similarity(data.seen, self.config.k, self.config.shrink)

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        sim = self.similarity if item_ids is None else self.similarity[:, np.asarray(item_ids)]
        return np.asarray((self.seen[np.asarray(user_ids)] @ sim).todense(), dtype=np.float32)  # (B, n_items)

    def score_histories(self, user: int, histories: Sequence[np.ndarray], item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        sim = self.similarity if item_ids is None else self.similarity[:, np.asarray(item_ids)]
        return np.asarray((histories_matrix(histories, self.n_items) @ sim).todense(), dtype=np.float32)  # (H, I)

    def contribution_matrix(self, history: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """(len(item_ids), len(history)) similarities: entry (j, h) is history item h's exact share of item j's score."""
        self._require_fitted()
        return np.asarray(self.similarity[np.asarray(history)][:, np.asarray(item_ids)].todense(), dtype=np.float32).T

    def contributions(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's history items that support `item` and their similarity (= share of the score), largest first."""
        self._require_fitted()
        history = self.seen[user].indices
        sims = np.asarray(self.similarity[history, item].todense(), dtype=np.float32).ravel()
        nonzero = sims > 0
        history, sims = history[nonzero], sims[nonzero]
        order = np.lexsort((history, -sims))
        return history[order].astype(np.int64), sims[order]

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"sim_data": s.data, "sim_indices": s.indices, "sim_indptr": s.indptr}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        n, indptr = self.n_items, state["sim_indptr"]
        if len(indptr) != n + 1 or indptr[0] != 0 or indptr[-1] != len(state["sim_indices"]) or (np.diff(indptr) < 0).any():
            raise ValueError(f"'sim_indptr' does not index 'sim_indices' over {n} items")
        self.similarity = sp.csr_matrix((state["sim_data"], state["sim_indices"], state["sim_indptr"]), shape=(n, n))
