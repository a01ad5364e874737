"""LightGCN (He et al., SIGIR 2020): user and item embeddings smoothed over the interaction graph.

Ego embeddings are propagated K times over the symmetrically normalised user-item bipartite
adjacency, A_hat = D^-1/2 A D^-1/2 (torch.sparse.mm), and the K + 1 layers are averaged; a
user-item score is the dot product of the averaged embeddings. Trained with BPR on
(user, item, uniform negative) triples, with L2 on the batch's ego embeddings as in the paper.

Fold-in (`observe`): a user's averaged embedding is exactly
    e_u = (e_u^(0) + sum_{i in N(u)} S_i / sqrt(d_u d_i)) / (K + 1),  S_i = sum_{k<K} e_i^(k),
so it is recomputed from the user's current items with the item-side layers frozen at their
trained values (d_i stays the training degree). With no new items this reproduces the trained
embedding; the approximation is only that items' own embeddings do not move.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from whyrec.recommend.base import ArraySpec, TrainData, histories_matrix
from whyrec.recommend.training import TorchRecommender, TrainConfig, owned_keys, sample_negatives

if TYPE_CHECKING:
    import torch


class LightGCNConfig(TrainConfig):
    """LightGCN's size, depth and regularisation; training settings come from TrainConfig."""

    dim: PositiveInt = 64  # embedding size
    layers: NonNegativeInt = 3  # propagation steps K (0 = plain matrix factorisation with BPR)
    l2: NonNegativeFloat = 1e-4  # weight of the L2 penalty on the batch's ego embeddings
    init_std: PositiveFloat = 0.1  # std of the normal initialisation of ego embeddings (the paper's)
    batch_size: PositiveInt = 2048  # (user, item, negative) triples per step
    # Above the paper's 1e-3, which needs far more epochs than a CPU run affords to converge.
    lr: PositiveFloat = 5e-3


def normalized_adjacency(seen: sp.csr_matrix) -> sp.csr_matrix:
    """(U + I, U + I) D^-1/2 A D^-1/2 of the bipartite graph of `seen` (users first, then items).

    A node without edges (a user or item with no training events) gets an all-zero row.
    """
    r = (seen > 0).astype(np.float64)
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float64)  # (U + I, U + I)
    degree = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)
    scale = sp.diags(inv_sqrt)
    return (scale @ adj @ scale).tocsr().astype(np.float32)


def propagate(adj: torch.Tensor, ego: torch.Tensor, layers: int) -> torch.Tensor:
    """(K + 1, N, D) layer embeddings e^(0..K): e^(k+1) = A_hat e^(k), from (N, D) ego embeddings.

    `adj` must be symmetric (as A_hat is), sparse CSR or COO.
    """
    import torch

    spmm = _symmetric_spmm()
    out = [ego]
    for _ in range(layers):
        out.append(spmm.apply(adj, out[-1]))  # (N, N) sparse @ (N, D)
    return torch.stack(out)


@cache
def _symmetric_spmm() -> type:
    """An autograd op for A @ X with A symmetric: its gradient is A @ G again.

    torch's own sparse.mm backward transposes A on every call (a sort of all edges), the bulk of
    a LightGCN step; symmetry makes that transpose free.
    Built on first use so that importing this module needs no torch.
    """
    import torch

    class SymmetricSpMM(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            ctx.adj = adj
            return torch.sparse.mm(adj, x)

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
            return None, torch.sparse.mm(ctx.adj, grad)

    return SymmetricSpMM


def _to_torch(matrix: sp.csr_matrix) -> torch.Tensor:
    """A scipy CSR matrix as a torch sparse CSR tensor (the fastest layout for torch.sparse.mm on CPU)."""
    import torch

    with warnings.catch_warnings():  # torch warns that sparse CSR is "beta"; sparse.mm on it is long stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data),
            matrix.shape,
            check_invariants=True,
        )


