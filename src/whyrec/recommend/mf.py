"""Matrix factorisation for implicit feedback: ALS (Hu, Koren, Volinsky 2008) or BPR (Rendle et al. 2009).

Both are trained by the `implicit` library on the binary user x item matrix; scores are dot
products of user and item factors. New events are folded in without retraining: ALS re-solves
the user's least-squares problem (implicit's `recalculate_user`); BPR has no fold-in in implicit,
so its user vectors take a few BPR gradient steps with the item factors frozen (`_bpr_fold_in`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from scipy.special import expit

from whyrec.recommend.base import ArraySpec, Recommender, RecommenderConfig, TrainData, histories_matrix
from whyrec.recommend.validation import validation_ndcg


class MFConfig(RecommenderConfig):
    """Which factorisation and its hyper-parameters (names as in implicit)."""

    algorithm: Literal["als", "bpr"] = "als"
    factors: PositiveInt = 64  # latent dimensions
    regularization: NonNegativeFloat | None = None  # L2 weight on the factors; None: 10.0 for ALS, 0.01 for BPR
    alpha: PositiveFloat = 10.0  # ALS only: confidence of an observed pair is 1 + alpha
    learning_rate: PositiveFloat = 0.05  # BPR only: SGD step size
    iterations: PositiveInt = 15  # ALS sweeps or BPR epochs
    num_threads: NonNegativeInt = 0  # 0 = all cores; BPR is only reproducible with 1 (its threads race)
    fold_in_epochs: PositiveInt = 30  # BPR only: gradient steps per user when observe() folds in new events


VAL_PROBE_USERS = 1000  # validation rows scored per iteration for the progress display


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """implicit parallelises over users itself; a multi-threaded BLAS under it oversubscribes the cores."""
    import implicit.cpu  # noqa: F401 - loads implicit's BLAS first, so that the limit reaches it
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        yield


class MatrixFactorization(Recommender):
    """implicit's ALS or BPR behind the Recommender interface; factors are saved as plain arrays."""

    name = "mf"
    config_class = MFConfig
    config: MFConfig
    attribution_methods = ("occlusion", "lime")
    state_arrays: ClassVar[dict[str, ArraySpec]] = {
        "user_factors": ArraySpec(("users", "factors")),
        "item_factors": ArraySpec(("items", "factors")),
    }

    def _fit(self, data: TrainData) -> None:
        # Progress (only when someone listens): the loss or BPR's training AUC, and the validation
        # NDCG@10 of the factors so far on up to VAL_PROBE_USERS validation rows.
        probe = data.valid.head(VAL_PROBE_USERS)
        with _single_threaded_blas():
            model = self._implicit_model()

            def callback(iteration: int, _elapsed: float, *stats: float) -> None:
                # implicit calls back with (loss,) for ALS and (correct, skipped) sample counts for BPR.
                if self.on_epoch is None:
                    return
                if self.config.algorithm == "als":
                    metrics = {"loss": float(stats[0])}
                else:
                    correct, skipped = stats
                    metrics = {"train_auc": correct / max(data.seen.nnz - skipped, 1)}
                if not probe.empty:
                    self.user_factors, self.item_factors = model.user_factors, model.item_factors
                    metrics["val_ndcg@10"] = validation_ndcg(self, probe, k=10)
                self.on_epoch(iteration + 1, self.config.iterations, metrics)

            model.fit(data.seen.astype(np.float32), show_progress=False, callback=callback)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self._item_gram = None

    @property
    def regularization(self) -> float:
        """The L2 weight in use. The defaults differ because implicit's ALS sums the penalty once per
        user solve while BPR applies it at every SGD step."""
        if self.config.regularization is not None:
            return self.config.regularization
        return 10.0 if self.config.algorithm == "als" else 0.01

    def _implicit_model(self) -> Any:
        """A fresh implicit model for this config (implicit's CPU classes share no public base type)."""
        c = self.config
        if c.algorithm == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            return AlternatingLeastSquares(
                factors=c.factors,
                regularization=self.regularization,
                alpha=c.alpha,
                iterations=c.iterations,
                num_threads=c.num_threads,
                random_state=c.seed,
                calculate_training_loss=self.on_epoch is not None,
            )
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=c.factors,
            learning_rate=c.learning_rate,
            regularization=self.regularization,
            iterations=c.iterations,
            num_threads=c.num_threads,
            random_state=c.seed,
        )

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        items = self.item_factors if item_ids is None else self.item_factors[np.asarray(item_ids)]
        return self.user_factors[np.asarray(user_ids)] @ items.T  # (B, F) @ (F, I) -> (B, I)

    def score_histories(self, user: int, histories: Sequence[np.ndarray], item_ids: np.ndarray | None = None) -> np.ndarray:
        """Scores of the user's factors folded in from each history, as `observe` would fold them in."""
        self._require_fitted()
        start = np.repeat(self.user_factors[[user]], len(histories), axis=0)  # BPR's fold-in starts from the user's vector
        factors = self._fold_in(start, histories_matrix(histories, self.n_items))  # (H, F)
        items = self.item_factors if item_ids is None else self.item_factors[np.asarray(item_ids)]
        return (factors @ items.T).astype(np.float32)  # (H, F) @ (F, I) -> (H, I)

    def score_without_each(self, user: int, history: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        """ALS: the user's factors from `history`, then without each item, by Sherman-Morrison downdates.

        implicit solves (YtY + reg I + (a - 1) sum_h y_h y_h') x = a sum_h y_h for binary histories
        (a = alpha); removing item h is a rank-one change of that system, so all H occluded solutions
        cost O(H F^2) instead of H fresh solves of O(H F^2) each. BPR re-scores each history.
        """
        if self.config.algorithm != "als":
            return super().score_without_each(user, history, item_ids)
        self._require_fitted()
        a = self.config.alpha
        y = self.item_factors[np.unique(history)].astype(np.float64)  # (H, F)
        system = self._gram() + self.regularization * np.eye(y.shape[1]) + (a - 1) * y.T @ y  # (F, F)
        full = np.linalg.solve(system, a * y.sum(axis=0))  # (F,)
        inv_y = np.linalg.solve(system, y.T)  # (F, H): A^-1 y_h
        s = np.einsum("fh,hf->h", inv_y, y)  # (H,) y_h' A^-1 y_h
        without = full[:, None] - a * inv_y + (a - 1) * inv_y * ((y @ full - a * s) / (1 - (a - 1) * s))[None, :]  # (F, H)
        items = self.item_factors if item_ids is None else self.item_factors[np.asarray(item_ids)]
        return (np.column_stack([full, without]).T @ items.T.astype(np.float64)).astype(np.float32)  # (1 + H, I)

    def _gram(self) -> np.ndarray:
        """Y'Y of the item factors (F, F), float64; kept until the item factors change (fit, load)."""
        if getattr(self, "_item_gram", None) is None:
            y = self.item_factors.astype(np.float64)
            self._item_gram = y.T @ y
        return self._item_gram

    def _observe(self, events: pd.DataFrame) -> None:
        users = np.unique(events["user"].to_numpy())
        self.user_factors[users] = self._fold_in(self.user_factors[users], self.seen[users])

    def _fold_in(self, user_factors: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """(U, F) factors for (U, n_items) histories: ALS re-solves them exactly; BPR steps from `user_factors`."""
        if self.config.algorithm == "als":
            with _single_threaded_blas():
                model = self._implicit_model()
                model.user_factors, model.item_factors = self.user_factors, self.item_factors
                return model.recalculate_user(np.arange(history.shape[0]), history)  # ids only count the rows
        return _bpr_fold_in(
            user_factors,
            self.item_factors,
            history,
            self.config.learning_rate,
            self.regularization,
            self.config.fold_in_epochs,
            np.random.default_rng(self.config.seed),
        )

    def _add_users(self, n: int) -> None:
        new = np.zeros((n, self.user_factors.shape[1]), dtype=np.float32)
        if self.config.algorithm == "bpr":
            new[:, -1] = 1.0  # implicit's BPR keeps the item bias as the last factor, with the user's coordinate 1
        self.user_factors = np.vstack([self.user_factors, new])

    def _forget_users(self, users: np.ndarray) -> None:
        self.user_factors[users] = 0.0
        if self.config.algorithm == "bpr":
            self.user_factors[users, -1] = 1.0

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors = state["user_factors"].astype(np.float32)
        self.item_factors = state["item_factors"].astype(np.float32)
        self._item_gram = None


def _bpr_fold_in(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    history: sp.csr_matrix,
    learning_rate: float,
    regularization: float,
    epochs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """BPR updates of some users' vectors against frozen item factors, one sampled negative per positive.

    implicit has no BPR fold-in, hence these few lines. Its BPR keeps the item bias as the last
    factor column with the user's last coordinate fixed at 1, so that coordinate is not updated.
    """
    u = user_factors.copy()  # (U, F + 1)
    coo = history.tocoo()
    rows, pos = coo.row, coo.col  # one (user row, positive item) pair per history entry
    n_items = item_factors.shape[0]
    owned = np.sort(rows.astype(np.int64) * n_items + pos)  # (user row, item) pairs as sorted keys
    for _ in range(epochs):
        neg = rng.integers(0, n_items, size=len(pos))
        keys = rows.astype(np.int64) * n_items + neg
        found = np.searchsorted(owned, keys)
        valid = owned[np.minimum(found, len(owned) - 1)] != keys  # a sampled "negative" the user has is skipped
        diff = item_factors[pos[valid]] - item_factors[neg[valid]]  # (P, F + 1)
        x = np.einsum("pf,pf->p", u[rows[valid]], diff)
        weight = expit(-x)  # sigmoid(-x): how wrong the pair's order still is
        # One step per user per epoch that sums the per-pair SGD updates implicit's BPR would make
        # (same learning rate and L2 per pair); summing, not averaging, keeps its step size.
        per_user = sp.csr_matrix((weight, (rows[valid], np.arange(len(weight)))), shape=(len(u), len(weight)))
        grad = per_user @ diff  # (U, P) @ (P, F + 1): each user's weighted pair differences summed
        pairs = np.bincount(rows[valid], minlength=len(u))[:, None]  # (U, 1) pairs per user this epoch
        u += learning_rate * (grad - regularization * pairs * u)
        u[:, -1] = 1.0
    return u
