"""Popularity: every user gets the items most users interacted with (the baseline and the fallback)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import PositiveFloat

from whyrec.recommend.base import ArraySpec, Recommender, RecommenderConfig, TrainData

_SECONDS_PER_DAY = 86_400.0


class PopularityConfig(RecommenderConfig):
    """Popularity counts, optionally decayed so that recent interest outweighs old."""

    half_life_days: PositiveFloat | None = (
        None  # None: plain counts; else a pair's weight halves every this many days before the last training event
    )


class Popularity(Recommender):
    """Scores an item by how many distinct users interacted with it in training, the same for everyone."""

    name = "pop"
    config_class = PopularityConfig
    config: PopularityConfig
    state_arrays: ClassVar[dict[str, ArraySpec]] = {"item_scores": ArraySpec(("items",))}

    def _fit(self, data: TrainData) -> None:
        # One vote per (user, item) pair, dated by its latest event, so repeat views don't inflate counts.
        pairs = data.train.groupby(["user", "item"], sort=False)["timestamp"].max().reset_index()
        weights = np.ones(len(pairs), dtype=np.float64)
        if self.config.half_life_days is not None and len(pairs):
            age_days = (pairs["timestamp"].max() - pairs["timestamp"].to_numpy()) / _SECONDS_PER_DAY
            weights = 0.5 ** (age_days / self.config.half_life_days)
        counts = np.bincount(pairs["item"].to_numpy(), weights=weights, minlength=data.dataset.n_items)
        self.item_scores = counts.astype(np.float32)

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        row = self.item_scores if item_ids is None else self.item_scores[np.asarray(item_ids)]
        return np.broadcast_to(row, (len(user_ids), len(row))).copy()

    def score_histories(self, user: int, histories: Sequence[np.ndarray], item_ids: np.ndarray | None = None) -> np.ndarray:
        """The same scores whatever the history: popularity ignores it."""
        return self.score(np.zeros(len(histories), dtype=np.int64), item_ids)

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_scores = state["item_scores"]