class LightGCN(TorchRecommender):
    """Graph-smoothed embeddings trained with BPR; scores = averaged user . averaged item embeddings."""

    name = "lightgcn"
    config_class = LightGCNConfig
    config: LightGCNConfig
    _training_only = ("_adj", "_pairs", "_owned")
    attribution_methods = ("occlusion", "lime")
    state_arrays: ClassVar[dict[str, ArraySpec]] = {
        "user_ego": ArraySpec(("users", "dim")),
        "user_vectors": ArraySpec(("users", "dim")),
        "item_vectors": ArraySpec(("items", "dim")),
        "item_partial": ArraySpec(("items", "dim")),
    }

    def _build(self, data: TrainData) -> torch.nn.Module:
        import torch
        from torch import nn

        c = self.config
        self._adj = _to_torch(normalized_adjacency(data.seen))
        pairs = data.seen.tocoo()
        self._pairs = np.stack([pairs.row, pairs.col], axis=1).astype(np.int64)  # (P, 2) distinct (user, item)
        self._owned = owned_keys(data.seen)
        self.net = nn.ModuleDict({"user_emb": nn.Embedding(self.n_users, c.dim), "item_emb": nn.Embedding(self.n_items, c.dim)})
        for param in self.net.parameters():
            torch.nn.init.normal_(param, std=c.init_std)
        return self.net

    def _ego(self) -> torch.Tensor:
        """(U + I, D) ego embeddings, users first."""
        import torch

        return torch.cat([self.net["user_emb"].weight, self.net["item_emb"].weight])

    # ---- training hooks ---------------------------------------------------------------------------
    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """(B, 3) user, positive item, negative item triples: every training pair once per epoch."""
        order = rng.permutation(len(self._pairs))
        for start in range(0, len(order), self.config.batch_size):
            pairs = self._pairs[order[start : start + self.config.batch_size]]
            neg = sample_negatives(rng, pairs[:, 0], self.n_items, self._owned)
            yield np.column_stack([pairs, neg])

    def loss(self, batch: np.ndarray) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        users, pos, neg = (torch.from_numpy(batch[:, j]) for j in range(3))
        final = propagate(self._adj, self._ego(), self.config.layers).mean(dim=0)  # (U + I, D)
        u = final[users]  # (B, D)
        p, n = final[self.n_users + pos], final[self.n_users + neg]  # (B, D) each
        bpr = F.softplus(-((u * p).sum(-1) - (u * n).sum(-1))).mean()  # -log sigmoid(s_pos - s_neg)
        ego_u, ego_i = self.net["user_emb"].weight, self.net["item_emb"].weight
        reg = (ego_u[users].square().sum() + ego_i[pos].square().sum() + ego_i[neg].square().sum()) / 2
        return bpr + self.config.l2 * reg / len(batch)

    def refresh(self) -> None:
        """Cache the propagated embeddings (and the sums fold-in needs) as float32 arrays for `score`."""
        layers = propagate(self._adj, self._ego(), self.config.layers)  # (K + 1, U + I, D)
        final = layers.mean(dim=0).numpy()
        self.user_ego = self.net["user_emb"].weight.detach().numpy().copy()
        self.user_vectors = final[: self.n_users].copy()
        self.item_vectors = final[self.n_users :].copy()
        # S_i = e_i^(0) + ... + e_i^(K-1): what an item passes to a neighbouring user over K layers
        self.item_partial = layers[:-1, self.n_users :].sum(dim=0).numpy().copy()

    # ---- scoring ------------------------------------------------------------------------------
    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        items = self.item_vectors if item_ids is None else self.item_vectors[np.asarray(item_ids)]
        return self.user_vectors[np.asarray(user_ids)] @ items.T  # (B, D) @ (D, I) -> (B, I)

    def score_histories(self, user: int, histories: Sequence[np.ndarray], item_ids: np.ndarray | None = None) -> np.ndarray:
        """Scores of the user's ego embedding propagated over each history (the exact fold-in `observe` uses)."""
        self._require_fitted()
        ego = np.repeat(self.user_ego[[user]], len(histories), axis=0)  # (H, D)
        vectors = fold_in(ego, histories_matrix(histories, self.n_items), self.item_partial, self.popularity, self.config.layers)
        items = self.item_vectors if item_ids is None else self.item_vectors[np.asarray(item_ids)]
        return vectors @ items.T  # (H, D) @ (D, I) -> (H, I)

    def _observe(self, events: pd.DataFrame) -> None:
        users = np.unique(events["user"].to_numpy())
        self.user_vectors[users] = fold_in(
            self.user_ego[users], self.seen[users], self.item_partial, self.popularity, self.config.layers
        )

    def _add_users(self, n: int) -> None:
        # A new user starts from a zero ego embedding; fold-in then places them by their items alone.
        self.user_ego = np.vstack([self.user_ego, np.zeros((n, self.user_ego.shape[1]), dtype=np.float32)])
        self.user_vectors = np.vstack([self.user_vectors, np.zeros((n, self.user_vectors.shape[1]), dtype=np.float32)])

    def _forget_users(self, users: np.ndarray) -> None:
        self.user_ego[users] = 0.0
        self.user_vectors[users] = 0.0

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "user_ego": self.user_ego,
            "user_vectors": self.user_vectors,
            "item_vectors": self.item_vectors,
            "item_partial": self.item_partial,
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        for key in ("user_ego", "user_vectors", "item_vectors", "item_partial"):
            setattr(self, key, state[key].astype(np.float32))


def fold_in(
    user_ego: np.ndarray, history: sp.csr_matrix, item_partial: np.ndarray, item_degree: np.ndarray, layers: int
) -> np.ndarray:
    """(U, D) averaged LightGCN embeddings of users with these ego embeddings and (U, I) histories.

    Items with no training degree pass nothing (in training they had no edges to propagate over).
    """
    if layers == 0:
        return user_ego.astype(np.float32).copy()
    inv_item = np.zeros(len(item_degree), dtype=np.float64)
    np.divide(1.0, np.sqrt(item_degree), out=inv_item, where=item_degree > 0)
    h = (history > 0).astype(np.float64)
    user_degree = np.asarray(h.sum(axis=1)).ravel()
    inv_user = np.zeros_like(user_degree)
    np.divide(1.0, np.sqrt(user_degree), out=inv_user, where=user_degree > 0)
    neighbours = sp.diags(inv_user) @ h @ sp.diags(inv_item) @ item_partial  # (U, I) @ (I, D) -> (U, D)
    return ((user_ego + neighbours) / (layers + 1)).astype(np.float32)
